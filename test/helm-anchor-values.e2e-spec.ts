/*
 * The chart values the charts administrators like best (cert-manager, external-dns,
 * ingress-nginx, kube-state-metrics, Bitnami's) have and ours lacked (issue 19): the
 * startupProbe; hostAliases, dnsPolicy/dnsConfig, runtimeClassName,
 * terminationGracePeriodSeconds; global.imageRegistry, global.imagePullSecrets,
 * image.registry, namespaceOverride; deploymentAnnotations and the Service's and
 * ServiceAccount's metadata; podDisruptionBudget; the monitors' relabelings,
 * metricRelabelings, namespace, annotations and targetLabels; the PrometheusRule's
 * additionalRules and annotations; extraObjects through tpl; OpenShift's restricted-v2;
 * the Artifact Hub metadata of Chart.yaml.
 *
 * Each is rendered by the real helm client, each malformed value is refused with a message
 * naming it, and, against the test control plane, every object rendered with all of them set
 * is accepted by the API server in a server-side dry run: the monitoring objects against the
 * Prometheus Operator's own CRDs (test/support/prometheus-operator-crds.ts), the pods by the
 * restricted Pod Security Standard.
 *
 *   npx jest --config test/jest-e2e.config.js test/helm-anchor-values.e2e-spec.ts
 */
import type {
  V1Deployment,
  V1Pod,
  V1PodDisruptionBudget,
  V1Role,
  V1RoleBinding,
  V1Service,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { CoreV1Api, NodeV1Api } from '@kubernetes/client-node';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import {
  CHART,
  deploymentOf,
  find,
  FULLNAME,
  helm,
  K8sObject,
  lint,
  NAMESPACE,
  only,
  operatorContainer,
  RELEASE,
  ROOT,
  removeHelmScratch,
  render,
  restrictedViolations,
  scratchPath,
  Sets,
  setArgs,
  template,
} from './support/helm-render';
import { adminKubeConfig, createTestNamespace, deleteTestNamespace, requiredEnv, StrictDryRun } from './support/kube';
import { TEST_KEYS } from './support/keys';
import { deletePrometheusOperatorCrds, installPrometheusOperatorCrds } from './support/prometheus-operator-crds';

/** A rendered object whose spec the tests read (monitors, rules). */
type Rendered = K8sObject & { spec?: any; data?: Record<string, string> };

const chart = yaml.load(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as Record<string, any>;
const values = yaml.load(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, any>;
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const SELECTOR = { 'app.kubernetes.io/name': 'kube9-operator', 'app.kubernetes.io/instance': RELEASE };

afterAll(() => removeHelmScratch());

/** `helm template` with extra helm flags (e.g. --api-versions); throws with helm's message when it fails. */
function renderWith(sets: Sets, flags: string[]): Rendered[] {
  const result = helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, ...flags, ...setArgs(sets)]);
  if (result.status !== 0) throw new Error(`helm template failed (${result.status}):\n${result.stderr}`);
  return (yaml.loadAll(result.stdout) as Rendered[]).filter(Boolean);
}

/** `template` must fail, print nothing, and say each of `messages`. */
function expectRejected(sets: Sets, messages: RegExp[]): void {
  const result = template(sets);
  expect(result.status).not.toBe(0);
  expect(result.stdout).toBe('');
  for (const message of messages) expect(result.stderr).toMatch(message);
}

const operatorImage = (sets: Sets) => operatorContainer(deploymentOf(render(sets))).image;
const testPod = (objects: K8sObject[]) => find<V1Pod>(objects, 'Pod')!;

describe('Chart.yaml', () => {
  it('has home, sources, maintainers and kubeVersion', () => {
    expect(chart.home).toMatch(/^https:\/\//);
    expect(chart.sources.length).toBeGreaterThan(0);
    for (const source of chart.sources) expect(source).toMatch(/^https:\/\//);
    expect(chart.maintainers.length).toBeGreaterThan(0);
    for (const maintainer of chart.maintainers) expect(maintainer.name).toMatch(/\S/);
    expect(chart.kubeVersion).toBe('>=1.32.0-0');
  });

  it("kubeVersion's floor is the minor of the oldest control plane the tests run (test/controlplane/go/kube-oldest)", () => {
    const goMod = readFileSync(join(ROOT, 'test', 'controlplane', 'go', 'kube-oldest', 'go.mod'), 'utf8');
    const oldest = /^require k8s\.io\/kubernetes v1\.(\d+)\.\d+$/m.exec(goMod);
    expect(oldest).not.toBeNull();
    expect(chart.kubeVersion).toBe(`>=1.${oldest![1]}.0-0`);
  });

  it('has the Artifact Hub annotations: license, links, images (the defaults the chart runs) and changes', () => {
    const annotations = chart.annotations as Record<string, string>;
    expect(annotations['artifacthub.io/license']).toMatch(/\S/);
    const links = yaml.load(annotations['artifacthub.io/links']) as { name: string; url: string }[];
    expect(links.length).toBeGreaterThan(0);
    for (const link of links)
      expect(link).toEqual({ name: expect.stringMatching(/\S/), url: expect.stringMatching(/^https:\/\//) });
    // The images Artifact Hub lists are the ones a default install runs.
    const images = (yaml.load(annotations['artifacthub.io/images']) as { name: string; image: string }[]).map(
      (i) => i.image,
    );
    const objects = render();
    expect(images.sort()).toEqual(
      [operatorContainer(deploymentOf(objects)).image, testPod(objects).spec!.containers[0].image].sort(),
    );
    const changes = yaml.load(annotations['artifacthub.io/changes']) as { kind: string; description: string }[];
    expect(changes.length).toBeGreaterThan(0);
    for (const change of changes) {
      expect(['added', 'changed', 'deprecated', 'removed', 'fixed', 'security']).toContain(change.kind);
      expect(change.description).toMatch(/\S/);
    }
  });

  it("is refused by a cluster older than kubeVersion, in helm's own words", () => {
    const result = helm(['template', RELEASE, CHART, '--kube-version', '1.31.14']);
    expect(result.status).not.toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(
      /chart requires kubeVersion: >=1\.32\.0-0 which is incompatible with Kubernetes v1\.31\.14/,
    );
  });

  it('is rendered for the oldest supported minor and the newest', () => {
    for (const version of ['1.32.0', '1.37.2']) {
      expect(helm(['template', RELEASE, CHART, '--kube-version', version]).status).toBe(0);
    }
  });
});

describe('startupProbe', () => {
  it('GETs /readyz every second until the first status is computed; liveness and readiness have no initial delay', () => {
    const container = operatorContainer(deploymentOf(render()));
    expect(container.startupProbe).toEqual({
      httpGet: { path: '/readyz', port: 'http' },
      periodSeconds: 1,
      timeoutSeconds: 2,
      failureThreshold: 60,
    });
    expect(container.livenessProbe!.initialDelaySeconds).toBeUndefined();
    expect(container.readinessProbe!.initialDelaySeconds).toBeUndefined();
  });

  it('can be replaced, or removed with null', () => {
    const replaced = operatorContainer(
      deploymentOf(
        render({ valuesFile: { startupProbe: { httpGet: { path: '/healthz', port: 'http' }, failureThreshold: 5 } } }),
      ),
    );
    expect(replaced.startupProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'http' }, failureThreshold: 5 });
    expect(
      operatorContainer(deploymentOf(render({ valuesFile: { startupProbe: null } }))).startupProbe,
    ).toBeUndefined();
  });

  it('refuses a periodSeconds of 0', () => {
    expectRejected({ set: { 'startupProbe.periodSeconds': 0 } }, [/\/startupProbe\/periodSeconds/, /minimum/]);
  });
});

describe('hostAliases, dnsPolicy, dnsConfig, runtimeClassName, terminationGracePeriodSeconds', () => {
  it('renders none but a 30 s grace period by default', () => {
    const pod = deploymentOf(render()).spec!.template.spec!;
    expect(pod.terminationGracePeriodSeconds).toBe(30);
    for (const field of ['hostAliases', 'dnsPolicy', 'dnsConfig', 'runtimeClassName'] as const) {
      expect({ field, value: pod[field] }).toEqual({ field, value: undefined });
    }
  });

  it('renders each as given (a grace period of 0 included)', () => {
    const hostAliases = [{ ip: '10.0.0.5', hostnames: ['api.kube9.dev', 'proxy.corp'] }];
    const dnsConfig = {
      nameservers: ['10.0.0.53'],
      searches: ['corp.example'],
      options: [{ name: 'ndots', value: '2' }],
    };
    const pod = deploymentOf(
      render({
        valuesFile: {
          hostAliases,
          dnsPolicy: 'None',
          dnsConfig,
          runtimeClassName: 'gvisor',
          terminationGracePeriodSeconds: 0,
        },
      }),
    ).spec!.template.spec!;
    expect(pod).toMatchObject({ hostAliases, dnsPolicy: 'None', dnsConfig, runtimeClassName: 'gvisor' });
    expect(pod.terminationGracePeriodSeconds).toBe(0);
  });

  it.each<[string, Sets, RegExp[]]>([
    [
      'a hostAlias without hostnames',
      { valuesFile: { hostAliases: [{ ip: '10.0.0.5' }] } },
      [/\/hostAliases\/0/, /missing property 'hostnames'/],
    ],
    [
      'a hostAlias ip that is no address',
      { valuesFile: { hostAliases: [{ ip: 'gateway', hostnames: ['a'] }] } },
      [/\/hostAliases\/0\/ip/, /pattern/],
    ],
    [
      'a dnsPolicy outside the enum',
      { set: { dnsPolicy: 'Cluster' } },
      [/\/dnsPolicy/, /'ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'/],
    ],
    [
      'four nameservers (Kubernetes takes three)',
      { valuesFile: { dnsConfig: { nameservers: ['1.1.1.1', '1.0.0.1', '8.8.8.8', '8.8.4.4'] } } },
      [/\/dnsConfig\/nameservers/, /maxItems|at most 3/],
    ],
    [
      'an unknown dnsConfig key',
      { valuesFile: { dnsConfig: { nameserver: ['1.1.1.1'] } } },
      [/\/dnsConfig/, /additional properties 'nameserver'/],
    ],
    [
      'a runtimeClassName that is no Kubernetes name',
      { set: { runtimeClassName: 'GVisor_1' } },
      [/\/runtimeClassName/, /pattern/],
    ],
    [
      'a negative grace period',
      { set: { terminationGracePeriodSeconds: -1 } },
      [/\/terminationGracePeriodSeconds/, /minimum/],
    ],
    [
      'a grace period as a string',
      { setString: { terminationGracePeriodSeconds: '30' } },
      [/\/terminationGracePeriodSeconds/, /want integer/],
    ],
  ])('refuses %s', (_name, sets, messages) => {
    expectRejected(sets, messages);
  });
});

describe('image.registry, global.imageRegistry, global.imagePullSecrets', () => {
  it('by default the published image; a repository that names a registry is used as written', () => {
    expect(operatorImage({})).toBe(`ghcr.io/alto9/kube9-operator:${chart.appVersion}`);
    expect(operatorImage({ set: { 'image.registry': '' } })).toBe(`alto9/kube9-operator:${chart.appVersion}`);
    expect(operatorImage({ set: { 'image.repository': 'localhost/kube9' } })).toBe(
      `localhost/kube9:${chart.appVersion}`,
    );
    const full = '10.213.0.1:5000/kube9/kube9-operator';
    expect(operatorImage({ set: { 'image.repository': full, 'image.tag': '0.1.0-dev.abc' } })).toBe(
      `${full}:0.1.0-dev.abc`,
    );
    expect(operatorImage({ set: { 'image.repository': full, 'image.digest': DIGEST } })).toBe(`${full}@${DIGEST}`);
  });

  it.each<[string, Sets, string]>([
    [
      'image.registry',
      { set: { 'image.registry': 'registry.corp:5000' } },
      `registry.corp:5000/alto9/kube9-operator:${chart.appVersion}`,
    ],
    [
      'global.imageRegistry',
      { set: { 'global.imageRegistry': 'mirror.corp/dockerhub' } },
      `mirror.corp/dockerhub/alto9/kube9-operator:${chart.appVersion}`,
    ],
    [
      'global.imageRegistry (a mirror of every image) over image.registry',
      { set: { 'image.registry': 'own.corp', 'global.imageRegistry': 'mirror.corp' } },
      `mirror.corp/alto9/kube9-operator:${chart.appVersion}`,
    ],
    [
      'a registry and a digest',
      { set: { 'image.registry': 'registry.corp:5000', 'image.digest': DIGEST } },
      `registry.corp:5000/alto9/kube9-operator@${DIGEST}`,
    ],
  ])('puts %s in front of the repository', (_name, sets, image) => {
    expect(operatorImage(sets)).toBe(image);
  });

  it('global.imageRegistry also reaches the helm test image, in place of tests.image.registry', () => {
    const mirrored = testPod(render({ set: { 'global.imageRegistry': 'mirror.corp' } })).spec!.containers[0].image;
    expect(mirrored).toBe(`mirror.corp/busybox:${values.tests.image.tag}`);
    const own = testPod(render({ set: { 'tests.image.registry': 'tools.corp' } }));
    expect(own.spec!.containers[0].image).toBe(`tools.corp/busybox:${values.tests.image.tag}`);
    const both = testPod(
      render({ set: { 'global.imageRegistry': 'mirror.corp', 'tests.image.registry': 'tools.corp' } }),
    );
    expect(both.spec!.containers[0].image).toBe(`mirror.corp/busybox:${values.tests.image.tag}`);
  });

  it('pull secrets: imagePullSecrets then global.imagePullSecrets, names or objects, each once, on both pods', () => {
    const objects = render({
      valuesFile: {
        imagePullSecrets: [{ name: 'regcred' }, 'other'],
        global: { imagePullSecrets: ['mirror-cred', { name: 'regcred' }] },
      },
    });
    const expected = [{ name: 'regcred' }, { name: 'other' }, { name: 'mirror-cred' }];
    expect(deploymentOf(objects).spec!.template.spec!.imagePullSecrets).toEqual(expected);
    expect(testPod(objects).spec!.imagePullSecrets).toEqual(expected);
    const none = render();
    expect(deploymentOf(none).spec!.template.spec!.imagePullSecrets).toBeUndefined();
    expect(testPod(none).spec!.imagePullSecrets).toBeUndefined();
  });

  it('keeps global values of a parent chart that this chart does not read', () => {
    expect(() => render({ valuesFile: { global: { storageClass: 'fast', postgresql: { auth: {} } } } })).not.toThrow();
  });

  it.each<[string, Sets, RegExp[]]>([
    [
      'a registry with a scheme',
      { set: { 'image.registry': 'https://registry.corp' } },
      [/\/image\/registry/, /pattern/],
    ],
    [
      'a registry ending in a slash',
      { set: { 'global.imageRegistry': 'mirror.corp/' } },
      [/\/global\/imageRegistry/, /pattern/],
    ],
    [
      'a repository with capitals',
      { set: { 'image.repository': 'Kube9/Operator' } },
      [/\/image\/repository/, /pattern/],
    ],
    ['a tag with a colon', { set: { 'image.tag': 'v1:latest' } }, [/\/image\/tag/, /pattern/]],
    [
      'a pull secret that is a number',
      { valuesFile: { global: { imagePullSecrets: [5] } } },
      [/\/global\/imagePullSecrets\/0/],
    ],
    [
      'a pull secret object without a name',
      { valuesFile: { imagePullSecrets: [{ secret: 'x' }] } },
      [/\/imagePullSecrets\/0/],
    ],
    [
      'a tests.image.registry with a scheme',
      { set: { 'tests.image.registry': 'http://tools' } },
      [/\/tests\/image\/registry/, /pattern/],
    ],
  ])('refuses %s', (_name, sets, messages) => {
    expectRejected(sets, messages);
  });
});

describe('namespaceOverride', () => {
  const objects = () => render({ set: { namespaceOverride: 'kube9-elsewhere' } });

  it('puts every namespaced object there, the RBAC subjects, the scoped cluster names and the alerts included', () => {
    const rendered = render({
      set: {
        namespaceOverride: 'kube9-elsewhere',
        apiKey: 'kdy_prod_abc123',
        replicaCount: 2,
        'metrics.prometheusRule.enabled': true,
      },
    });
    for (const o of rendered.filter((o) => !o.kind.startsWith('Cluster'))) {
      expect({ object: `${o.kind}/${o.metadata.name}`, namespace: o.metadata.namespace }).toEqual({
        object: `${o.kind}/${o.metadata.name}`,
        namespace: 'kube9-elsewhere',
      });
    }
    expect(only<V1RoleBinding>(rendered, 'RoleBinding').subjects![0].namespace).toBe('kube9-elsewhere');
    expect(find(rendered, 'ClusterRole', `${FULLNAME}-kube9-elsewhere`)).toBeDefined();
    const rule = only<Rendered>(rendered, 'PrometheusRule');
    expect(JSON.stringify(rule.spec)).toContain('namespace=\\"kube9-elsewhere\\"');
    expect(JSON.stringify(rule.spec)).not.toContain(NAMESPACE);
  });

  it('leaves the release namespace by default', () => {
    expect(only<V1Role>(render(), 'Role').metadata!.namespace).toBe(NAMESPACE);
    expect(only<V1Role>(objects(), 'Role').metadata!.namespace).toBe('kube9-elsewhere');
  });

  it('refuses a name that is no namespace', () => {
    expectRejected({ set: { namespaceOverride: 'Kube9_System' } }, [/\/namespaceOverride/, /pattern/]);
  });
});

describe('deploymentAnnotations, service and serviceAccount metadata', () => {
  it('annotates the Deployment, not its pods', () => {
    const deployment = deploymentOf(
      render({ setString: { 'deploymentAnnotations.reloader\\.stakater\\.com/auto': 'true' } }),
    );
    expect(deployment.metadata!.annotations).toEqual({ 'reloader.stakater.com/auto': 'true' });
    expect(deployment.spec!.template.metadata!.annotations!['reloader.stakater.com/auto']).toBeUndefined();
  });

  it("puts the Service's annotations, labels and IP families on it, keeping its own labels and selector", () => {
    const service = only<V1Service>(
      render({
        valuesFile: {
          service: {
            annotations: { 'service.beta.kubernetes.io/aws-load-balancer-internal': 'true' },
            labels: { team: 'platform' },
            ipFamilyPolicy: 'PreferDualStack',
            ipFamilies: ['IPv6', 'IPv4'],
          },
        },
      }),
      'Service',
    );
    expect(service.metadata!.annotations).toEqual({ 'service.beta.kubernetes.io/aws-load-balancer-internal': 'true' });
    expect(service.metadata!.labels).toMatchObject({ ...SELECTOR, team: 'platform' });
    expect(service.spec!.ipFamilyPolicy).toBe('PreferDualStack');
    expect(service.spec!.ipFamilies).toEqual(['IPv6', 'IPv4']);
    expect(service.spec!.selector).toEqual(SELECTOR);
    const plain = only<V1Service>(render(), 'Service');
    expect([plain.metadata!.annotations, plain.spec!.ipFamilyPolicy, plain.spec!.ipFamilies]).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it("puts the ServiceAccount's labels and annotations on it", () => {
    const account = only<V1ServiceAccount>(
      render({
        valuesFile: {
          serviceAccount: {
            labels: { team: 'platform' },
            annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/k9' },
          },
        },
      }),
      'ServiceAccount',
    );
    expect(account.metadata!.labels).toMatchObject({ ...SELECTOR, team: 'platform' });
    expect(account.metadata!.annotations).toEqual({ 'eks.amazonaws.com/role-arn': 'arn:aws:iam::1:role/k9' });
  });

  it.each<[string, Sets, RegExp[]]>([
    [
      'a Service label the chart sets (the ServiceMonitor would lose it)',
      { valuesFile: { service: { labels: { 'app.kubernetes.io/name': 'other' } } } },
      [/service\.labels: "app.kubernetes.io\/name" is a label the chart sets itself/],
    ],
    [
      'a ServiceAccount label the chart sets',
      { valuesFile: { serviceAccount: { labels: { 'app.kubernetes.io/instance': 'other' } } } },
      [/serviceAccount\.labels: "app.kubernetes.io\/instance" is a label the chart sets itself/],
    ],
    [
      'a Service label value that is no label value',
      { valuesFile: { service: { labels: { team: 'a b' } } } },
      [/\/service\/labels\/team/, /pattern/],
    ],
    [
      'an ipFamilyPolicy outside the enum',
      { set: { 'service.ipFamilyPolicy': 'DualStack' } },
      [/\/service\/ipFamilyPolicy/, /'SingleStack', 'PreferDualStack', 'RequireDualStack'/],
    ],
    [
      'an IP family outside the enum',
      { valuesFile: { service: { ipFamilies: ['IPv5'] } } },
      [/\/service\/ipFamilies\/0/, /'IPv4', 'IPv6'/],
    ],
    [
      'the same IP family twice',
      { valuesFile: { service: { ipFamilies: ['IPv4', 'IPv4'] } } },
      [/\/service\/ipFamilies/, /equal|unique/],
    ],
    [
      'a deployment annotation that is not a string',
      { valuesFile: { deploymentAnnotations: { replicas: 2 } } },
      [/\/deploymentAnnotations\/replicas/, /want string/],
    ],
    [
      'a ServiceAccount annotation that is not a string',
      { valuesFile: { serviceAccount: { annotations: { a: true } } } },
      [/\/serviceAccount\/annotations\/a/, /want string/],
    ],
  ])('refuses %s', (_name, sets, messages) => {
    expectRejected(sets, messages);
  });
});

describe('podDisruptionBudget', () => {
  const pdb = (sets: Sets) => find<V1PodDisruptionBudget>(render(sets), 'PodDisruptionBudget');

  it('keeps the automatic default: none with one replica, maxUnavailable 1 with more', () => {
    expect(pdb({})).toBeUndefined();
    expect(pdb({ set: { replicaCount: 2 } })!.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: SELECTOR } });
  });

  it('enabled true renders one even with one replica; false renders none even with two', () => {
    expect(pdb({ set: { 'podDisruptionBudget.enabled': true } })!.spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: SELECTOR },
    });
    expect(pdb({ set: { 'podDisruptionBudget.enabled': false, replicaCount: 3 } })).toBeUndefined();
  });

  it('minAvailable wins over maxUnavailable; percentages, 0 and the eviction policy pass through', () => {
    expect(pdb({ valuesFile: { replicaCount: 3, podDisruptionBudget: { minAvailable: '50%' } } })!.spec).toEqual({
      minAvailable: '50%',
      selector: { matchLabels: SELECTOR },
    });
    expect(
      pdb({ valuesFile: { replicaCount: 3, podDisruptionBudget: { minAvailable: 0, maxUnavailable: 2 } } })!.spec!
        .minAvailable,
    ).toBe(0);
    expect(
      pdb({
        valuesFile: {
          replicaCount: 3,
          podDisruptionBudget: { maxUnavailable: '34%', unhealthyPodEvictionPolicy: 'AlwaysAllow' },
        },
      })!.spec,
    ).toEqual({
      maxUnavailable: '34%',
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
      selector: { matchLabels: SELECTOR },
    });
  });

  it.each<[string, Sets, RegExp[]]>([
    [
      'enabled as a string',
      { setString: { 'podDisruptionBudget.enabled': 'yes' } },
      [/\/podDisruptionBudget\/enabled/, /want boolean|null/],
    ],
    [
      'minAvailable that is no percentage',
      { setString: { 'podDisruptionBudget.minAvailable': 'half' } },
      [/\/podDisruptionBudget\/minAvailable/],
    ],
    [
      'a negative maxUnavailable',
      { set: { 'podDisruptionBudget.maxUnavailable': -1 } },
      [/\/podDisruptionBudget\/maxUnavailable/, /minimum/],
    ],
    [
      'an eviction policy outside the enum',
      { set: { 'podDisruptionBudget.unhealthyPodEvictionPolicy': 'Never' } },
      [/\/podDisruptionBudget\/unhealthyPodEvictionPolicy/, /'IfHealthyBudget', 'AlwaysAllow'/],
    ],
    [
      'an unknown key',
      { set: { 'podDisruptionBudget.maxUnavaliable': 1 } },
      [/\/podDisruptionBudget/, /additional properties 'maxUnavaliable'/],
    ],
  ])('refuses %s', (_name, sets, messages) => {
    expectRejected(sets, messages);
  });
});

describe('ServiceMonitor and PodMonitor: relabelings, metricRelabelings, namespace, annotations, targetLabels', () => {
  const relabelings = [{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node', action: 'replace' }];
  const metricRelabelings = [{ sourceLabels: ['__name__'], regex: 'nodejs_.*', action: 'drop' }];
  const monitor = {
    enabled: true,
    namespace: 'monitoring',
    annotations: { owner: 'platform' },
    relabelings,
    metricRelabelings,
    targetLabels: ['team'],
  };

  it.each([
    ['ServiceMonitor', 'serviceMonitor', 'endpoints', 'targetLabels'],
    ['PodMonitor', 'podMonitor', 'podMetricsEndpoints', 'podTargetLabels'],
  ])(
    '%s: in its own namespace, still scraping the release namespace, with the relabelings on its endpoint',
    (kind, key, endpoints, targetField) => {
      const object = only<Rendered>(render({ valuesFile: { metrics: { [key]: monitor } } }), kind);
      expect(object.metadata.namespace).toBe('monitoring');
      expect(object.metadata.annotations).toEqual({ owner: 'platform' });
      expect(object.spec.namespaceSelector).toEqual({ matchNames: [NAMESPACE] });
      expect(object.spec[targetField]).toEqual(['team']);
      expect(object.spec[endpoints]).toEqual([
        {
          port: 'http',
          path: '/metrics',
          scheme: 'http',
          interval: '30s',
          scrapeTimeout: '10s',
          relabelings,
          metricRelabelings,
        },
      ]);
    },
  );

  it('renders none of them by default', () => {
    const object = only<Rendered>(render({ set: { 'metrics.serviceMonitor.enabled': true } }), 'ServiceMonitor');
    expect(object.metadata.namespace).toBe(NAMESPACE);
    expect(object.metadata.annotations).toBeUndefined();
    expect(object.spec.targetLabels).toBeUndefined();
    expect(object.spec.endpoints[0].relabelings).toBeUndefined();
  });

  it.each<[string, Sets, RegExp[]]>([
    [
      'a relabeling action Prometheus does not know',
      { valuesFile: { metrics: { serviceMonitor: { relabelings: [{ action: 'remove' }] } } } },
      [/\/metrics\/serviceMonitor\/relabelings\/0\/action/, /'replace'/],
    ],
    [
      "Prometheus' own snake_case key (the Prometheus Operator's is sourceLabels)",
      { valuesFile: { metrics: { podMonitor: { metricRelabelings: [{ source_labels: ['__name__'] }] } } } },
      [/\/metrics\/podMonitor\/metricRelabelings\/0/, /additional properties 'source_labels'/],
    ],
    [
      'a source label that is no label name',
      { valuesFile: { metrics: { serviceMonitor: { relabelings: [{ sourceLabels: ['pod-name'] }] } } } },
      [/\/metrics\/serviceMonitor\/relabelings\/0\/sourceLabels\/0/, /pattern/],
    ],
    [
      'a namespace that is no namespace',
      { set: { 'metrics.podMonitor.namespace': 'Monitoring' } },
      [/\/metrics\/podMonitor\/namespace/, /pattern/],
    ],
    [
      'a target label that is no label key',
      { valuesFile: { metrics: { serviceMonitor: { targetLabels: ['bad key'] } } } },
      [/\/metrics\/serviceMonitor\/targetLabels\/0/, /pattern/],
    ],
  ])('refuses %s', (_name, sets, messages) => {
    expectRejected(sets, messages);
  });
});

describe('PrometheusRule additionalRules and annotations', () => {
  const additionalRules = [
    {
      alert: 'Kube9OperatorDown',
      expr: 'absent(up{job="kube9-operator"} == 1)',
      for: '5m',
      labels: { severity: 'critical' },
    },
    { record: 'kube9:status_writes:rate5m', expr: 'rate(kube9_operator_status_writes_total[5m])' },
  ];

  it("appends them to the chart's group, after its two alerts, and annotates the rule", () => {
    const rule = only<Rendered>(
      render({
        valuesFile: { metrics: { prometheusRule: { enabled: true, annotations: { owner: 'sre' }, additionalRules } } },
      }),
      'PrometheusRule',
    );
    expect(rule.metadata.annotations).toEqual({ owner: 'sre' });
    const rules = rule.spec.groups[0].rules as Record<string, unknown>[];
    expect(rules.map((r) => r.alert ?? r.record)).toEqual([
      'Kube9OperatorStatusNotWritten',
      'Kube9OperatorRegistrationFailing',
      'Kube9OperatorDown',
      'kube9:status_writes:rate5m',
    ]);
    expect(rules.slice(2)).toEqual(additionalRules);
  });

  it.each<[string, unknown, RegExp[]]>([
    [
      'a rule without expr',
      { alert: 'X' },
      [/\/metrics\/prometheusRule\/additionalRules\/0/, /missing property 'expr'/],
    ],
    [
      'a rule that is both an alert and a record',
      { alert: 'X', record: 'x', expr: 'up' },
      [/\/metrics\/prometheusRule\/additionalRules\/0/, /oneOf/],
    ],
    ['a rule that is neither', { expr: 'up' }, [/\/metrics\/prometheusRule\/additionalRules\/0/]],
    [
      'an alert name with a space',
      { alert: 'Kube9 Down', expr: 'up == 0' },
      [/\/metrics\/prometheusRule\/additionalRules\/0\/alert/, /pattern/],
    ],
    [
      'a for that is no duration',
      { alert: 'X', expr: 'up == 0', for: '5 minutes' },
      [/\/metrics\/prometheusRule\/additionalRules\/0\/for/, /pattern/],
    ],
  ])('refuses %s', (_name, rule, messages) => {
    expectRejected({ valuesFile: { metrics: { prometheusRule: { additionalRules: [rule] } } } }, messages);
  });
});

describe('extraObjects', () => {
  it('renders objects and YAML strings, each through tpl', () => {
    const objects = render({
      valuesFile: {
        extraObjects: [
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: '{{ include "kube9-operator.fullname" . }}-dashboards' },
            data: { ns: '{{ .Release.Namespace }}' },
          },
          'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-notes\ndata:\n  chart: {{ .Chart.Version | quote }}\n',
        ],
      },
    }) as Rendered[];
    expect(find<Rendered>(objects, 'ConfigMap', `${FULLNAME}-dashboards`)!.data).toEqual({ ns: NAMESPACE });
    expect(find<Rendered>(objects, 'ConfigMap', `${RELEASE}-notes`)!.data).toEqual({ chart: chart.version });
  });

  it.each<[string, unknown[], RegExp[]]>([
    ['an object without kind', [{ apiVersion: 'v1', metadata: { name: 'x' } }], [/\/extraObjects\/0/]],
    ['a number', [5], [/\/extraObjects\/0/]],
    [
      'an object whose metadata has no name',
      [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: {} }],
      [/\/extraObjects\/0/],
    ],
  ])('refuses %s', (_name, extraObjects, messages) => {
    expectRejected({ valuesFile: { extraObjects } }, messages);
  });
});

describe("OpenShift's restricted-v2 (global.compatibility.openshift.adaptSecurityContext)", () => {
  const OPENSHIFT = ['--api-versions', 'security.openshift.io/v1'];
  const UID_FIELDS = ['runAsUser', 'runAsGroup', 'fsGroup'];
  const uidFields = (objects: K8sObject[]) => {
    const pod = deploymentOf(objects).spec!.template.spec!;
    const contexts = [pod.securityContext, pod.containers[0].securityContext, testPod(objects).spec!.securityContext];
    return contexts.flatMap((context) => UID_FIELDS.filter((field) => field in (context ?? {})));
  };

  it.each<[string, string, string[], boolean]>([
    ['auto, outside OpenShift: the uid 1000 as before', 'auto', [], false],
    ['auto, on OpenShift: no uid or gid, the platform assigns them', 'auto', OPENSHIFT, true],
    ['force: no uid or gid anywhere', 'force', [], true],
    ['disabled, on OpenShift: the uid 1000 as before', 'disabled', OPENSHIFT, false],
  ])('%s', (_name, mode, flags, adapted) => {
    const objects = renderWith({ set: { 'global.compatibility.openshift.adaptSecurityContext': mode } }, flags);
    if (adapted) expect(uidFields(objects)).toEqual([]);
    else expect(uidFields(objects).length).toBeGreaterThanOrEqual(5);
    // Either way: non-root, no escalation, no capabilities, seccomp: the restricted Pod Security Standard.
    const pod = deploymentOf(objects).spec!.template.spec!;
    expect(restrictedViolations(pod)).toEqual([]);
    expect(pod.securityContext!.runAsNonRoot).toBe(true);
    expect(operatorContainer(deploymentOf(objects)).securityContext).toMatchObject({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('refuses a mode outside the enum', () => {
    expectRejected({ set: { 'global.compatibility.openshift.adaptSecurityContext': 'yes' } }, [
      /\/global\/compatibility\/openshift\/adaptSecurityContext/,
      /'auto', 'force', 'disabled'/,
    ]);
  });
});

describe('helm upgrade --reuse-values from a chart without these values', () => {
  /**
   * `--reuse-values` renders the new templates with the previous release's chart values, in which
   * none of this file's values exist: this copy of the chart has the values.yaml of chart 0.1.0
   * (today's without them).
   */
  it('renders every object, each absent value at its default (the startupProbe, the automatic PodDisruptionBudget)', () => {
    const copy = scratchPath('previous-values-chart');
    cpSync(CHART, copy, { recursive: true });
    const previous = JSON.parse(JSON.stringify(values)) as Record<string, any>;
    for (const key of [
      'global',
      'namespaceOverride',
      'deploymentAnnotations',
      'startupProbe',
      'runtimeClassName',
      'terminationGracePeriodSeconds',
      'hostAliases',
      'dnsPolicy',
      'dnsConfig',
      'podDisruptionBudget',
      'extraObjects',
    ])
      delete previous[key];
    delete previous.valuesGeneration;
    delete previous.image.registry;
    delete previous.tests.image.registry;
    delete previous.serviceAccount.labels;
    for (const key of ['annotations', 'labels', 'ipFamilyPolicy', 'ipFamilies']) delete previous.service[key];
    for (const monitor of [previous.metrics.serviceMonitor, previous.metrics.podMonitor]) {
      for (const key of ['annotations', 'namespace', 'relabelings', 'metricRelabelings', 'targetLabels'])
        delete monitor[key];
    }
    delete previous.metrics.prometheusRule.annotations;
    delete previous.metrics.prometheusRule.additionalRules;
    writeFileSync(join(copy, 'values.yaml'), yaml.dump(previous));

    const result = helm([
      'template',
      RELEASE,
      copy,
      '--namespace',
      NAMESPACE,
      ...setArgs({
        set: {
          replicaCount: 2,
          apiKey: 'kdy_prod_abc123',
          'metrics.serviceMonitor.enabled': true,
          'metrics.prometheusRule.enabled': true,
        },
      }),
    ]);
    expect(result.stderr).toBe('');
    const objects = (yaml.loadAll(result.stdout) as Rendered[]).filter(Boolean);
    const deployment = deploymentOf(objects);
    expect(operatorContainer(deployment).image).toBe(`ghcr.io/alto9/kube9-operator:${chart.appVersion}`);
    expect(operatorContainer(deployment).startupProbe).toEqual(values.startupProbe);
    expect(deployment.spec!.template.spec!.terminationGracePeriodSeconds).toBe(values.terminationGracePeriodSeconds);
    expect(only<V1PodDisruptionBudget>(objects, 'PodDisruptionBudget').spec!.maxUnavailable).toBe(1);
    expect(testPod(objects).spec!.containers[0].image).toBe(`busybox:${values.tests.image.tag}`);
    for (const o of objects.filter((o) => !o.kind.startsWith('Cluster'))) expect(o.metadata.namespace).toBe(NAMESPACE);
  });
});

/** Every value of this file set at once; the objects they name are in `namespace` (and `monitoring`). */
function everyValue(namespace: string, monitoring: string, runtimeClass: string): Record<string, unknown> {
  const relabelings = [{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' }];
  const metricRelabelings = [{ sourceLabels: ['__name__'], regex: 'nodejs_.*', action: 'drop' }];
  const monitor = {
    enabled: true,
    namespace: monitoring,
    annotations: { owner: 'platform' },
    relabelings,
    metricRelabelings,
    targetLabels: ['team'],
  };
  return {
    global: { imageRegistry: 'registry.corp.example:5000', imagePullSecrets: ['mirror-cred'] },
    image: { digest: DIGEST },
    imagePullSecrets: [{ name: 'regcred' }],
    namespaceOverride: namespace,
    replicaCount: 2,
    deploymentAnnotations: { 'reloader.stakater.com/auto': 'true' },
    service: {
      annotations: { 'example.com/owner': 'platform' },
      labels: { team: 'platform' },
      ipFamilyPolicy: 'SingleStack',
      ipFamilies: ['IPv4'],
    },
    serviceAccount: { labels: { team: 'platform' }, annotations: { 'example.com/role': 'kube9' } },
    podLabels: { team: 'platform' },
    podDisruptionBudget: { enabled: true, minAvailable: '50%', unhealthyPodEvictionPolicy: 'AlwaysAllow' },
    hostAliases: [{ ip: '10.0.0.5', hostnames: ['api.kube9.dev'] }],
    dnsPolicy: 'None',
    dnsConfig: { nameservers: ['10.0.0.53'], searches: ['corp.example'], options: [{ name: 'ndots', value: '2' }] },
    runtimeClassName: runtimeClass,
    terminationGracePeriodSeconds: 45,
    // The remaining optional objects, so that the dry run sees every template.
    apiKey: TEST_KEYS.valid,
    networkPolicy: { enabled: true },
    metrics: {
      serviceMonitor: monitor,
      podMonitor: monitor,
      prometheusRule: {
        enabled: true,
        annotations: { owner: 'sre' },
        additionalRules: [
          {
            alert: 'Kube9OperatorDown',
            expr: 'up{job="kube9-operator"} == 0',
            for: '5m',
            labels: { severity: 'critical' },
          },
        ],
      },
    },
    extraObjects: [
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: '{{ include "kube9-operator.fullname" . }}-extra',
          namespace: '{{ .Values.namespaceOverride }}',
        },
        data: { release: '{{ .Release.Name }}' },
      },
    ],
  };
}

describe('helm lint --strict', () => {
  it('passes with every value of this file set', () => {
    const result = lint({ valuesFile: everyValue('kube9-system', 'monitoring', 'gvisor') });
    expect(`${result.stdout}${result.stderr}`).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.status).toBe(0);
  });
});

/**
 * Against the test control plane: every object rendered with all these values is accepted in
 * a server-side dry run (validated by the API server, the monitoring objects by the Prometheus
 * Operator's CRD schemas), and the pod the Deployment would create is admitted by the
 * restricted Pod Security Standard, with and without the OpenShift adaptation.
 */
const describeWithCluster = process.env.KUBE9_TEST_KUBECONFIG ? describe : describe.skip;

describeWithCluster('accepted by the API server (server-side dry run)', () => {
  const restricted = {
    'pod-security.kubernetes.io/enforce': 'restricted',
    'pod-security.kubernetes.io/enforce-version': 'latest',
  };
  let namespace: string;
  let monitoring: string;
  let runtimeClass: string;
  let crds: string[] = [];

  beforeAll(async () => {
    const kc = adminKubeConfig();
    crds = await installPrometheusOperatorCrds(kc);
    namespace = await createTestNamespace('helm-anchor', restricted);
    monitoring = await createTestNamespace('helm-anchor-mon');
    runtimeClass = `${namespace}-runc`;
    await kc
      .makeApiClient(NodeV1Api)
      .createRuntimeClass({ body: { metadata: { name: runtimeClass }, handler: 'runc' } });
  }, 60_000);

  afterAll(async () => {
    const kc = adminKubeConfig();
    await kc
      .makeApiClient(NodeV1Api)
      .deleteRuntimeClass({ name: runtimeClass })
      .catch(() => undefined);
    if (namespace) await deleteTestNamespace(namespace);
    if (monitoring) await deleteTestNamespace(monitoring);
    await deletePrometheusOperatorCrds(kc, crds);
  });

  /**
   * Renders for a release in `default` (namespaceOverride moves it) for this cluster's Kubernetes
   * version, as `helm install` would, and dry-runs every object as rendered, strictly: a field the
   * API server does not know fails (StrictDryRun).
   */
  async function dryRunAll(sets: Sets): Promise<{ objects: Rendered[]; refused: string[] }> {
    const flags = ['--namespace', 'default', '--kube-version', requiredEnv('KUBE9_TEST_KUBERNETES_VERSION')];
    const result = helm(['template', RELEASE, CHART, ...flags, ...setArgs(sets)]);
    if (result.status !== 0) throw new Error(result.stderr);
    const objects = (yaml.loadAll(result.stdout) as Rendered[]).filter(Boolean);
    const api = StrictDryRun.forKubeConfig(adminKubeConfig());
    const refused: string[] = [];
    for (const object of objects) {
      await api.dryRun(object).catch((err: Error) => {
        refused.push(`${object.kind}/${object.metadata.name}: ${err.message.slice(0, 600)}`);
      });
    }
    return { objects, refused };
  }

  /**
   * The Deployment's pod as the ReplicaSet would create it, dry-run: the Pod Security admission
   * judges it. Its ServiceAccount must exist for the ServiceAccount admission: it is created for real.
   */
  async function dryRunPod(deployment: V1Deployment): Promise<void> {
    const { template: podTemplate } = deployment.spec!;
    const namespace = deployment.metadata!.namespace!;
    const serviceAccount = podTemplate.spec!.serviceAccountName!;
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: serviceAccount } } });
    try {
      await core.createNamespacedPod({
        namespace,
        dryRun: 'All',
        body: {
          metadata: { ...podTemplate.metadata, name: `${deployment.metadata!.name}-dry-run` },
          spec: podTemplate.spec,
        },
      });
    } finally {
      await core.deleteNamespacedServiceAccount({ namespace, name: serviceAccount });
    }
  }

  it('accepts every object rendered with every value of this file, and admits its pod', async () => {
    const { objects, refused } = await dryRunAll({ valuesFile: everyValue(namespace, monitoring, runtimeClass) });

    expect(refused).toEqual([]);
    const kinds = objects.map((o) => `${o.kind} ${o.metadata.namespace ?? ''}`);
    for (const kind of [
      `Deployment ${namespace}`,
      `PodDisruptionBudget ${namespace}`,
      `NetworkPolicy ${namespace}`,
      `Secret ${namespace}`,
      `ServiceMonitor ${monitoring}`,
      `PodMonitor ${monitoring}`,
      `PrometheusRule ${namespace}`,
      `ConfigMap ${namespace}`,
    ]) {
      expect(kinds).toContain(kind);
    }
    await expect(dryRunPod(deploymentOf(objects))).resolves.toBeUndefined();
  });

  it.each(['auto', 'force'])('admits the pods under restricted with adaptSecurityContext=%s', async (mode) => {
    const { objects, refused } = await dryRunAll({
      set: { namespaceOverride: namespace, 'global.compatibility.openshift.adaptSecurityContext': mode },
    });
    expect(refused).toEqual([]);
    await expect(dryRunPod(deploymentOf(objects))).resolves.toBeUndefined();
    // The helm test pod, dry-run the same way.
    const pod = testPod(objects);
    await expect(
      adminKubeConfig().makeApiClient(CoreV1Api).createNamespacedPod({ namespace, dryRun: 'All', body: pod }),
    ).resolves.toBeDefined();
  });

  it("the dry run can fail: the Prometheus Operator's CRD refuses a ServiceMonitor endpoint scheme other than http or https", async () => {
    const monitor = only<Rendered>(render({ set: { 'metrics.serviceMonitor.enabled': true } }), 'ServiceMonitor');
    monitor.metadata.namespace = namespace;
    monitor.spec.endpoints[0].scheme = 'gopher';
    await expect(StrictDryRun.forKubeConfig(adminKubeConfig()).dryRun(monitor)).rejects.toThrow(/scheme/);
  });

  it('the dry run can fail: a field this API server does not know is refused by name, not dropped', async () => {
    const pdb = only<Rendered>(render({ set: { 'podDisruptionBudget.enabled': true } }), 'PodDisruptionBudget');
    pdb.metadata.namespace = namespace;
    pdb.spec.notAField = 'x';
    await expect(StrictDryRun.forKubeConfig(adminKubeConfig()).dryRun(pdb)).rejects.toThrow(
      /strict decoding error: unknown field \W*spec\.notAField/,
    );
  });
});
