/*
 * The free tier end to end: the built operator as a real process, with the
 * chart's environment and its ServiceAccount's token, against the real API
 * server. What is asserted is what the extension and an administrator see.
 */
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from './support/binaries';
import { chartEnvironment, helmInstall, runOperatorAsChart } from './support/chart';
import {
  adminKubeConfig,
  createTestNamespace,
  deleteTestNamespace,
  kubeconfigForToken,
  mintToken,
} from './support/kube';
import { freePort, getJson, OperatorProcess, startOperator, waitFor } from './support/operator-process';
import { readConfigMap, readStatus, STATUS_CONFIGMAP } from './support/status';

const VERSION = (JSON.parse(readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { version: string })
  .version;
const RELEASE = 'kube9-operator';
const INTERVAL_SECONDS = 10;

describe("free tier: the operator run with the chart's environment and permissions", () => {
  let namespace: string;
  let operator: OperatorProcess;
  let firstWriteMs: number;

  beforeAll(async () => {
    namespace = await createTestNamespace('free');
    await helmInstall(namespace, RELEASE, { statusUpdateIntervalSeconds: String(INTERVAL_SECONDS) });
    operator = await runOperatorAsChart(namespace, RELEASE);
    await waitFor('the status ConfigMap', () => readStatus(namespace), 10_000, 20);
    firstWriteMs = performance.now() - operator.spawnedAt;
  });

  afterAll(async () => {
    await operator?.stop().catch(() => undefined);
    await deleteTestNamespace(namespace);
  });

  it('writes the status ConfigMap within 2 s of the process start', () => {
    expect(firstWriteMs).toBeLessThan(2_000);
  });

  it('publishes the SPEC document, field by field', async () => {
    const status = await readStatus(namespace);

    expect(Object.keys(status!).sort()).toEqual(
      [
        'apiKeyConfigured',
        'error',
        'health',
        'lastUpdate',
        'mode',
        'namespace',
        'registered',
        'tier',
        'version',
      ].sort(),
    );
    expect(status).toMatchObject({
      mode: 'operated',
      tier: 'free',
      version: VERSION,
      health: 'healthy',
      registered: false,
      error: null,
      apiKeyConfigured: false,
      namespace,
    });
    expect(status!.lastUpdate).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(Math.abs(Date.parse(status!.lastUpdate) - Date.now())).toBeLessThan(60_000);
  });

  it("labels the ConfigMap and makes the operator's Deployment its owner", async () => {
    const configMap = await readConfigMap(namespace, STATUS_CONFIGMAP);

    expect(configMap!.metadata!.labels).toMatchObject({
      'app.kubernetes.io/name': 'kube9-operator',
      'app.kubernetes.io/component': 'status',
    });
    expect(configMap!.metadata!.ownerReferences).toEqual([
      expect.objectContaining({ apiVersion: 'apps/v1', kind: 'Deployment', name: RELEASE }),
    ]);
  });

  it('serves the same document over REST as in the ConfigMap', async () => {
    const rest = await getJson(`${operator.baseUrl}/api/v1/status`);
    const stored = await readStatus(namespace);

    expect(rest.status).toBe(200);
    expect(rest.body).toEqual(stored);
  });

  it('answers the liveness and readiness probes with 200', async () => {
    const live = await getJson(`${operator.baseUrl}/healthz`);
    const ready = await getJson(`${operator.baseUrl}/readyz`);

    expect(live.status).toBe(200);
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ok');
  });

  it('puts back a deleted status ConfigMap within one interval', async () => {
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    await core.deleteNamespacedConfigMap({ name: STATUS_CONFIGMAP, namespace });
    const deletedAt = Date.now();

    await waitFor('the ConfigMap to come back', () => readStatus(namespace), (INTERVAL_SECONDS + 2) * 1000, 100);

    expect(Date.now() - deletedAt).toBeLessThan((INTERVAL_SECONDS + 1) * 1000);
  });

  it('puts back a status someone else edited within one interval', async () => {
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    const configMap = (await readConfigMap(namespace, STATUS_CONFIGMAP))!;
    await core.replaceNamespacedConfigMap({
      name: STATUS_CONFIGMAP,
      namespace,
      body: { ...configMap, data: { status: JSON.stringify({ mode: 'enabled', tier: 'pro' }) } },
    });

    const restored = await waitFor(
      'the edited status to be replaced',
      async () => ((await readStatus(namespace))?.version === VERSION ? readStatus(namespace) : undefined),
      (INTERVAL_SECONDS + 2) * 1000,
      100,
    );

    expect(restored).toMatchObject({ mode: 'operated', tier: 'free', health: 'healthy' });
  });

  it('logs one JSON object per line with level, time, message and context', () => {
    const lines = operator.output().trim().split('\n');
    const logs = lines.map((line) => JSON.parse(line) as Record<string, unknown>);

    expect(logs.length).toBeGreaterThan(0);
    for (const log of logs) {
      expect(log).toEqual(
        expect.objectContaining({ level: expect.any(String), time: expect.any(String), message: expect.any(String) }),
      );
    }
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'info',
        context: 'StatusService',
        message: expect.stringContaining('mode=operated tier=free health=healthy'),
      }),
    );
  });

  it('logs the status once, not on every unchanged write', async () => {
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_SECONDS * 1000 + 500));

    const statusLines = operator.logs().filter((log) => String(log.message).startsWith('Status: '));

    // Start-up, the deleted ConfigMap (unchanged document: no new line), the edit (none either).
    expect(statusLines).toHaveLength(1);
  });
});

describe('without permission to write ConfigMaps', () => {
  let namespace: string;
  let operator: OperatorProcess;

  beforeAll(async () => {
    namespace = await createTestNamespace('nowrite');
    await helmInstall(namespace, RELEASE, {
      statusUpdateIntervalSeconds: String(INTERVAL_SECONDS),
      'rbac.create': 'false',
    });
    const env = await chartEnvironment(namespace, RELEASE);
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    const rbac = adminKubeConfig().makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'reader' } } });
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: 'reader' },
        rules: [
          {
            apiGroups: [''],
            resources: ['secrets'],
            resourceNames: [env.API_KEY_SECRET_NAME],
            verbs: ['get', 'list', 'watch'],
          },
          { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: 'reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace }],
      },
    });
    const kubeconfig = kubeconfigForToken(await mintToken(namespace, 'reader'), `${namespace}-reader`);
    operator = await startOperator({ ...env, KUBECONFIG: kubeconfig, PORT: String(await freePort()) });
  });

  afterAll(async () => {
    await operator?.stop().catch(() => undefined);
    await deleteTestNamespace(namespace);
  });

  it('reports unhealthy with a clear error over REST and keeps running', async () => {
    const status = await waitFor('an unhealthy status over REST', async () => {
      const answer = await getJson(`${operator.baseUrl}/api/v1/status`);
      return answer.body?.health === 'unhealthy' ? answer.body : undefined;
    });

    expect(status).toMatchObject({ mode: 'operated', tier: 'free', health: 'unhealthy', registered: false });
    expect(status.error).toContain('Kubernetes API refused to write ConfigMap');
    expect(status.error).toContain('forbidden');
    expect(status.error.length).toBeLessThanOrEqual(500);
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(operator.child.exitCode).toBeNull();
  });

  it('stays ready and alive, so that the status API keeps explaining (SPEC 4)', async () => {
    const ready = await getJson(`${operator.baseUrl}/readyz`);
    const live = await getJson(`${operator.baseUrl}/healthz`);

    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ok');
    expect(live.status).toBe(200);
  });

  it('never wrote a status ConfigMap', async () => {
    expect(await readConfigMap(namespace, STATUS_CONFIGMAP)).toBeUndefined();
  });
});

describe('shutdown', () => {
  let namespace: string;

  beforeAll(async () => {
    namespace = await createTestNamespace('shutdown');
    await helmInstall(namespace, RELEASE);
  });

  afterAll(() => deleteTestNamespace(namespace));

  it.each(['SIGTERM', 'SIGINT'] as const)('%s: exits 0 within 10 s after writing a last status', async (signal) => {
    const operator = await runOperatorAsChart(namespace, RELEASE);
    await waitFor('the first status', async () =>
      (await getJson(`${operator.baseUrl}/readyz`)).status === 200 ? true : undefined,
    );
    // Ready means a first status was computed; the ConfigMap follows within a moment.
    const before = (await waitFor('the first status ConfigMap', () => readStatus(namespace))).lastUpdate;
    const signalledAt = performance.now();
    const signalledWall = Date.now();

    const exit = await operator.stop(signal);

    expect(exit.code).toBe(0);
    expect(exit.atMs - signalledAt).toBeLessThan(10_000);
    const last = (await readStatus(namespace))!.lastUpdate;
    expect(last).not.toBe(before);
    expect(Date.parse(last)).toBeGreaterThanOrEqual(signalledWall - 5);
  });
});
