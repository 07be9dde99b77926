/*
 * Pro tier with two replicas (chart replicaCount=2, LEADER_ELECTION=true): only the Lease holder
 * registers, so the simulator sees one request per registration; a follower that takes over
 * resumes the saved registration state and does not register again; the status stays pro.
 *
 *   npx jest --config test/jest-e2e.config.js test/leader-election-pro.e2e-spec.ts
 */
import { CoordinationV1Api } from '@kubernetes/client-node';
import { helmInstall, runOperatorAsChart } from './support/chart';
import { adminKubeConfig, createTestNamespace, deleteTestNamespace } from './support/kube';
import { TEST_KEYS } from './support/keys';
import { OperatorProcess, waitFor } from './support/operator-process';
import { ServerSimulator } from './support/server-simulator';
import { readStatus } from './support/status';

const RELEASE = 'kube9-operator';
const INTERVAL_SECONDS = 10;
const TAKEOVER_BOUND_MS = 15_000 + 2 * 2_000;

describe('pro tier with two replicas', () => {
  let simulator: ServerSimulator;
  let namespace: string;
  const replicas = new Map<string, OperatorProcess>();
  const coordination = () => adminKubeConfig().makeApiClient(CoordinationV1Api);
  const holder = async () =>
    (
      await coordination()
        .readNamespacedLease({ name: 'kube9-operator-leader', namespace })
        .catch(() => undefined)
    )?.spec?.holderIdentity;

  beforeAll(async () => {
    simulator = new ServerSimulator({ validKeys: [TEST_KEYS.valid] });
    await simulator.start();
    namespace = await createTestNamespace('leader-pro');
    await helmInstall(namespace, RELEASE, {
      serverUrl: simulator.url,
      allowInsecureServerUrl: 'true',
      statusUpdateIntervalSeconds: String(INTERVAL_SECONDS),
      replicaCount: '2',
      apiKey: TEST_KEYS.valid,
    });
    for (const name of ['pro-a', 'pro-b']) {
      replicas.set(name, await runOperatorAsChart(namespace, RELEASE, { POD_NAME: name }));
    }
  }, 60_000);

  afterAll(async () => {
    for (const replica of replicas.values()) await replica.stop('SIGKILL').catch(() => undefined);
    await deleteTestNamespace(namespace);
    await simulator?.stop();
  });

  it('registers once, from the leader only', async () => {
    const registered = await waitFor(
      'a registered status',
      async () => {
        const status = await readStatus(namespace).catch(() => undefined);
        return status?.registered ? status : undefined;
      },
      20_000,
      200,
    );
    // Both replicas had time to register had they been allowed to: the follower never may.
    await new Promise((resolve) => setTimeout(resolve, 2 * INTERVAL_SECONDS * 1000));

    expect(registered).toMatchObject({ mode: 'enabled', tier: 'pro', registered: true, health: 'healthy' });
    expect(simulator.requests).toHaveLength(1);
    expect(replicas.has(String(await holder()))).toBe(true);
  }, 60_000);

  it('a failover (SIGKILL of the leader) does not register again, and the status stays pro', async () => {
    const leader = String(await holder());
    const seen = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const status = await readStatus(namespace).catch(() => undefined);
        if (status) seen.add(`${status.mode}/${status.tier}/${status.registered}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    const killedAt = Date.now();
    await replicas.get(leader)!.stop('SIGKILL');

    const successor = await waitFor(
      'a new holder',
      async () => {
        const now = await holder();
        return now && now !== leader ? now : undefined;
      },
      TAKEOVER_BOUND_MS + 5_000,
      100,
    );
    await waitFor(
      "the successor's first status",
      async () => {
        const status = await readStatus(namespace).catch(() => undefined);
        return status && Date.parse(status.lastUpdate) > killedAt ? status : undefined;
      },
      INTERVAL_SECONDS * 1000,
      200,
    );
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_SECONDS * 1000));
    watching = false;
    await watcher;

    expect(successor).not.toBe(leader);
    expect(simulator.requests).toHaveLength(1);
    expect([...seen]).toEqual(['enabled/pro/true']);
    expect(replicas.get(successor)!.logs()).toContainEqual(
      expect.objectContaining({
        message: expect.stringContaining('Resuming the saved registration state (registered=true)'),
      }),
    );
  }, 60_000);
});
