/*
 * The chart's life as an administrator lives it, with the real helm, the real
 * API server and controller-manager, and the operator as a real process with
 * the chart's environment and ServiceAccount token: adding a key by
 * `helm upgrade`, keeping it with --reuse-values, removing everything with
 * `helm uninstall`, and the exact reach of the chart's RBAC.
 *
 * The chart is installed as a user installs it, from an OCI registry
 * (`helm install oci://… --version …`): this file packages it and pushes it
 * with `helm package` and `helm push`, as `npm run release` does, to a test
 * registry of its own (TLS with a test CA, basic auth) on loopback. This
 * control plane has no node, so the image is neither pushed nor pulled here
 * (test/real-pod.e2e-spec.ts and test/release.e2e-spec.ts do that).
 */
import {
  ApiException,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  V1ConfigMap,
  Watch,
} from '@kubernetes/client-node';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CHART_DIR,
  chartEnvironment,
  chartServiceAccountKubeconfig,
  helmInstall,
  runOperatorAsChart,
} from './support/chart';
import {
  adminKubeConfig,
  clusterScopedNamesWith,
  createTestNamespace,
  deleteTestNamespace,
  everyObjectIn,
  kubeConfigFromFile,
  runHelm,
} from './support/kube';
import { TEST_KEYS } from './support/keys';
import { OperatorProcess, waitFor } from './support/operator-process';
import { ServerSimulator } from './support/server-simulator';
import { readConfigMap, STATE_CONFIGMAP, statusWhere, STATUS_CONFIGMAP } from './support/status';
import { repoRoot } from './support/binaries';
import { type TestRegistry, startRegistry } from './support/registry';

const RELEASE = 'kube9-operator';
const INTERVAL_SECONDS = 10;

let simulator: ServerSimulator;
const namespaces: string[] = [];
const operators: OperatorProcess[] = [];
let registryDir: string;
let registry: TestRegistry;
/** `oci://…/kube9-operator` and the flags that name its version, credentials and CA. */
let chartRef: string;
let chartFlags: string[];

beforeAll(async () => {
  registryDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'kube9-chart-registry-'));
  registry = await startRegistry({ dir: path.join(registryDir, 'registry'), host: '127.0.0.1' });
  const version = (JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { version: string })
    .version;
  const registryFlags = ['--registry-config', registry.authFile, '--ca-file', registry.caPath];
  await helmOk(['package', CHART_DIR, '--version', version, '--app-version', version, '-d', registryDir]);
  await helmOk([
    'push',
    path.join(registryDir, `kube9-operator-${version}.tgz`),
    `oci://${registry.address}/kube9`,
    ...registryFlags,
  ]);
  chartRef = `oci://${registry.address}/kube9/kube9-operator`;
  chartFlags = ['--version', version, ...registryFlags];
  // The server's interval replaces the chart's once registered: keep it as short.
  simulator = new ServerSimulator({
    validKeys: [TEST_KEYS.upgrade, TEST_KEYS.chart],
    configuration: { statusUpdateIntervalSeconds: INTERVAL_SECONDS, reregistrationIntervalHours: 24 },
  });
  await simulator.start();
});

afterEach(async () => {
  for (const operator of operators.splice(0)) await operator.stop().catch(() => undefined);
  for (const namespace of namespaces.splice(0)) {
    await runHelm(['uninstall', RELEASE, '-n', namespace, '--ignore-not-found']);
    await deleteTestNamespace(namespace);
  }
});

afterAll(async () => {
  await simulator?.stop();
  await registry?.stop();
  if (registryDir) await fsp.rm(registryDir, { recursive: true, force: true });
});

/** helm install (or upgrade) of the chart from the registry. */
function install(namespace: string, set: Record<string, string>): Promise<string> {
  return helmInstall(namespace, RELEASE, set, chartFlags, chartRef);
}

async function namespaceFor(prefix: string): Promise<string> {
  const namespace = await createTestNamespace(prefix);
  namespaces.push(namespace);
  return namespace;
}

/** Values that point the chart at the simulator. */
function simulatorValues(): Record<string, string> {
  return {
    serverUrl: simulator.url,
    allowInsecureServerUrl: 'true',
    statusUpdateIntervalSeconds: String(INTERVAL_SECONDS),
  };
}

async function startOperator(namespace: string): Promise<OperatorProcess> {
  const operator = await runOperatorAsChart(namespace, RELEASE);
  operators.push(operator);
  return operator;
}

async function helmOk(args: string[]): Promise<void> {
  const result = await runHelm(args);
  if (result.code !== 0) throw new Error(`helm ${args[0]} failed: ${result.stderr}`);
}

/** `helm upgrade --reuse-values --set logLevel=debug` of the release in `namespace`, from the registry. */
async function upgradeToDebugLogs(namespace: string): Promise<void> {
  await helmOk([
    'upgrade',
    RELEASE,
    chartRef,
    ...chartFlags,
    '-n',
    namespace,
    '--reuse-values',
    '--set',
    'logLevel=debug',
  ]);
}

async function readDeployment(namespace: string) {
  return adminKubeConfig().makeApiClient(AppsV1Api).readNamespacedDeployment({ name: RELEASE, namespace });
}

/** The key the chart's Secret holds equals `key` (compared here so a failure never prints a key). */
async function secretHoldsKey(namespace: string, key: string): Promise<boolean> {
  const env = await chartEnvironment(namespace, RELEASE);
  const secret = await adminKubeConfig()
    .makeApiClient(CoreV1Api)
    .readNamespacedSecret({ name: env.API_KEY_SECRET_NAME, namespace });
  return Buffer.from(secret.data?.[env.API_KEY_SECRET_KEY] ?? '', 'base64').toString('utf8') === key;
}

describe('helm upgrade adds a key to a running free install', () => {
  it('goes enabled / pro within seconds in the same process; --reuse-values keeps the key', async () => {
    const namespace = await namespaceFor('upgrade');
    await install(namespace, simulatorValues());
    const operator = await startOperator(namespace);
    const pid = operator.child.pid;
    await statusWhere(namespace, 'operated / free', (s) => s.mode === 'operated' && s.apiKeyConfigured === false);
    const before = await readDeployment(namespace);

    const upgradeStartedAt = performance.now();
    await install(namespace, { ...simulatorValues(), apiKey: TEST_KEYS.upgrade });
    const pro = await statusWhere(namespace, 'enabled / pro', (s) => s.registered === true, 10_000);
    const secondsToPro = (performance.now() - upgradeStartedAt) / 1000;
    console.log(`[chart-lifecycle] enabled / pro ${secondsToPro.toFixed(2)} s after helm upgrade --set apiKey began`);

    expect(pro).toMatchObject({
      mode: 'enabled',
      tier: 'pro',
      health: 'healthy',
      registered: true,
      apiKeyConfigured: true,
      error: null,
    });
    expect(secondsToPro).toBeLessThan(5);
    expect(operator.child.pid).toBe(pid);
    expect(operator.child.exitCode).toBeNull();
    // The key is not part of the pod template either: in a cluster the pod is not restarted.
    const afterKey = await readDeployment(namespace);
    expect(afterKey.metadata!.generation).toBe(before.metadata!.generation);
    expect(afterKey.spec!.template).toEqual(before.spec!.template);

    await upgradeToDebugLogs(namespace);
    const reusedAt = new Date().toISOString();
    const after = await statusWhere(
      namespace,
      'a status written after the --reuse-values upgrade',
      (s) => s.lastUpdate > reusedAt,
      (INTERVAL_SECONDS + 3) * 1000,
    );

    expect(after).toMatchObject({
      mode: 'enabled',
      tier: 'pro',
      health: 'healthy',
      registered: true,
      apiKeyConfigured: true,
    });
    expect(await secretHoldsKey(namespace, TEST_KEYS.upgrade)).toBe(true);
    expect(operator.child.pid).toBe(pid);
    expect(operator.child.exitCode).toBeNull();
    const env = await chartEnvironment(namespace, RELEASE);
    expect(env).toMatchObject({ LOG_LEVEL: 'debug', SERVER_URL: simulator.url, ALLOW_INSECURE_SERVER_URL: 'true' });
  });

  it('a pod restarted by the --reuse-values upgrade (new log level) comes back pro with the kept key', async () => {
    const namespace = await namespaceFor('reuse');
    await install(namespace, { ...simulatorValues(), apiKey: TEST_KEYS.upgrade });
    const first = await startOperator(namespace);
    await statusWhere(namespace, 'enabled / pro', (s) => s.registered === true);

    await upgradeToDebugLogs(namespace);
    expect((await first.stop()).code).toBe(0);
    const restartedAt = new Date().toISOString();
    const second = await startOperator(namespace);
    const status = await statusWhere(
      namespace,
      'a status from the restarted operator',
      (s) => s.lastUpdate > restartedAt && s.registered === true,
    );

    expect(status).toMatchObject({
      mode: 'enabled',
      tier: 'pro',
      health: 'healthy',
      registered: true,
      apiKeyConfigured: true,
    });
    expect(second.logs()).toContainEqual(expect.objectContaining({ level: 'debug' }));
  });
});

describe('helm uninstall', () => {
  it('removes the status and state ConfigMaps through their owner, the Deployment; nothing cluster-scoped is left', async () => {
    const namespace = await namespaceFor('uninstall');
    await install(namespace, { ...simulatorValues(), apiKey: TEST_KEYS.chart });
    const operator = await startOperator(namespace);
    await statusWhere(namespace, 'enabled / pro', (s) => s.registered === true);
    await waitFor('the state ConfigMap', () => readConfigMap(namespace, STATE_CONFIGMAP));
    const deployment = await readDeployment(namespace);
    const owner = [
      expect.objectContaining({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: RELEASE,
        uid: deployment.metadata!.uid,
      }),
    ];
    expect((await readConfigMap(namespace, STATUS_CONFIGMAP))!.metadata!.ownerReferences).toEqual(owner);
    expect((await readConfigMap(namespace, STATE_CONFIGMAP))!.metadata!.ownerReferences).toEqual(owner);
    const clusterScoped = `${RELEASE}-${namespace}`;
    expect(await clusterScopedNamesWith(namespace)).toEqual([
      `ClusterRole/${clusterScoped}`,
      `ClusterRoleBinding/${clusterScoped}`,
    ]);
    expect((await operator.stop()).code).toBe(0);

    const uninstalledAt = performance.now();
    await helmOk(['uninstall', RELEASE, '-n', namespace, '--wait']);
    await waitFor(
      'the garbage collector to delete both ConfigMaps',
      async () => {
        const left = await Promise.all([
          readConfigMap(namespace, STATUS_CONFIGMAP),
          readConfigMap(namespace, STATE_CONFIGMAP),
        ]);
        return left.every((configMap) => configMap === undefined) ? true : undefined;
      },
      30_000,
      250,
    );
    console.log(
      `[chart-lifecycle] ConfigMaps collected ${Math.round(performance.now() - uninstalledAt)} ms after helm uninstall began`,
    );

    expect(await clusterScopedNamesWith(namespace)).toEqual([]);
    const remaining = await adminKubeConfig()
      .makeApiClient(CoreV1Api)
      .listNamespacedConfigMap({ namespace, labelSelector: 'app.kubernetes.io/name=kube9-operator' });
    expect(remaining.items).toEqual([]);
    expect((await runHelm(['list', '-n', namespace, '-q'])).stdout.trim()).toBe('');
  });
});

describe('helm uninstall with leader election', () => {
  it('leaves nothing in the namespace: the Lease goes with the Deployment, like the ConfigMaps', async () => {
    const namespace = await namespaceFor('uninstall-lease');
    await helmInstall(namespace, RELEASE, { ...simulatorValues(), replicaCount: '2' });
    const operator = await startOperator(namespace);
    await statusWhere(namespace, 'operated / free', (s) => s.tier === 'free');
    const deployment = await readDeployment(namespace);
    const lease = await adminKubeConfig()
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: 'kube9-operator-leader', namespace });
    expect(lease.metadata!.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Deployment', name: RELEASE, uid: deployment.metadata!.uid }),
    ]);
    expect((await operator.stop()).code).toBe(0);

    await helmOk(['uninstall', RELEASE, '-n', namespace, '--wait']);

    const left = await waitFor(
      'nothing of the release in the namespace',
      async () => {
        const objects = await everyObjectIn(namespace);
        return objects.length === 0 ? objects : undefined;
      },
      30_000,
      500,
    ).catch(async () => everyObjectIn(namespace));
    expect(left).toEqual([]);
  });
});

describe("the chart ServiceAccount's reach (the real RBAC authorizer)", () => {
  let namespace: string;
  let otherNamespace: string;
  let keySecret: string;
  let kubeConfig: KubeConfig;
  let core: CoreV1Api;

  beforeAll(async () => {
    namespace = await createTestNamespace('rbac');
    otherNamespace = await createTestNamespace('rbac-other');
    await install(namespace, { apiKey: TEST_KEYS.chart });
    keySecret = (await chartEnvironment(namespace, RELEASE)).API_KEY_SECRET_NAME;
    const admin = adminKubeConfig().makeApiClient(CoreV1Api);
    await admin.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'someone-elses' }, stringData: { password: 'not-for-the-operator' } },
    });
    await admin.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'someone-elses' }, data: { setting: 'x' } },
    });
    kubeConfig = kubeConfigFromFile(await chartServiceAccountKubeconfig(namespace, RELEASE));
    core = kubeConfig.makeApiClient(CoreV1Api);
  });

  afterAll(async () => {
    await runHelm(['uninstall', RELEASE, '-n', namespace, '--ignore-not-found']);
    await deleteTestNamespace(namespace);
    await deleteTestNamespace(otherNamespace);
  });

  const otherConfigMap = (name: string, ns: string): V1ConfigMap => ({
    metadata: { name, namespace: ns },
    data: { x: 'y' },
  });

  it.each<[string, () => Promise<unknown>]>([
    ['get another Secret in its namespace', () => core.readNamespacedSecret({ name: 'someone-elses', namespace })],
    ['list all Secrets in its namespace (no name field selector)', () => core.listNamespacedSecret({ namespace })],
    [
      "list Secrets with another name's field selector",
      () => core.listNamespacedSecret({ namespace, fieldSelector: 'metadata.name=someone-elses' }),
    ],
    [
      'create the status ConfigMap in another namespace',
      () =>
        core.createNamespacedConfigMap({
          namespace: otherNamespace,
          body: otherConfigMap(STATUS_CONFIGMAP, otherNamespace),
        }),
    ],
    [
      'update a ConfigMap of another name',
      () =>
        core.replaceNamespacedConfigMap({
          name: 'someone-elses',
          namespace,
          body: otherConfigMap('someone-elses', namespace),
        }),
    ],
    [
      'patch a ConfigMap of another name',
      () =>
        core.patchNamespacedConfigMap({
          name: 'someone-elses',
          namespace,
          body: [{ op: 'replace', path: '/data/setting', value: 'y' }],
        }),
    ],
    ['delete a ConfigMap of another name', () => core.deleteNamespacedConfigMap({ name: 'someone-elses', namespace })],
  ])('refused (403): %s', async (_what, call) => {
    expect(await statusCodeOf(call)).toBe(403);
  });

  it('refused (403): watch all Secrets without the name field selector', async () => {
    expect(await watchStatusCode(kubeConfig, `/api/v1/namespaces/${namespace}/secrets`, {})).toBe(403);
  });

  it('allowed: get its own key Secret', async () => {
    const secret = await core.readNamespacedSecret({ name: keySecret, namespace });

    expect(secret.metadata!.name).toBe(keySecret);
  });

  it('allowed: watch its key Secret with fieldSelector metadata.name; a list of it is refused (the code never lists)', async () => {
    const fieldSelector = `metadata.name=${keySecret}`;

    const watch = await watchStatusCode(kubeConfig, `/api/v1/namespaces/${namespace}/secrets`, { fieldSelector });
    const list = await statusCodeOf(() => core.listNamespacedSecret({ namespace, fieldSelector }));

    expect(watch).toBe(200);
    expect(list).toBe(403);
  });

  it('allowed: list nodes', async () => {
    expect(await statusCodeOf(() => core.listNode())).toBe(200);
  });
});

/** 200 when the call succeeds, else the API server's status code. */
async function statusCodeOf(call: () => Promise<unknown>): Promise<number> {
  try {
    await call();
    return 200;
  } catch (error) {
    if (error instanceof ApiException) return error.code;
    throw error;
  }
}

/** Opens a watch and closes it at once: 200 when the API server accepted it, else its status code. */
async function watchStatusCode(kubeConfig: KubeConfig, path: string, query: Record<string, string>): Promise<number> {
  let failure: (Error & { statusCode?: number }) | null | undefined;
  const controller = await new Watch(kubeConfig).watch(
    path,
    query,
    () => undefined,
    (error) => {
      failure ??= error ?? null;
    },
  );
  const code = failure === undefined ? 200 : failure?.statusCode;
  controller.abort();
  if (code === undefined) throw new Error(`the watch of ${path} failed without a status code: ${String(failure)}`);
  return code;
}
