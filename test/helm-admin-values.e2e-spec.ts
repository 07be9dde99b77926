/*
 * The chart values administrators of well-kept charts expect (SPEC section 5): the
 * NetworkPolicy, extraEnv, extraVolumes and extraVolumeMounts, priorityClassName,
 * topologySpreadConstraints, commonLabels, revisionHistoryLimit, image.digest and
 * serviceAccount.automount. Each renders as the chart README says, each malformed value is
 * refused with a message naming it, and, against the test control plane, the API server
 * accepts the objects (no policy-enforcing network plugin runs there: the NetworkPolicy's
 * traffic itself is not tested).
 *
 *   npx jest --config test/jest-e2e.config.js test/helm-admin-values.e2e-spec.ts
 */
import type { V1NetworkPolicy, V1NetworkPolicySpec, V1Pod, V1Volume } from '@kubernetes/client-node';
import { ApiException, AppsV1Api, CoreV1Api, NetworkingV1Api, SchedulingV1Api } from '@kubernetes/client-node';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import {
  CHART,
  deploymentOf,
  envOf,
  find,
  FULLNAME,
  helm,
  K8sObject,
  lint,
  NAMESPACE,
  only,
  operatorContainer,
  RELEASE,
  removeHelmScratch,
  render,
  restrictedViolations,
  scratchPath,
  Sets,
  setArgs,
  template,
} from './support/helm-render';
import { adminKubeConfig, createTestNamespace, deleteTestNamespace, kubeconfigForToken, runHelm } from './support/kube';
import { OperatorProcess, startOperator, waitFor } from './support/operator-process';
import { readStatus } from './support/status';

const API_KEY = 'kdy_prod_abc123def456';
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const SELECTOR = { 'app.kubernetes.io/name': 'kube9-operator', 'app.kubernetes.io/instance': RELEASE };
const TOKEN_PATH = '/var/run/secrets/kubernetes.io/serviceaccount';

afterAll(() => {
  removeHelmScratch();
});

function networkPolicyOf(sets: Sets): V1NetworkPolicySpec {
  return only<V1NetworkPolicy>(render(sets), 'NetworkPolicy').spec!;
}

function podSpecOf(sets: Sets) {
  return deploymentOf(render(sets)).spec!.template.spec!;
}

/** `template` must fail, print nothing, and say each of `messages`. */
function expectRejected(sets: Sets, messages: RegExp[]): void {
  const result = template(sets);
  expect(result.status).not.toBe(0);
  expect(result.stdout).toBe('');
  for (const message of messages) expect(result.stderr).toMatch(message);
}

const DNS_RULE = {
  to: [
    {
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } },
      podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } },
    },
  ],
  ports: [
    { port: 53, protocol: 'UDP' },
    { port: 53, protocol: 'TCP' },
  ],
};

describe('networkPolicy', () => {
  it('renders no NetworkPolicy by default', () => {
    expect(find(render(), 'NetworkPolicy')).toBeUndefined();
  });

  it('enabled: the HTTP port in from any source; out only DNS, the API server ports and kube9-server on 443', () => {
    const objects = render({ set: { 'networkPolicy.enabled': true } });
    const policy = only<V1NetworkPolicy>(objects, 'NetworkPolicy');

    expect(policy.metadata).toMatchObject({ name: FULLNAME, namespace: NAMESPACE });
    expect(policy.spec).toEqual({
      podSelector: { matchLabels: SELECTOR },
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ ports: [{ port: 8080, protocol: 'TCP' }] }],
      egress: [
        DNS_RULE,
        {
          ports: [
            { port: 443, protocol: 'TCP' },
            { port: 6443, protocol: 'TCP' },
          ],
        },
        { ports: [{ port: 443, protocol: 'TCP' }] },
      ],
    });
    // It selects the Deployment's pods, and lets in the port the container listens on.
    const deployment = deploymentOf(objects);
    expect(deployment.spec!.template.metadata!.labels).toMatchObject(policy.spec!.podSelector!.matchLabels!);
    expect(operatorContainer(deployment).ports![0].containerPort).toBe(policy.spec!.ingress![0].ports![0].port);
  });

  it('follows containerPort', () => {
    const spec = networkPolicyOf({ set: { 'networkPolicy.enabled': true, containerPort: 9000 } });
    expect(spec.ingress).toEqual([{ ports: [{ port: 9000, protocol: 'TCP' }] }]);
  });

  it('narrowed by namespaceSelector and podSelector, and lets the API server addresses in for its service proxy', () => {
    const spec = networkPolicyOf({
      valuesFile: {
        networkPolicy: {
          enabled: true,
          ingress: {
            namespaceSelector: { matchLabels: { team: 'platform' } },
            podSelector: { matchExpressions: [{ key: 'role', operator: 'In', values: ['monitoring'] }] },
          },
          egress: { apiServer: { cidrs: ['10.0.0.10/32', 'fd00::10/128'], ports: [6443] } },
        },
      },
    });

    expect(spec.ingress).toEqual([
      {
        ports: [{ port: 8080, protocol: 'TCP' }],
        from: [
          {
            namespaceSelector: { matchLabels: { team: 'platform' } },
            podSelector: { matchExpressions: [{ key: 'role', operator: 'In', values: ['monitoring'] }] },
          },
          { ipBlock: { cidr: '10.0.0.10/32' } },
          { ipBlock: { cidr: 'fd00::10/128' } },
        ],
      },
    ]);
    expect(spec.egress![1]).toEqual({
      ports: [{ port: 6443, protocol: 'TCP' }],
      to: [{ ipBlock: { cidr: '10.0.0.10/32' } }, { ipBlock: { cidr: 'fd00::10/128' } }],
    });
  });

  it('a podSelector alone selects those pods in every namespace', () => {
    const spec = networkPolicyOf({
      set: { 'networkPolicy.enabled': true, 'networkPolicy.ingress.podSelector.matchLabels.app': 'vscode-proxy' },
    });
    // The rendered YAML's field is "from" (client-node's type calls it _from).
    expect((spec.ingress![0] as { from?: unknown }).from).toEqual([
      { namespaceSelector: {}, podSelector: { matchLabels: { app: 'vscode-proxy' } } },
    ]);
  });

  it.each<[string, Sets, number[]]>([
    ['an https serverUrl without a port', { set: { serverUrl: 'https://api.kube9.dev/v1' } }, [443]],
    ['the port serverUrl names', { set: { serverUrl: 'https://kube9.corp.example:8443' } }, [8443]],
    [
      'an http serverUrl (allowInsecureServerUrl)',
      { set: { serverUrl: 'http://kube9-server.test', allowInsecureServerUrl: true } },
      [80],
    ],
    ['an IPv6 serverUrl with a port', { set: { serverUrl: 'https://[fd00::1]:9443' } }, [9443]],
    [
      'the ports given',
      { valuesFile: { networkPolicy: { egress: { kube9Server: { ports: [443, 8443] } } } } },
      [443, 8443],
    ],
  ])("lets out to kube9-server's port: %s", (_name, sets, ports) => {
    const spec = networkPolicyOf({ ...sets, set: { ...sets.set, 'networkPolicy.enabled': true } });
    expect(spec.egress![2]).toEqual({ ports: ports.map((port) => ({ port, protocol: 'TCP' })) });
  });

  it('narrows kube9-server to its CIDRs when given', () => {
    const spec = networkPolicyOf({
      valuesFile: { networkPolicy: { enabled: true, egress: { kube9Server: { cidrs: ['203.0.113.0/24'] } } } },
    });
    expect(spec.egress![2]).toEqual({
      ports: [{ port: 443, protocol: 'TCP' }],
      to: [{ ipBlock: { cidr: '203.0.113.0/24' } }],
    });
  });

  it('takes the DNS servers given (e.g. NodeLocal DNSCache)', () => {
    const to = [{ ipBlock: { cidr: '169.254.20.10/32' } }];
    const spec = networkPolicyOf({ valuesFile: { networkPolicy: { enabled: true, egress: { dns: { to } } } } });
    expect(spec.egress![0]).toEqual({ ...DNS_RULE, to });
  });

  /**
   * proxy.httpsProxy belongs to the proxy part of the chart; this copy of the chart only
   * declares it in the schema, so that the policy's use of it is tested on its own.
   */
  function renderWithProxyValue(sets: Sets): K8sObject[] {
    const copy = scratchPath('proxy-chart');
    cpSync(CHART, copy, { recursive: true });
    const schemaPath = join(copy, 'values.schema.json');
    const schema = JSON.parse(readFileSync(schemaPath, 'utf8')) as { properties: Record<string, unknown> };
    schema.properties.proxy ??= { type: 'object' };
    writeFileSync(schemaPath, JSON.stringify(schema));
    const result = helm(['template', RELEASE, copy, '--namespace', NAMESPACE, ...setArgs(sets)]);
    if (result.status !== 0) throw new Error(result.stderr);
    return yaml.loadAll(result.stdout) as K8sObject[];
  }

  it.each<[string, string, number]>([
    ['its named port', 'http://proxy.corp.example:3128', 3128],
    ['80 for an http:// proxy without a port', 'http://proxy.corp.example', 80],
    ['its port, credentials in the URL', 'http://user:secret@proxy.corp.example:8080', 8080],
  ])('with proxy.httpsProxy, lets out to the proxy: %s', (_name, httpsProxy, port) => {
    const objects = renderWithProxyValue({ set: { 'networkPolicy.enabled': true, 'proxy.httpsProxy': httpsProxy } });
    const spec = only<V1NetworkPolicy>(objects, 'NetworkPolicy').spec!;
    expect(spec.egress![2]).toEqual({ ports: [{ port, protocol: 'TCP' }] });
    expect(JSON.stringify(spec)).not.toContain('secret');
  });
});

describe('extraEnv, extraVolumes, extraVolumeMounts', () => {
  it('renders none by default: the chart env, and /tmp the only volume', () => {
    const pod = podSpecOf({});
    expect(pod.volumes!.map((v) => v.name)).toEqual(['tmp']);
    expect(pod.containers[0].volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
  });

  it("adds the variables after the chart's own, and the volumes and mounts after /tmp", () => {
    const extraEnv = [
      { name: 'TZ', value: 'Europe/Paris' },
      { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    ];
    const extraVolumes = [{ name: 'ca', configMap: { name: 'corp-ca' } }];
    const extraVolumeMounts = [{ name: 'ca', mountPath: '/etc/corp-ca', readOnly: true }];

    const deployment = deploymentOf(render({ valuesFile: { extraEnv, extraVolumes, extraVolumeMounts } }));
    const container = operatorContainer(deployment);

    expect(container.env!.slice(-2)).toEqual(extraEnv);
    expect(envOf(deployment).LOG_LEVEL).toEqual({ name: 'LOG_LEVEL', value: 'info' });
    expect(deployment.spec!.template.spec!.volumes!.slice(1)).toEqual(extraVolumes);
    expect(container.volumeMounts!.slice(1)).toEqual(extraVolumeMounts);
  });

  it.each<[string, Sets, RegExp[]]>([
    [
      'an extraEnv entry without a name',
      { valuesFile: { extraEnv: [{ value: 'x' }] } },
      [/\/extraEnv\/0/, /missing property 'name'/],
    ],
    [
      'an extraEnv value that is a number',
      { valuesFile: { extraEnv: [{ name: 'N', value: 5 }] } },
      [/\/extraEnv\/0\/value/, /want string/],
    ],
    [
      'an extraEnv entry with an unknown key',
      { valuesFile: { extraEnv: [{ name: 'N', val: 'x' }] } },
      [/\/extraEnv\/0/, /additional properties 'val'/],
    ],
    [
      'an extraEnv variable the chart sets',
      {
        valuesFile: {
          extraEnv: [
            { name: 'TZ', value: 'UTC' },
            { name: 'SERVER_URL', value: 'https://x' },
          ],
        },
      },
      [/extraEnv\[1\]: SERVER_URL is set by the chart/],
    ],
    [
      'POD_NAME in extraEnv with leader election (the chart sets it)',
      { valuesFile: { replicaCount: 2, extraEnv: [{ name: 'POD_NAME', value: 'x' }] } },
      [/extraEnv\[0\]: POD_NAME is set by the chart/],
    ],
    [
      'an extraVolumes entry without a name',
      { valuesFile: { extraVolumes: [{ emptyDir: {} }] } },
      [/\/extraVolumes\/0/, /missing property 'name'/],
    ],
    [
      'an extraVolumeMounts entry without a mountPath',
      { valuesFile: { extraVolumeMounts: [{ name: 'ca' }] } },
      [/\/extraVolumeMounts\/0/, /missing property 'mountPath'/],
    ],
    [
      'an extraVolumeMounts mountPath that is relative',
      { valuesFile: { extraVolumeMounts: [{ name: 'ca', mountPath: 'etc/ca' }] } },
      [/\/extraVolumeMounts\/0\/mountPath/, /pattern/],
    ],
    ['extraEnv that is no list', { set: { 'extraEnv.TZ': 'UTC' } }, [/\/extraEnv/, /want array/]],
    [
      'HTTPS_PROXY in extraEnv when proxy.existingSecret sets it',
      { valuesFile: { proxy: { existingSecret: 'proxy' }, extraEnv: [{ name: 'HTTPS_PROXY', value: 'x' }] } },
      [/extraEnv\[0\]: HTTPS_PROXY is set by the chart/],
    ],
  ])('refuses %s', (_name, sets, messages) => {
    expectRejected(sets, messages);
  });
});

describe('priorityClassName, topologySpreadConstraints, revisionHistoryLimit', () => {
  it('renders none of priorityClassName and topologySpreadConstraints by default, and keeps 10 revisions', () => {
    const deployment = deploymentOf(render());
    expect(deployment.spec!.template.spec!.priorityClassName).toBeUndefined();
    expect(deployment.spec!.template.spec!.topologySpreadConstraints).toBeUndefined();
    expect(deployment.spec!.revisionHistoryLimit).toBe(10);
  });

  it('sets priorityClassName and revisionHistoryLimit (0 included)', () => {
    const deployment = deploymentOf(
      render({ set: { priorityClassName: 'system-cluster-critical', revisionHistoryLimit: 0 } }),
    );
    expect(deployment.spec!.template.spec!.priorityClassName).toBe('system-cluster-critical');
    expect(deployment.spec!.revisionHistoryLimit).toBe(0);
  });

  it("gives a constraint without labelSelector the pods' selector labels, and keeps one given", () => {
    const own = { matchLabels: { team: 'platform' } };
    const pod = podSpecOf({
      valuesFile: {
        replicaCount: 2,
        topologySpreadConstraints: [
          { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' },
          { maxSkew: 2, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: own },
        ],
      },
    });
    expect(pod.topologySpreadConstraints).toEqual([
      {
        maxSkew: 1,
        topologyKey: 'topology.kubernetes.io/zone',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: SELECTOR },
      },
      { maxSkew: 2, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'DoNotSchedule', labelSelector: own },
    ]);
  });

  it.each<[string, Sets, RegExp[]]>([
    [
      'a priorityClassName that is no Kubernetes name',
      { set: { priorityClassName: 'High_Priority' } },
      [/\/priorityClassName/, /pattern/],
    ],
    [
      'a topologySpreadConstraint without topologyKey',
      { valuesFile: { topologySpreadConstraints: [{ maxSkew: 1, whenUnsatisfiable: 'DoNotSchedule' }] } },
      [/\/topologySpreadConstraints\/0/, /missing property 'topologyKey'/],
    ],
    [
      'a topologySpreadConstraint whenUnsatisfiable outside the enum',
      { valuesFile: { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'Maybe' }] } },
      [/\/topologySpreadConstraints\/0\/whenUnsatisfiable/, /'DoNotSchedule', 'ScheduleAnyway'/],
    ],
    [
      'a topologySpreadConstraint maxSkew of 0',
      {
        valuesFile: {
          topologySpreadConstraints: [{ maxSkew: 0, topologyKey: 'zone', whenUnsatisfiable: 'DoNotSchedule' }],
        },
      },
      [/\/topologySpreadConstraints\/0\/maxSkew/, /minimum/],
    ],
    ['revisionHistoryLimit -1', { set: { revisionHistoryLimit: -1 } }, [/\/revisionHistoryLimit/, /minimum/]],
    [
      'revisionHistoryLimit as a string',
      { setString: { revisionHistoryLimit: '10' } },
      [/\/revisionHistoryLimit/, /want integer/],
    ],
    [
      'revisionHistoryLimit not whole',
      { valuesFile: { revisionHistoryLimit: 2.5 } },
      [/\/revisionHistoryLimit/, /want integer/],
    ],
  ])('refuses %s', (_name, sets, messages) => {
    expectRejected(sets, messages);
  });
});

describe('commonLabels', () => {
  const commonLabels = { 'example.com/cost-center': 'cc-42', team: 'platform' };

  it('are on every object, with every optional object rendered, and on the pods', () => {
    const objects = render({
      set: { apiKey: API_KEY, replicaCount: 2, 'networkPolicy.enabled': true },
      valuesFile: { commonLabels },
    });
    const kinds = objects.map((o) => o.kind);
    for (const kind of ['Secret', 'PodDisruptionBudget', 'NetworkPolicy', 'Pod', 'ClusterRole', 'Deployment']) {
      expect(kinds).toContain(kind);
    }

    const unlabelled = objects
      .filter((o) => !Object.entries(commonLabels).every(([key, value]) => o.metadata.labels?.[key] === value))
      .map((o) => `${o.kind}/${o.metadata.name}`);

    expect(unlabelled).toEqual([]);
    expect(deploymentOf(objects).spec!.template.metadata!.labels).toMatchObject({ ...commonLabels, ...SELECTOR });
    // Selectors never change: a Deployment's cannot, after it is created.
    expect(deploymentOf(objects).spec!.selector.matchLabels).toEqual(SELECTOR);
  });

  it('give way to podLabels on the pod (one value per key)', () => {
    const labels = deploymentOf(render({ valuesFile: { commonLabels, podLabels: { team: 'pod-team' } } })).spec!
      .template.metadata!.labels!;
    expect(labels).toMatchObject({ ...SELECTOR, 'example.com/cost-center': 'cc-42', team: 'pod-team' });
  });

  it.each<[string, Sets, RegExp[]]>([
    [
      'a value that is not a string',
      { valuesFile: { commonLabels: { tier: 3 } } },
      [/\/commonLabels\/tier/, /got number, want string/],
    ],
    [
      'a value that is no label value',
      { valuesFile: { commonLabels: { team: 'a b' } } },
      [/\/commonLabels\/team/, /pattern/],
    ],
    [
      'a key that is no label key',
      { valuesFile: { commonLabels: { 'bad key!': 'x' } } },
      [/\/commonLabels/, /additional properties 'bad key!' not allowed/],
    ],
    [
      "a label the chart sets (it would change the Deployment's selector)",
      { valuesFile: { commonLabels: { 'app.kubernetes.io/instance': 'other' } } },
      [/commonLabels: "app.kubernetes.io\/instance" is a label the chart sets itself/],
    ],
    [
      'a podLabels key the chart sets (the pods would leave the selector)',
      { valuesFile: { podLabels: { 'app.kubernetes.io/name': 'other' } } },
      [/podLabels: "app.kubernetes.io\/name" is a label the chart sets itself/],
    ],
  ])('refuses %s', (_name, sets, messages) => {
    expectRejected(sets, messages);
  });
});

describe('image.digest', () => {
  it('pulls by digest when given, whatever the tag', () => {
    const image = (sets: Sets) => operatorContainer(deploymentOf(render(sets))).image;
    expect(image({ set: { 'image.digest': DIGEST } })).toBe(`ghcr.io/alto9/kube9-operator@${DIGEST}`);
    expect(image({ set: { 'image.digest': DIGEST, 'image.tag': '9.9.9' } })).toBe(
      `ghcr.io/alto9/kube9-operator@${DIGEST}`,
    );
    expect(image({ set: { 'image.tag': '9.9.9' } })).toBe('ghcr.io/alto9/kube9-operator:9.9.9');
  });

  it.each([
    ['a digest of 63 hex digits', `sha256:${'a'.repeat(63)}`],
    ['upper-case hex', `sha256:${'A'.repeat(64)}`],
    ['another algorithm', `sha512:${'a'.repeat(64)}`],
    ['no algorithm', 'a'.repeat(64)],
  ])('refuses %s', (_name, digest) => {
    expectRejected({ set: { 'image.digest': digest } }, [/\/image\/digest/, /pattern/]);
  });
});

describe('serviceAccount.automount', () => {
  function tokenVolume(volumes: V1Volume[] = []): V1Volume | undefined {
    return volumes.find((v) => v.projected?.sources?.some((s) => s.serviceAccountToken));
  }

  it('true (the default): the pod mounts its token the usual way, and has no volume of its own for it', () => {
    const pod = podSpecOf({});
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(tokenVolume(pod.volumes)).toBeUndefined();
  });

  it('false: neither the ServiceAccount nor the pod automount; the pod mounts an expiring token at the usual path', () => {
    const objects = render({ set: { 'serviceAccount.automount': false } });
    const pod = deploymentOf(objects).spec!.template.spec!;
    const serviceAccount = only<{ automountServiceAccountToken: boolean }>(objects, 'ServiceAccount');

    expect(serviceAccount.automountServiceAccountToken).toBe(false);
    expect(pod.automountServiceAccountToken).toBe(false);
    const volume = tokenVolume(pod.volumes)!;
    expect(volume.projected!.sources).toEqual([
      { serviceAccountToken: { path: 'token', expirationSeconds: 3600 } },
      { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
      {
        downwardAPI: {
          items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
        },
      },
    ]);
    expect(pod.containers[0].volumeMounts).toContainEqual({ name: volume.name, mountPath: TOKEN_PATH, readOnly: true });
    expect(restrictedViolations(pod)).toEqual([]);
  });

  it('false with serviceAccount.create false: the pod still mounts its own token', () => {
    const pod = podSpecOf({ set: { 'serviceAccount.automount': false, 'serviceAccount.create': false } });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(tokenVolume(pod.volumes)).toBeDefined();
  });

  it('refuses a non-boolean', () => {
    expectRejected({ setString: { 'serviceAccount.automount': 'no' } }, [
      /\/serviceAccount\/automount/,
      /want boolean/,
    ]);
  });
});

describe('networkPolicy values', () => {
  it.each<[string, Sets, RegExp[]]>([
    [
      'enabled as a string',
      { setString: { 'networkPolicy.enabled': 'yes' } },
      [/\/networkPolicy\/enabled/, /want boolean/],
    ],
    [
      'an API server CIDR that is no CIDR',
      { valuesFile: { networkPolicy: { egress: { apiServer: { cidrs: ['10.0.0.1'] } } } } },
      [/\/networkPolicy\/egress\/apiServer\/cidrs\/0/, /pattern/],
    ],
    [
      'an API server port out of range',
      { valuesFile: { networkPolicy: { egress: { apiServer: { ports: [70000] } } } } },
      [/\/networkPolicy\/egress\/apiServer\/ports\/0/, /maximum/],
    ],
    [
      'no API server port',
      { valuesFile: { networkPolicy: { egress: { apiServer: { ports: [] } } } } },
      [/\/networkPolicy\/egress\/apiServer\/ports/, /minItems|at least 1/],
    ],
    [
      'a kube9-server port of 0',
      { valuesFile: { networkPolicy: { egress: { kube9Server: { ports: [0] } } } } },
      [/\/networkPolicy\/egress\/kube9Server\/ports\/0/, /minimum/],
    ],
    [
      'an ingress selector with an unknown operator',
      {
        valuesFile: {
          networkPolicy: { ingress: { podSelector: { matchExpressions: [{ key: 'a', operator: 'Is' }] } } },
        },
      },
      [
        /\/networkPolicy\/ingress\/podSelector\/matchExpressions\/0\/operator/,
        /'In', 'NotIn', 'Exists', 'DoesNotExist'/,
      ],
    ],
    [
      'an ingress selector that is a plain map of labels',
      { valuesFile: { networkPolicy: { ingress: { namespaceSelector: { team: 'platform' } } } } },
      [/\/networkPolicy\/ingress\/namespaceSelector/, /additional properties 'team'/],
    ],
    [
      'no DNS server',
      { valuesFile: { networkPolicy: { egress: { dns: { to: [] } } } } },
      [/\/networkPolicy\/egress\/dns\/to/, /minItems|at least 1/],
    ],
    [
      'no kube9-server port when the proxy URL is in a Secret (its port cannot be read)',
      { valuesFile: { networkPolicy: { enabled: true }, proxy: { existingSecret: 'proxy' } } },
      [/networkPolicy\.egress\.kube9Server\.ports: required when proxy\.existingSecret is set/],
    ],
    [
      'an unknown key',
      { set: { 'networkPolicy.egres.dns': 'x' } },
      [/\/networkPolicy/, /additional properties 'egres'/],
    ],
  ])('refuses %s', (_name, sets, messages) => {
    expectRejected(sets, messages);
  });
});

describe('helm lint --strict', () => {
  it('passes with every administrator value set', () => {
    const result = lint({ valuesFile: everyValue('kube9-system') });
    expect(`${result.stdout}${result.stderr}`).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.status).toBe(0);
  });
});

/** Every value of this file set at once, with a PriorityClass of `priorityClass`. */
function everyValue(priorityClass: string): Record<string, unknown> {
  return {
    apiKey: API_KEY,
    commonLabels: { team: 'platform' },
    image: { digest: DIGEST },
    serviceAccount: { automount: false },
    extraEnv: [{ name: 'TZ', value: 'UTC' }],
    extraVolumes: [{ name: 'scratch', emptyDir: { sizeLimit: '1Mi' } }],
    extraVolumeMounts: [{ name: 'scratch', mountPath: '/scratch' }],
    priorityClassName: priorityClass,
    topologySpreadConstraints: [
      { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' },
    ],
    revisionHistoryLimit: 3,
    networkPolicy: {
      enabled: true,
      ingress: { namespaceSelector: { matchLabels: { team: 'platform' } } },
      egress: { apiServer: { cidrs: ['127.0.0.1/32'] }, kube9Server: { cidrs: ['203.0.113.0/24'] } },
    },
  };
}

/**
 * Against the test control plane: helm validates every object against the API server's
 * OpenAPI schema, the API server validates and admits them, and the namespace enforces the
 * restricted Pod Security Standard. The control plane has no node: pods are admitted, not run.
 */
const describeWithCluster = process.env.KUBE9_TEST_KUBECONFIG ? describe : describe.skip;

describeWithCluster('installed with every administrator value', () => {
  const release = 'k9admin';
  const fullname = `${release}-kube9-operator`;
  let namespace: string;
  let priorityClass: string;
  let operator: OperatorProcess | undefined;

  beforeAll(async () => {
    namespace = await createTestNamespace('helm-admin', {
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'latest',
    });
    priorityClass = `${namespace}-operators`;
    await adminKubeConfig()
      .makeApiClient(SchedulingV1Api)
      .createPriorityClass({ body: { metadata: { name: priorityClass }, value: 1000 } });
    const values = scratchPath('admin-values');
    writeFileSync(values, yaml.dump(everyValue(priorityClass)));
    const install = await runHelm(['install', release, CHART, '-n', namespace, '--values', values]);
    if (install.code !== 0) throw new Error(`helm install failed: ${install.stderr}`);
  });

  afterAll(async () => {
    await operator?.stop().catch(() => undefined);
    await runHelm(['uninstall', release, '-n', namespace]);
    await deleteTestNamespace(namespace);
    await adminKubeConfig()
      .makeApiClient(SchedulingV1Api)
      .deletePriorityClass({ name: priorityClass })
      .catch(() => undefined);
  });

  async function operatorPod(): Promise<V1Pod> {
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    return waitFor(
      "the Deployment's pod",
      async () =>
        (
          await core.listNamespacedPod({
            namespace,
            labelSelector: `app.kubernetes.io/name=kube9-operator,app.kubernetes.io/instance=${release}`,
          })
        ).items[0],
      30_000,
      250,
    );
  }

  it('keeps the NetworkPolicy as rendered', async () => {
    const stored = await adminKubeConfig()
      .makeApiClient(NetworkingV1Api)
      .readNamespacedNetworkPolicy({ name: fullname, namespace });
    const rendered = yaml
      .loadAll(
        helm([
          'template',
          release,
          CHART,
          '--namespace',
          namespace,
          '--show-only',
          'templates/networkpolicy.yaml',
          ...setArgs({ valuesFile: everyValue(priorityClass) }),
        ]).stdout,
      )
      .filter(Boolean) as V1NetworkPolicy[];

    // As plain JSON, with the field named as on the wire (client-node's class calls it _from).
    const storedSpec = JSON.parse(JSON.stringify(stored.spec).replaceAll('"_from":', '"from":')) as unknown;
    expect(storedSpec).toEqual(rendered[0].spec);
    expect(stored.metadata!.labels).toMatchObject({ team: 'platform' });
  });

  it('admits the pod: the priority class, the spread, the extra env and volume, its own token and no automounted one', async () => {
    const pod = await operatorPod();
    const spec = pod.spec!;

    expect(pod.metadata!.labels).toMatchObject({ team: 'platform' });
    expect(spec.priorityClassName).toBe(priorityClass);
    expect(spec.priority).toBe(1000);
    expect(spec.topologySpreadConstraints![0].labelSelector).toEqual({
      matchLabels: { 'app.kubernetes.io/name': 'kube9-operator', 'app.kubernetes.io/instance': release },
    });
    expect(spec.containers[0].image).toBe(`ghcr.io/alto9/kube9-operator@${DIGEST}`);
    expect(spec.containers[0].env).toContainEqual({ name: 'TZ', value: 'UTC' });
    expect(spec.automountServiceAccountToken).toBe(false);
    // The ServiceAccount admission plugin added no kube-api-access-* volume: the chart's is the only token.
    expect(spec.volumes!.map((v) => v.name).sort()).toEqual(['scratch', 'serviceaccount-token', 'tmp']);
    expect(spec.containers[0].volumeMounts!.filter((m) => m.mountPath === TOKEN_PATH)).toEqual([
      { name: 'serviceaccount-token', mountPath: TOKEN_PATH, readOnly: true },
    ]);
  });

  it('keeps 3 old ReplicaSets', async () => {
    const deployment = await adminKubeConfig()
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: fullname, namespace });
    expect(deployment.spec!.revisionHistoryLimit).toBe(3);
  });

  it("the operator works with the token the pod's projected volume gets (bound to the pod, the API server's audience)", async () => {
    const pod = await operatorPod();
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    // What the kubelet asks for the volume's serviceAccountToken source.
    const answer = await core.createNamespacedServiceAccountToken({
      namespace,
      name: pod.spec!.serviceAccountName!,
      body: {
        spec: {
          audiences: [],
          expirationSeconds: 3600,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata!.name!, uid: pod.metadata!.uid! },
        },
      },
    });
    const kubeconfig = kubeconfigForToken(answer.status!.token!, `${namespace}-bound`);
    // The pod's environment, with the Downward API namespace resolved; the HTTP port a free one here.
    const env: Record<string, string> = {};
    for (const variable of pod.spec!.containers[0].env ?? []) {
      if (variable.value !== undefined) env[variable.name] = variable.value;
      else if (variable.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[variable.name] = namespace;
    }
    delete env.PORT;
    // Free tier, so that nothing leaves for kube9-server (not running here).
    await core.deleteNamespacedSecret({ name: fullname, namespace }).catch((error: unknown) => {
      if (!(error instanceof ApiException && error.code === 404)) throw error;
    });

    operator = await startOperator({ ...env, KUBECONFIG: kubeconfig });
    const status = await waitFor('a status written with the pod-bound token', () => readStatus(namespace), 20_000, 100);

    expect(status).toMatchObject({ mode: 'operated', tier: 'free', health: 'healthy', error: null });
  });
});
