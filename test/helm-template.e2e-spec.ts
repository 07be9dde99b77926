/**
 * The Helm chart (SPEC section 5), rendered by the real helm v3 client: no
 * cluster needed. `helm lint --strict`, `helm template`, and the schema's and
 * templates' rejections of bad values.
 *
 *   npx jest --config test/jest-e2e.config.js test/helm-template.e2e-spec.ts
 *
 * The helm binary: KUBE9_TEST_HELM, else .cache/bin/current/helm (built by
 * test/controlplane/build.sh).
 */
import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1Deployment,
  V1Pod,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
  V1Secret,
  V1Service,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { ApiException, AppsV1Api, CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import {
  API_KEY_FORMAT,
  REREGISTRATION_INTERVAL_HOURS,
  STATUS_UPDATE_INTERVAL_SECONDS,
} from '../src/modules/config/config.constants';
import { STATE_CONFIGMAP_NAME } from '../src/modules/registration/registration.constants';
import { STATUS_CONFIGMAP_NAME } from '../src/modules/status/status.constants';
import {
  CHART,
  deploymentOf,
  envOf,
  envValues,
  find,
  FULLNAME,
  helm,
  K8sObject,
  NAMESPACE,
  normaliseRules,
  only,
  operatorContainer,
  RELEASE,
  removeHelmScratch,
  render,
  restrictedViolations,
  ROOT,
  scratchPath,
  Sets,
  setArgs,
  template,
} from './support/helm-render';
import { adminKubeConfig, createTestNamespace, deleteTestNamespace, runHelm } from './support/kube';

const API_KEY = 'kdy_prod_abc123def456';

const chart = yaml.load(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as {
  version: string;
  appVersion: string;
};
const packageJson = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

afterAll(() => {
  removeHelmScratch();
});

/**
 * NOTES.txt as `helm install` would print it. `helm template` never renders
 * NOTES and `helm install --dry-run` needs a cluster, so a copy of the chart
 * turns NOTES.txt into a named template and renders it into a ConfigMap.
 */
function renderNotes(sets: Sets = {}): string {
  const copy = scratchPath('notes-chart');
  cpSync(CHART, copy, { recursive: true });
  const notes = readFileSync(join(copy, 'templates', 'NOTES.txt'), 'utf8');
  rmSync(join(copy, 'templates', 'NOTES.txt'));
  writeFileSync(
    join(copy, 'templates', '_notes-preview.tpl'),
    `{{- define "notes-preview" -}}\n${notes}\n{{- end }}\n`,
  );
  writeFileSync(
    join(copy, 'templates', 'notes-preview.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include "notes-preview" . | quote }}\n',
  );
  const result = helm([
    'template',
    RELEASE,
    copy,
    '--namespace',
    NAMESPACE,
    '--show-only',
    'templates/notes-preview.yaml',
    ...setArgs(sets),
  ]);
  expect(result.stderr).toBe('');
  return (yaml.load(result.stdout) as { data: { notes: string } }).data.notes;
}

function checksumOf(objects: K8sObject[]): string {
  return deploymentOf(objects).spec!.template.metadata!.annotations!['checksum/config'];
}

beforeAll(() => {
  const version = helm(['version', '--short']);
  expect(version.stdout).toMatch(/^v3\./);
});

describe('chart metadata', () => {
  it('is a Helm 3 chart whose appVersion is the operator version', () => {
    expect(chart.appVersion).toBe(packageJson.version);
    expect(chart.version).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('chart documentation', () => {
  // Kubernetes objects passed through whole: documented as one value each.
  const passThrough = new Set([
    'podSecurityContext',
    'securityContext',
    'startupProbe',
    'livenessProbe',
    'readinessProbe',
    'networkPolicy.egress.dns.to',
  ]);

  function leafPaths(values: Record<string, unknown>, prefix = ''): string[] {
    return Object.entries(values).flatMap(([key, value]) => {
      const path = `${prefix}${key}`;
      const isBranch =
        value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length > 0;
      return isBranch && !passThrough.has(path) ? leafPaths(value as Record<string, unknown>, `${path}.`) : [path];
    });
  }

  const valuesText = readFileSync(join(CHART, 'values.yaml'), 'utf8');
  const values = yaml.load(valuesText) as Record<string, unknown>;

  it('lists every value in the chart README', () => {
    const readme = readFileSync(join(CHART, 'README.md'), 'utf8');
    const undocumented = leafPaths(values).filter((path) => !readme.includes(`| \`${path}\` |`));
    expect(undocumented).toEqual([]);
  });

  it('has a comment above every value in values.yaml', () => {
    // Exempt: the insides of pass-through blocks, and the cpu/memory lines that
    // the comment on resources.requests / resources.limits describes.
    const exempt = (path: string[]) =>
      [...passThrough].some((block) => path.join('.').startsWith(`${block}.`)) ||
      (path[0] === 'resources' && path.length === 3);
    const lines = valuesText.split('\n');
    const stack: { indent: number; key: string }[] = [];
    const uncommented: string[] = [];
    lines.forEach((line, i) => {
      const match = /^(\s*)([A-Za-z][\w-]*):/.exec(line);
      if (!match) return;
      const indent = match[1].length;
      while (stack.length > 0 && stack[stack.length - 1].indent >= indent) stack.pop();
      stack.push({ indent, key: match[2] });
      const path = stack.map((entry) => entry.key);
      if (!exempt(path) && !/^\s*#/.test(lines[i - 1] ?? '')) uncommented.push(path.join('.'));
    });
    expect(uncommented).toEqual([]);
  });

  it('has a schema entry for every top-level value', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as {
      additionalProperties: boolean;
      properties: Record<string, unknown>;
    };
    expect(schema.additionalProperties).toBe(false);
    expect(Object.keys(values).filter((key) => !(key in schema.properties))).toEqual([]);
  });

  it('bounds the intervals exactly as the operator does, and checks the API key with its pattern', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as {
      properties: Record<string, { minimum?: number; maximum?: number }>;
    };
    const helpers = readFileSync(join(CHART, 'templates', '_helpers.tpl'), 'utf8');

    expect(schema.properties.statusUpdateIntervalSeconds).toMatchObject({
      minimum: STATUS_UPDATE_INTERVAL_SECONDS.min,
      maximum: STATUS_UPDATE_INTERVAL_SECONDS.max,
    });
    expect(schema.properties.reregistrationIntervalHours).toMatchObject({
      minimum: REREGISTRATION_INTERVAL_HOURS.min,
      maximum: REREGISTRATION_INTERVAL_HOURS.max,
    });
    expect(helpers).toContain(`regexMatch ${JSON.stringify(API_KEY_FORMAT.source)} .Values.apiKey`);
  });
});

describe('helm lint --strict', () => {
  it.each<[string, Sets]>([
    ['default values (free tier)', {}],
    ['with an apiKey', { set: { apiKey: API_KEY } }],
    ['with an existing Secret', { set: { existingSecret: 'my-key', existingSecretKey: 'token' } }],
    ['without RBAC or ServiceAccount', { set: { 'rbac.create': false, 'serviceAccount.create': false } }],
  ])('passes with %s', (_name, sets) => {
    const result = helm(['lint', '--strict', CHART, '--namespace', NAMESPACE, ...setArgs(sets)]);
    expect(`${result.stdout}${result.stderr}`).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.status).toBe(0);
  });
});

describe('default render (no API key)', () => {
  let objects: K8sObject[];

  beforeAll(() => {
    objects = render();
  });

  it('renders the expected objects and no Secret', () => {
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    expect(kinds).toEqual(
      [
        `ClusterRole/${FULLNAME}-${NAMESPACE}`,
        `ClusterRoleBinding/${FULLNAME}-${NAMESPACE}`,
        `Deployment/${FULLNAME}`,
        `Pod/${FULLNAME}-test-connection`,
        `Role/${FULLNAME}`,
        `RoleBinding/${FULLNAME}`,
        `Service/${FULLNAME}`,
        `ServiceAccount/${FULLNAME}`,
      ].sort(),
    );
    expect(find(objects, 'Secret')).toBeUndefined();
    expect(find(objects, 'ConfigMap')).toBeUndefined();
  });

  it('puts every namespaced object in the release namespace', () => {
    for (const o of objects.filter((o) => !o.kind.startsWith('Cluster'))) {
      expect({ object: `${o.kind}/${o.metadata.name}`, namespace: o.metadata.namespace }).toEqual({
        object: `${o.kind}/${o.metadata.name}`,
        namespace: NAMESPACE,
      });
    }
  });

  it('runs one replica with the Recreate strategy', () => {
    const deployment = deploymentOf(objects);
    expect(deployment.spec!.replicas).toBe(1);
    expect(deployment.spec!.strategy).toEqual({ type: 'Recreate' });
  });

  it('runs as the ServiceAccount with its token, without service links', () => {
    const pod = deploymentOf(objects).spec!.template.spec!;
    expect(pod.serviceAccountName).toBe(FULLNAME);
    expect(pod.automountServiceAccountToken).toBe(true);
    expect(pod.enableServiceLinks).toBe(false);
    const serviceAccount = only<V1ServiceAccount>(objects, 'ServiceAccount');
    expect(serviceAccount.metadata!.name).toBe(FULLNAME);
    expect(serviceAccount.automountServiceAccountToken).toBe(true);
  });

  it('has the secure pod and container security contexts', () => {
    const deployment = deploymentOf(objects);
    expect(deployment.spec!.template.spec!.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(operatorContainer(deployment).securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
  });

  it('passes the restricted Pod Security Standard (operator and test pods)', () => {
    expect(restrictedViolations(deploymentOf(objects).spec!.template.spec!)).toEqual([]);
    expect(restrictedViolations(only<V1Pod>(objects, 'Pod').spec!)).toEqual([]);
  });

  it('mounts an emptyDir at /tmp, the only writable path', () => {
    const deployment = deploymentOf(objects);
    const volumes = deployment.spec!.template.spec!.volumes ?? [];
    expect(volumes).toHaveLength(1);
    expect(volumes[0].name).toBe('tmp');
    expect(volumes[0].emptyDir).toBeDefined();
    expect(operatorContainer(deployment).volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
  });

  it('requests 100m/96Mi and limits the memory to 192Mi, not the CPU', () => {
    expect(operatorContainer(deploymentOf(objects)).resources).toEqual({
      requests: { cpu: '100m', memory: '96Mi' },
      limits: { memory: '192Mi' },
    });
  });

  it('uses the image at the chart appVersion', () => {
    const container = operatorContainer(deploymentOf(objects));
    expect(container.image).toBe(`ghcr.io/alto9/kube9-operator:${chart.appVersion}`);
    expect(container.imagePullPolicy).toBe('IfNotPresent');
  });

  it('names the container port http and probes /healthz and /readyz on it', () => {
    const container = operatorContainer(deploymentOf(objects));
    expect(container.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
    for (const probe of [container.livenessProbe!, container.readinessProbe!]) {
      expect(probe.periodSeconds).toBeGreaterThanOrEqual(5);
      expect(probe.timeoutSeconds).toBeGreaterThanOrEqual(1);
      expect(probe.failureThreshold).toBeGreaterThanOrEqual(3);
    }
  });

  it('sets exactly the environment of SPEC section 6, with no API key in it', () => {
    const deployment = deploymentOf(objects);
    const env = envOf(deployment);
    expect(Object.keys(env).sort()).toEqual(
      [
        'ALLOW_INSECURE_SERVER_URL',
        'API_KEY_SECRET_KEY',
        'API_KEY_SECRET_NAME',
        'LOG_LEVEL',
        'OPERATOR_DEPLOYMENT_NAME',
        'OPERATOR_NAMESPACE',
        'PORT',
        'REREGISTRATION_INTERVAL_HOURS',
        'SERVER_URL',
        'STATUS_UPDATE_INTERVAL_SECONDS',
      ].sort(),
    );
    expect(env.OPERATOR_NAMESPACE).toEqual({
      name: 'OPERATOR_NAMESPACE',
      valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } },
    });
    const { OPERATOR_NAMESPACE: _fromDownwardApi, ...literal } = envValues(deployment);
    expect(literal).toEqual({
      OPERATOR_DEPLOYMENT_NAME: FULLNAME,
      PORT: '8080',
      LOG_LEVEL: 'info',
      STATUS_UPDATE_INTERVAL_SECONDS: '60',
      REREGISTRATION_INTERVAL_HOURS: '24',
      SERVER_URL: 'https://api.kube9.dev',
      ALLOW_INSECURE_SERVER_URL: 'false',
      API_KEY_SECRET_NAME: FULLNAME,
      API_KEY_SECRET_KEY: 'apiKey',
    });
    expect(deployment.metadata!.name).toBe(FULLNAME);
    expect(operatorContainer(deployment).envFrom).toBeUndefined();
  });

  it('exposes port http on a ClusterIP Service selecting the operator', () => {
    const service = only<V1Service>(objects, 'Service');
    expect(service.metadata!.name).toBe(FULLNAME);
    expect(service.spec!.type).toBe('ClusterIP');
    expect(service.spec!.ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http', protocol: 'TCP' }]);
    expect(service.spec!.selector).toEqual({
      'app.kubernetes.io/name': 'kube9-operator',
      'app.kubernetes.io/instance': RELEASE,
    });
  });

  it('grants only list on nodes cluster-wide', () => {
    const clusterRole = only<V1ClusterRole>(objects, 'ClusterRole');
    expect(clusterRole.rules).toEqual([{ apiGroups: [''], resources: ['nodes'], verbs: ['list'] }]);
    const binding = only<V1ClusterRoleBinding>(objects, 'ClusterRoleBinding');
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: clusterRole.metadata!.name,
    });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: FULLNAME, namespace: NAMESPACE }]);
  });

  it('grants in its namespace only its ConfigMaps, events, key Secret and own Deployment', () => {
    const role = only<V1Role>(objects, 'Role');
    expect(normaliseRules(role.rules)).toEqual(
      normaliseRules([
        { apiGroups: [''], resources: ['configmaps'], verbs: ['create'] },
        {
          apiGroups: [''],
          resources: ['configmaps'],
          // The operator's own constants: a renamed ConfigMap that the Role misses fails here.
          resourceNames: [STATUS_CONFIGMAP_NAME, STATE_CONFIGMAP_NAME],
          verbs: ['update'],
        },
        { apiGroups: [''], resources: ['configmaps'], resourceNames: [STATE_CONFIGMAP_NAME], verbs: ['get'] },
        { apiGroups: [''], resources: ['events'], verbs: ['create'] },
        { apiGroups: [''], resources: ['secrets'], resourceNames: [FULLNAME], verbs: ['get', 'watch'] },
        { apiGroups: ['apps'], resources: ['deployments'], resourceNames: [FULLNAME], verbs: ['get'] },
      ]),
    );
    const binding = only<V1RoleBinding>(objects, 'RoleBinding');
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: FULLNAME });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: FULLNAME, namespace: NAMESPACE }]);
  });

  it('labels every object the helm create way, and selects on name and instance only', () => {
    for (const o of objects) {
      expect(o.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': 'kube9-operator',
        'app.kubernetes.io/instance': RELEASE,
        'app.kubernetes.io/version': chart.appVersion,
        'app.kubernetes.io/managed-by': 'Helm',
        'helm.sh/chart': `kube9-operator-${chart.version}`,
      });
    }
    const deployment = deploymentOf(objects);
    const selector = { 'app.kubernetes.io/name': 'kube9-operator', 'app.kubernetes.io/instance': RELEASE };
    expect(deployment.spec!.selector.matchLabels).toEqual(selector);
    expect(deployment.spec!.template.metadata!.labels).toMatchObject(selector);
  });

  it('has a helm test hook that GETs the status API through the Service, found by its service-link variables', () => {
    const pod = only<V1Pod>(objects, 'Pod');
    expect(pod.metadata!.annotations).toMatchObject({ 'helm.sh/hook': 'test' });
    expect(pod.spec!.restartPolicy).toBe('Never');
    const container = pod.spec!.containers[0];
    expect(container.image).toMatch(/^[^:]+:[0-9][^:]*$/); // pinned tag, not latest
    expect(container.env).toEqual([
      // Service links, expanded by the kubelet: no cluster DNS needed.
      {
        name: 'STATUS_URL',
        value: `http://$(KUBE9_OPERATOR_SERVICE_HOST):$(KUBE9_OPERATOR_SERVICE_PORT_HTTP)/api/v1/status`,
      },
    ]);
    expect(pod.spec!.enableServiceLinks).toBe(true);
    expect(container.command!.join(' ')).toContain('"mode"');
  });
});

describe('API key', () => {
  it('renders a Secret with the key, base64, under the key name, and never in the pod spec', () => {
    const objects = render({ set: { apiKey: API_KEY } });
    const secret = only<V1Secret>(objects, 'Secret');
    expect(secret.metadata!.name).toBe(FULLNAME);
    expect(secret.metadata!.namespace).toBe(NAMESPACE);
    expect(secret.type).toBe('Opaque');
    expect(secret.data).toEqual({ apiKey: Buffer.from(API_KEY).toString('base64') });
    const deployment = deploymentOf(objects);
    expect(envValues(deployment)).toMatchObject({ API_KEY_SECRET_NAME: FULLNAME, API_KEY_SECRET_KEY: 'apiKey' });
    expect(JSON.stringify(deployment)).not.toContain(API_KEY);
  });

  it('stores the key under existingSecretKey when that is changed', () => {
    const objects = render({ set: { apiKey: API_KEY, existingSecretKey: 'token' } });
    expect(only<V1Secret>(objects, 'Secret').data).toEqual({ token: Buffer.from(API_KEY).toString('base64') });
    expect(envValues(deploymentOf(objects))).toMatchObject({ API_KEY_SECRET_KEY: 'token' });
  });

  it('points at an existing Secret without rendering one', () => {
    const objects = render({ set: { existingSecret: 'my-kube9-key', existingSecretKey: 'token' } });
    expect(find(objects, 'Secret')).toBeUndefined();
    expect(envValues(deploymentOf(objects))).toMatchObject({
      API_KEY_SECRET_NAME: 'my-kube9-key',
      API_KEY_SECRET_KEY: 'token',
    });
    const secretRule = only<V1Role>(objects, 'Role').rules!.find((r) => r.resources!.includes('secrets'));
    expect(secretRule!.resourceNames).toEqual(['my-kube9-key']);
  });

  it('prefers existingSecret over apiKey', () => {
    const objects = render({ set: { apiKey: API_KEY, existingSecret: 'my-kube9-key' } });
    expect(find(objects, 'Secret')).toBeUndefined();
    expect(envValues(deploymentOf(objects)).API_KEY_SECRET_NAME).toBe('my-kube9-key');
  });
});

describe('names, image and service', () => {
  it('takes the image tag from image.tag when given', () => {
    const container = operatorContainer(
      deploymentOf(render({ set: { 'image.repository': 'registry.example/k9', 'image.tag': '9.9.9' } })),
    );
    expect(container.image).toBe('registry.example/k9:9.9.9');
  });

  it('prefixes names with the release name and scopes cluster objects by namespace', () => {
    const objects = helm(['template', 'prod', CHART, '--namespace', 'tools']);
    expect(objects.status).toBe(0);
    const rendered = yaml.loadAll(objects.stdout) as K8sObject[];
    expect(find(rendered, 'Deployment', 'prod-kube9-operator')).toBeDefined();
    expect(find(rendered, 'ClusterRole', 'prod-kube9-operator-tools')).toBeDefined();
    const deployment = find<V1Deployment>(rendered, 'Deployment')!;
    expect(envValues(deployment)).toMatchObject({
      OPERATOR_DEPLOYMENT_NAME: 'prod-kube9-operator',
      API_KEY_SECRET_NAME: 'prod-kube9-operator',
    });
  });

  it('honours fullnameOverride everywhere, including the Role resourceNames', () => {
    const objects = render({ set: { fullnameOverride: 'k9' } });
    const rules = only<V1Role>(objects, 'Role').rules!;
    expect(rules.find((r) => r.resources!.includes('deployments'))!.resourceNames).toEqual(['k9']);
    expect(rules.find((r) => r.resources!.includes('secrets'))!.resourceNames).toEqual(['k9']);
    expect(deploymentOf(objects).metadata!.name).toBe('k9');
  });

  it('renders service type and port, and PORT follows containerPort', () => {
    const objects = render({ set: { 'service.type': 'NodePort', 'service.port': 9090, containerPort: 8081 } });
    const service = only<V1Service>(objects, 'Service');
    expect(service.spec!.type).toBe('NodePort');
    expect(service.spec!.ports![0]).toMatchObject({ port: 9090, targetPort: 'http' });
    const deployment = deploymentOf(objects);
    expect(operatorContainer(deployment).ports![0].containerPort).toBe(8081);
    expect(envValues(deployment).PORT).toBe('8081');
  });

  it('renders no RBAC or ServiceAccount when told not to', () => {
    const objects = render({
      set: { 'rbac.create': false, 'serviceAccount.create': false, 'serviceAccount.name': 'mine' },
    });
    expect(objects.map((o) => o.kind).sort()).toEqual(['Deployment', 'Pod', 'Service']);
    expect(deploymentOf(objects).spec!.template.spec!.serviceAccountName).toBe('mine');
  });

  it('adds pod annotations, labels, node selector and tolerations', () => {
    const objects = render({
      set: {
        'podAnnotations.team': 'platform',
        'podLabels.tier': 'ops',
        'nodeSelector.kubernetes\\.io/os': 'linux',
        'tolerations[0].key': 'dedicated',
        'tolerations[0].operator': 'Exists',
      },
    });
    const template = deploymentOf(objects).spec!.template;
    expect(template.metadata!.annotations).toMatchObject({ team: 'platform' });
    expect(template.metadata!.labels).toMatchObject({ tier: 'ops' });
    expect(template.spec!.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(template.spec!.tolerations).toEqual([{ key: 'dedicated', operator: 'Exists' }]);
  });

  it('permits an http serverUrl only with allowInsecureServerUrl', () => {
    const objects = render({ set: { serverUrl: 'http://kube9-server.test:8080', allowInsecureServerUrl: true } });
    expect(envValues(deploymentOf(objects))).toMatchObject({
      SERVER_URL: 'http://kube9-server.test:8080',
      ALLOW_INSECURE_SERVER_URL: 'true',
    });
  });
});

describe('replicaCount and leader election', () => {
  const LEASE_RULES: V1PolicyRule[] = [
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    {
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      resourceNames: ['kube9-operator-leader'],
      verbs: ['get', 'update'],
    },
  ];
  const leaseRules = (role: V1Role) =>
    (role.rules ?? []).filter((rule) => rule.apiGroups?.includes('coordination.k8s.io'));

  it('replicaCount 2: a PDB of maxUnavailable 1, RollingUpdate, POD_NAME from the Downward API, election on', () => {
    const objects = render({ set: { replicaCount: 2 } });
    const pdb = only<{ spec: Record<string, unknown> }>(objects, 'PodDisruptionBudget');
    expect(pdb.spec).toEqual({
      maxUnavailable: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': 'kube9-operator', 'app.kubernetes.io/instance': RELEASE } },
    });
    const deployment = deploymentOf(objects);
    expect(deployment.spec!.replicas).toBe(2);
    expect(deployment.spec!.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
    });
    expect(envOf(deployment).POD_NAME).toEqual({
      name: 'POD_NAME',
      valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
    });
    expect(envValues(deployment).LEADER_ELECTION).toBe('true');
  });

  it('replicaCount 2: the Role grants the one Lease by name (get, update) plus create, and a watch of the status ConfigMap', () => {
    const role = only<V1Role>(render({ set: { replicaCount: 2 } }), 'Role');
    expect(normaliseRules(leaseRules(role))).toEqual(normaliseRules(LEASE_RULES));
    expect(normaliseRules(role.rules)).toContainEqual(
      normaliseRules([
        {
          apiGroups: [''],
          resources: ['configmaps'],
          resourceNames: ['kube9-operator-status'],
          verbs: ['watch'],
        },
      ])[0],
    );
  });

  it("replicaCount 2: a soft anti-affinity by default, none with podAntiAffinity=none, the user's affinity wins", () => {
    const soft = deploymentOf(render({ set: { replicaCount: 2 } })).spec!.template.spec!.affinity;
    expect(soft).toEqual({
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 100,
            podAffinityTerm: {
              topologyKey: 'kubernetes.io/hostname',
              labelSelector: {
                matchLabels: { 'app.kubernetes.io/name': 'kube9-operator', 'app.kubernetes.io/instance': RELEASE },
              },
            },
          },
        ],
      },
    });
    expect(soft!.podAntiAffinity!.requiredDuringSchedulingIgnoredDuringExecution).toBeUndefined();
    expect(
      deploymentOf(render({ set: { replicaCount: 2, podAntiAffinity: 'none' } })).spec!.template.spec!.affinity,
    ).toBeUndefined();
    const own = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: 'a', operator: 'Exists' }] }],
        },
      },
    };
    expect(
      deploymentOf(render({ valuesFile: { replicaCount: 3, affinity: own } })).spec!.template.spec!.affinity,
    ).toEqual(own);
  });

  it('replicaCount 1: no PDB, Recreate, no Lease rules, no POD_NAME or LEADER_ELECTION, no affinity', () => {
    const objects = render({ set: { replicaCount: 1 } });
    expect(find(objects, 'PodDisruptionBudget')).toBeUndefined();
    const deployment = deploymentOf(objects);
    expect(deployment.spec!.strategy).toEqual({ type: 'Recreate' });
    expect(leaseRules(only<V1Role>(objects, 'Role'))).toEqual([]);
    expect(envOf(deployment).POD_NAME).toBeUndefined();
    expect(envOf(deployment).LEADER_ELECTION).toBeUndefined();
    expect(deployment.spec!.template.spec!.affinity).toBeUndefined();
  });

  it.each([['0'], ['-1'], ['1.5']])('the schema rejects replicaCount=%s', (value) => {
    const result = template({ set: { replicaCount: value } });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('replicaCount');
  });

  it('the schema rejects a podAntiAffinity other than soft or none', () => {
    const result = template({ set: { replicaCount: 2, podAntiAffinity: 'hard' } });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('podAntiAffinity');
  });
});

describe('proxy and caBundle (SPEC sections 5 and 8)', () => {
  const PROXY = 'http://kube9:pr0xy-pass@proxy.corp:3128';

  it('renders no proxy variable, CA mount or volume by default', () => {
    const deployment = deploymentOf(render());
    const env = envOf(deployment);
    for (const name of ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY', 'NODE_EXTRA_CA_CERTS'])
      expect(env[name]).toBeUndefined();
    expect(deployment.spec!.template.spec!.volumes!.map((v) => v.name)).toEqual(['tmp']);
  });

  it('passes proxy.httpsProxy and proxy.noProxy as HTTPS_PROXY and NO_PROXY, and restarts the pod when they change', () => {
    const objects = render({ set: { 'proxy.httpsProxy': PROXY, 'proxy.noProxy': '.corp.example\\,10.0.0.1' } });
    expect(envValues(deploymentOf(objects))).toMatchObject({ HTTPS_PROXY: PROXY, NO_PROXY: '.corp.example,10.0.0.1' });
    expect(checksumOf(objects)).not.toBe(checksumOf(render()));
  });

  it('takes HTTPS_PROXY from proxy.existingSecret, which wins over proxy.httpsProxy, keeping the URL out of the Deployment', () => {
    const objects = render({
      set: { 'proxy.httpsProxy': PROXY, 'proxy.existingSecret': 'corp-proxy', 'proxy.existingSecretKey': 'url' },
    });
    const deployment = deploymentOf(objects);
    expect(envOf(deployment).HTTPS_PROXY).toEqual({
      name: 'HTTPS_PROXY',
      valueFrom: { secretKeyRef: { name: 'corp-proxy', key: 'url' } },
    });
    expect(JSON.stringify(objects)).not.toContain('pr0xy-pass');
  });

  it('mounts the caBundle key read-only from the ConfigMap and points NODE_EXTRA_CA_CERTS at it', () => {
    const deployment = deploymentOf(
      render({ set: { 'caBundle.configMapName': 'corp-ca', 'caBundle.key': 'root.pem' } }),
    );
    const spec = deployment.spec!.template.spec!;
    const volume = spec.volumes!.find((v) => v.name === 'ca-bundle');
    expect(volume).toEqual({
      name: 'ca-bundle',
      configMap: { name: 'corp-ca', items: [{ key: 'root.pem', path: 'ca.crt' }] },
    });
    const mount = operatorContainer(deployment).volumeMounts!.find((m) => m.name === 'ca-bundle');
    expect(mount).toEqual({ name: 'ca-bundle', mountPath: '/etc/kube9-operator/ca-bundle', readOnly: true });
    expect(envValues(deployment).NODE_EXTRA_CA_CERTS).toBe(`${mount!.mountPath}/${volume!.configMap!.items![0].path}`);
  });

  it('passes helm lint --strict with every proxy and caBundle value set', () => {
    const sets = setArgs({
      set: {
        'proxy.httpsProxy': PROXY,
        'proxy.noProxy': 'localhost',
        'proxy.existingSecret': 'corp-proxy',
        'caBundle.configMapName': 'corp-ca',
        'caBundle.key': 'ca.crt',
      },
    });
    const result = helm(['lint', '--strict', CHART, '--namespace', NAMESPACE, ...sets]);
    expect(`${result.stdout}${result.stderr}`).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it.each([
    ['without a scheme', 'kube9:pr0xy-pass@proxy.corp:3128'],
    ['that does not parse', 'http://kube9:pr0xy-pass@[proxy.corp:3128'],
    ['with a path', 'http://kube9:pr0xy-pass@proxy.corp:3128/squid'],
    ['of another scheme', 'socks5://kube9:pr0xy-pass@proxy.corp:1080'],
  ])(
    'rejects a proxy URL %s without echoing it (helm lint reports it, as it reports a template failure)',
    (_name, url) => {
      const rendered = template({ set: { 'proxy.httpsProxy': url } });
      expect(rendered.status).not.toBe(0);
      expect(rendered.stdout).toBe('');
      expect(rendered.stderr).toContain('proxy.httpsProxy: must be http:// or https://');
      expect(rendered.stderr).not.toContain('pr0xy-pass');
      // A template's fail is an [INFO] finding for helm lint, which still exits 0 (so it is for apiKey):
      // the schema cannot check the URL, since its pattern errors echo the value, password included.
      const linted = helm(['lint', '--strict', CHART, '--set', `proxy.httpsProxy=${url}`]);
      expect(`${linted.stdout}${linted.stderr}`).toContain('Fail: proxy.httpsProxy: must be http:// or https://');
      expect(`${linted.stdout}${linted.stderr}`).not.toContain('pr0xy-pass');
    },
  );

  it.each<[string, Sets, RegExp]>([
    ['a caBundle without a key', { set: { 'caBundle.configMapName': 'corp-ca' } }, /\/caBundle\/key/],
    [
      'a caBundle ConfigMap name that is not a DNS name',
      { set: { 'caBundle.configMapName': 'Corp_CA', 'caBundle.key': 'ca.crt' } },
      /\/caBundle\/configMapName/,
    ],
    ['a CIDR range in proxy.noProxy', { set: { 'proxy.noProxy': '10.0.0.0/8' } }, /\/proxy\/noProxy/],
    ['an unknown proxy value', { set: { 'proxy.httpProxy': 'http://proxy.corp:3128' } }, /httpProxy/],
  ])('the schema rejects %s, naming the value', (_name, sets, message) => {
    const result = template(sets);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });
});

describe('checksum/config annotation', () => {
  const baseline = () => checksumOf(render());

  it('is a sha256 of the start-up settings', () => {
    expect(baseline()).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each<[string, Sets]>([
    ['logLevel', { set: { logLevel: 'debug' } }],
    ['statusUpdateIntervalSeconds', { set: { statusUpdateIntervalSeconds: 30 } }],
    ['serverUrl', { set: { serverUrl: 'https://eu.api.kube9.dev' } }],
    ['existingSecret', { set: { existingSecret: 'other' } }],
  ])('changes when %s changes', (_name, sets) => {
    expect(checksumOf(render(sets))).not.toBe(baseline());
  });

  it('does not change when the API key is added or changed (the operator watches it)', () => {
    const withKey = checksumOf(render({ set: { apiKey: API_KEY } }));
    expect(withKey).toBe(baseline());
    expect(checksumOf(render({ set: { apiKey: 'kdy_dev_zzz999' } }))).toBe(withKey);
  });
});

describe('NOTES.txt', () => {
  it('tells how to read the tier from the ConfigMap and through the API server proxy', () => {
    const notes = renderNotes();
    expect(notes).toContain(
      `kubectl get configmap ${STATUS_CONFIGMAP_NAME} -n ${NAMESPACE} -o jsonpath='{.data.status}'`,
    );
    expect(notes).toContain(
      `kubectl get --raw /api/v1/namespaces/${NAMESPACE}/services/${FULLNAME}:http/proxy/api/v1/status`,
    );
    expect(notes).toContain('free tier');
    expect(notes).toContain(`helm test ${RELEASE} -n ${NAMESPACE}`);
  });

  it('names the key Secret, never the key', () => {
    const notes = renderNotes({ set: { apiKey: API_KEY } });
    expect(notes).toContain(`Secret ${FULLNAME}`);
    expect(notes).not.toContain(API_KEY);
  });

  it('names the image by its digest when image.digest is set', () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    expect(renderNotes({ set: { 'image.digest': digest } })).toMatch(
      new RegExp(`^kube9-operator \\(image ghcr.io/alto9/kube9-operator@${digest}\\) is installed`),
    );
    expect(renderNotes()).toMatch(new RegExp(`^kube9-operator ${chart.appVersion} is installed`));
  });

  it("warns when the NetworkPolicy's narrowed ingress would refuse the API server's service proxy", () => {
    const narrowed = { 'networkPolicy.enabled': true, 'networkPolicy.ingress.namespaceSelector.matchLabels.team': 'a' };
    expect(renderNotes({ set: narrowed })).toMatch(/WARNING: .*networkPolicy.egress.apiServer.cidrs/);
    expect(renderNotes({ set: { ...narrowed, 'networkPolicy.egress.apiServer.cidrs[0]': '10.0.0.1/32' } })).not.toMatch(
      /WARNING/,
    );
    expect(renderNotes({ set: { 'networkPolicy.enabled': true } })).not.toMatch(/WARNING/);
  });

  it('warns that apiKey is ignored next to existingSecret', () => {
    const notes = renderNotes({ set: { apiKey: API_KEY, existingSecret: 'my-kube9-key' } });
    expect(notes).toContain('Secret my-kube9-key');
    expect(notes).toMatch(/WARNING: apiKey is ignored/);
    expect(notes).not.toContain(API_KEY);
  });
});

describe('bad values are rejected with a message naming the value', () => {
  it.each<[string, Sets, RegExp[]]>([
    ['apiKey with the wrong format', { set: { apiKey: 'bogus' } }, [/apiKey/, /kdy_\(prod\|dev\)_/]],
    ['logLevel outside the enum', { set: { logLevel: 'verbose' } }, [/\/logLevel/, /'debug', 'info', 'warn', 'error'/]],
    [
      'statusUpdateIntervalSeconds below 10',
      { set: { statusUpdateIntervalSeconds: 5 } },
      [/\/statusUpdateIntervalSeconds/, /minimum/],
    ],
    [
      'statusUpdateIntervalSeconds as a string',
      { setString: { statusUpdateIntervalSeconds: '60' } },
      [/\/statusUpdateIntervalSeconds/, /got string, want integer/],
    ],
    [
      'statusUpdateIntervalSeconds not whole (values file)',
      { valuesFile: { statusUpdateIntervalSeconds: 60.5 } },
      [/\/statusUpdateIntervalSeconds/, /got number, want integer/],
    ],
    [
      'image.tag a float in a values file',
      { valuesFile: { image: { tag: 1.1 } } },
      [/\/image\/tag/, /got number, want string/],
    ],
    [
      'reregistrationIntervalHours 0',
      { set: { reregistrationIntervalHours: 0 } },
      [/\/reregistrationIntervalHours/, /minimum/],
    ],
    [
      'reregistrationIntervalHours above 720 (the operator would refuse to start)',
      { set: { reregistrationIntervalHours: 721 } },
      [/\/reregistrationIntervalHours/, /maximum/],
    ],
    [
      'statusUpdateIntervalSeconds above 240 (the operator would refuse to start)',
      { set: { statusUpdateIntervalSeconds: 241 } },
      [/\/statusUpdateIntervalSeconds/, /maximum/],
    ],
    [
      'serverUrl http:// without allowInsecureServerUrl',
      { set: { serverUrl: 'http://x' } },
      [/serverUrl/, /https:\/\//, /allowInsecureServerUrl/],
    ],
    ['serverUrl that is no URL', { set: { serverUrl: 'api.kube9.dev' } }, [/\/serverUrl/, /pattern/]],
    [
      'allowInsecureServerUrl as a string',
      { setString: { allowInsecureServerUrl: 'yes' } },
      [/\/allowInsecureServerUrl/, /want boolean/],
    ],
    ['an unknown top-level key', { set: { apiKeys: 'kdy_prod_abc' } }, [/additional properties 'apiKeys' not allowed/]],
    [
      'an unknown key inside resources',
      { set: { 'resources.limit.cpu': '1' } },
      [/\/resources/, /additional properties 'limit' not allowed/],
    ],
    [
      'an unknown key inside image',
      { set: { 'image.tags': 'x' } },
      [/\/image/, /additional properties 'tags' not allowed/],
    ],
    [
      'resources.limits.memory that is no quantity',
      { set: { 'resources.limits.memory': 'lots' } },
      [/\/resources\/limits\/memory/, /pattern/],
    ],
    [
      'resources.requests.cpu that is no quantity',
      { set: { 'resources.requests.cpu': 'fast' } },
      [/\/resources\/requests\/cpu/, /pattern/],
    ],
    [
      'service.type outside the enum',
      { set: { 'service.type': 'Foo' } },
      [/\/service\/type/, /'ClusterIP', 'NodePort', 'LoadBalancer'/],
    ],
    ['service.port out of range', { set: { 'service.port': 70000 } }, [/\/service\/port/, /maximum/]],
    [
      'image.pullPolicy outside the enum',
      { set: { 'image.pullPolicy': 'Sometimes' } },
      [/\/image\/pullPolicy/, /'Always', 'IfNotPresent', 'Never'/],
    ],
    ['image.tag given as a number', { set: { 'image.tag': 2 } }, [/\/image\/tag/, /want string/]],
    [
      'existingSecret that is no Kubernetes name',
      { set: { existingSecret: 'My_Secret' } },
      [/\/existingSecret/, /pattern/],
    ],
  ])('%s', (_name, sets, messages) => {
    const result = template(sets);
    expect(result.status).not.toBe(0);
    expect(result.stdout).toBe('');
    for (const message of messages) {
      expect(result.stderr).toMatch(message);
    }
  });

  it('never echoes a malformed API key (it may be a real key with a typo)', () => {
    const almostAKey = 'kdy_prod_Abc123SecretPart';
    const result = template({ set: { apiKey: almostAKey } });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/apiKey/);
    expect(result.stderr).not.toContain('Abc123SecretPart');
  });

  it('fails helm lint too', () => {
    const result = helm(['lint', '--strict', CHART, '--set', 'logLevel=verbose']);
    expect(result.status).not.toBe(0);
    expect(`${result.stdout}${result.stderr}`).toMatch(/\/logLevel/);
  });
});

/**
 * The chart's lifecycle against the real API server of the test control plane
 * (jest-e2e config): helm validates every object against the server's OpenAPI
 * schema on install, the namespace enforces the restricted Pod Security
 * Standard, and uninstall must leave nothing cluster-scoped behind. The shared
 * control plane has no node, so pods are admitted but never started here
 * (test/real-pod.e2e-spec.ts starts them on a worker node).
 */
const describeWithCluster = process.env.KUBE9_TEST_KUBECONFIG ? describe : describe.skip;

describeWithCluster('installed into a namespace that enforces the restricted Pod Security Standard', () => {
  const release = 'k9chart';
  const fullname = `${release}-kube9-operator`;
  let namespace: string;

  beforeAll(async () => {
    namespace = await createTestNamespace('helm-chart', {
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'latest',
    });
  });

  afterAll(async () => {
    await runHelm(['uninstall', release, '-n', namespace]);
    await deleteTestNamespace(namespace);
  });

  async function podsOf(): Promise<string[]> {
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    const pods = await core.listNamespacedPod({
      namespace,
      labelSelector: `app.kubernetes.io/name=kube9-operator,app.kubernetes.io/instance=${release}`,
    });
    return pods.items.map((p) => p.metadata!.name!);
  }

  async function replicaSetFailures(): Promise<string[]> {
    const apps = adminKubeConfig().makeApiClient(AppsV1Api);
    const sets = await apps.listNamespacedReplicaSet({ namespace });
    return sets.items.flatMap((rs) =>
      (rs.status?.conditions ?? []).filter((c) => c.type === 'ReplicaFailure').map((c) => c.message ?? ''),
    );
  }

  it("installs with a key, and the Deployment's pod is admitted", async () => {
    const install = await runHelm(['install', release, CHART, '-n', namespace, '--set', `apiKey=${API_KEY}`]);
    expect(install.stderr).toBe('');
    expect(install.code).toBe(0);

    const deadline = Date.now() + 30_000;
    while ((await podsOf()).length === 0 && (await replicaSetFailures()).length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(await replicaSetFailures()).toEqual([]);
    expect(await podsOf()).toHaveLength(1);
  });

  it('admits the helm test pod', async () => {
    const rendered = yaml.loadAll(
      helm([
        'template',
        release,
        CHART,
        '--namespace',
        namespace,
        '--show-only',
        'templates/tests/test-connection.yaml',
      ]).stdout,
    ) as V1Pod[];
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    await expect(core.createNamespacedPod({ namespace, body: rendered[0], dryRun: 'All' })).resolves.toBeDefined();
  });

  it('keeps the key on helm upgrade --reuse-values', async () => {
    const upgrade = await runHelm([
      'upgrade',
      release,
      CHART,
      '-n',
      namespace,
      '--reuse-values',
      '--set',
      'logLevel=debug',
    ]);
    expect(upgrade.code).toBe(0);
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    const secret = await core.readNamespacedSecret({ name: fullname, namespace });
    expect(Buffer.from(secret.data!.apiKey, 'base64').toString()).toBe(API_KEY);
  });

  it('leaves nothing cluster-scoped behind on helm uninstall', async () => {
    const rbac = adminKubeConfig().makeApiClient(RbacAuthorizationV1Api);
    const clusterScoped = `${fullname}-${namespace}`;
    await expect(rbac.readClusterRole({ name: clusterScoped })).resolves.toBeDefined();

    const uninstall = await runHelm(['uninstall', release, '-n', namespace]);
    expect(uninstall.code).toBe(0);

    const gone = async (read: () => Promise<unknown>): Promise<number | undefined> =>
      read().then(
        () => undefined,
        (err: unknown) => (err instanceof ApiException ? err.code : undefined),
      );
    expect(await gone(() => rbac.readClusterRole({ name: clusterScoped }))).toBe(404);
    expect(await gone(() => rbac.readClusterRoleBinding({ name: clusterScoped }))).toBe(404);
    const labelSelector = `app.kubernetes.io/instance=${release}`;
    expect((await rbac.listClusterRole({ labelSelector })).items).toEqual([]);
    expect((await rbac.listClusterRoleBinding({ labelSelector })).items).toEqual([]);
  });
});
