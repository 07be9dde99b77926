/*
 * The API server goes away for 20 s and comes back: the operator keeps running,
 * stays ready and alive, says so over REST while it cannot write, and resumes
 * writing by itself.
 * This file starts its own control plane, so stopping its API server does not
 * disturb the other tests.
 */
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ControlPlane, startControlPlane } from './support/control-plane';
import { getJson, OperatorProcess, startOperator, waitFor } from './support/operator-process';

const INTERVAL_SECONDS = 10;
const NAMESPACE = 'kube9-system';

describe('an API server outage of 20 s', () => {
  let controlPlane: ControlPlane;
  let operator: OperatorProcess;
  let core: CoreV1Api;

  async function lastUpdate(): Promise<string | undefined> {
    const configMap = await core.readNamespacedConfigMap({ name: 'kube9-operator-status', namespace: NAMESPACE });
    return (JSON.parse(configMap.data!.status) as { lastUpdate: string }).lastUpdate;
  }

  beforeAll(async () => {
    controlPlane = await startControlPlane({ withControllerManager: false });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(controlPlane.kubeconfigPath);
    core = kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    operator = await startOperator({
      KUBECONFIG: controlPlane.kubeconfigPath,
      OPERATOR_NAMESPACE: NAMESPACE,
      STATUS_UPDATE_INTERVAL_SECONDS: String(INTERVAL_SECONDS),
    });
    await waitFor('the first status', () => lastUpdate(), 10_000);
  }, 180_000);

  afterAll(async () => {
    await operator?.stop().catch(() => undefined);
    await controlPlane?.stop();
  });

  it('reports unhealthy while the API server is down and resumes writing without a restart', async () => {
    await controlPlane.stopApiServer();
    const downSince = Date.now();

    const unhealthy = await waitFor(
      'an unhealthy status over REST',
      async () => {
        const answer = await getJson(`${operator.baseUrl}/api/v1/status`);
        return answer.body?.health === 'unhealthy' ? answer.body : undefined;
      },
      (INTERVAL_SECONDS + 12) * 1000,
      200,
    );
    expect(unhealthy.error).toContain('Kubernetes API unreachable');
    // SPEC 4: neither probe depends on the API server; the pod stays behind its Service so
    // that GET /api/v1/status keeps explaining why.
    expect((await getJson(`${operator.baseUrl}/readyz`)).status).toBe(200);
    expect((await getJson(`${operator.baseUrl}/healthz`)).status).toBe(200);

    // Probed every second through the rest of the outage: never taken out of its Service.
    const probes: number[] = [];
    while (Date.now() - downSince < 20_000) {
      probes.push(
        (await getJson(`${operator.baseUrl}/readyz`)).status,
        (await getJson(`${operator.baseUrl}/healthz`)).status,
      );
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    expect(new Set(probes)).toEqual(new Set([200]));
    await controlPlane.startApiServer();
    const upAt = Date.now();

    const resumed = await waitFor(
      'a status written after the API server came back',
      async () => {
        const written = await lastUpdate().catch(() => undefined);
        return written && Date.parse(written) >= upAt ? written : undefined;
      },
      (INTERVAL_SECONDS + 5) * 1000,
      200,
    );

    expect(Date.parse(resumed) - upAt).toBeLessThan((INTERVAL_SECONDS + 1) * 1000);
    expect(operator.child.exitCode).toBeNull();
    expect((await getJson(`${operator.baseUrl}/api/v1/status`)).body).toMatchObject({ health: 'healthy', error: null });
  }, 120_000);
});
