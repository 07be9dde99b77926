/*
 * SPEC section 9: several replicas, one Lease, one writer. Three operator processes run as the
 * chart's pods would (replicaCount=3: LEADER_ELECTION=true, the chart's Role), each with its own
 * POD_NAME and its own ServiceAccount, on a control plane of this file's own that writes an
 * audit log: who wrote the status, the state, the Events and the Lease is what the API server
 * recorded, not what the replicas said. This file stops its API server for 20 s, so the
 * control plane is its own.
 *
 *   npx jest --config test/jest-e2e.config.js test/leader-election.e2e-spec.ts
 */
import { ControlPlane, startControlPlane } from './support/control-plane';
import {
  auditedWrites,
  Cluster,
  clusterOf,
  installChart,
  leaseHolder,
  Replica,
  sleep,
  startReplica,
  statusDocument,
  STATUS_NAME,
  writesNotFromHolder,
  saveLeaderLogs,
} from './support/leader-election';
import { getJson, waitFor } from './support/operator-process';

const NAMESPACE = 'kube9-system';
const INTERVAL_SECONDS = 10;
const LEASE_MS = 15_000;
const RETRY_MS = 2_000;
/**
 * A candidate counts the lease from when it first saw the holder's last renewal, and it looks
 * every retry period: from the kill, the takeover is due within lease + retry after that last
 * renewal, which the candidate saw at most one retry period late.
 */
const TAKEOVER_BOUND_MS = LEASE_MS + 2 * RETRY_MS;

describe('leader election with three replicas', () => {
  let controlPlane: ControlPlane;
  let cluster: Cluster;
  const replicas = new Map<string, Replica>();
  let started = 0;

  const userOf = (holder: string) => `system:serviceaccount:${NAMESPACE}:${holder}`;
  const running = () =>
    [...replicas.values()].filter((r) => r.process.child.exitCode === null && r.process.child.signalCode === null);
  async function addReplica(): Promise<Replica> {
    const replica = await startReplica(cluster, `replica-${String.fromCharCode(97 + started++)}`);
    replicas.set(replica.name, replica);
    return replica;
  }
  async function holderOtherThan(previous: string | undefined, timeoutMs: number): Promise<string> {
    return waitFor(
      `a Lease holder other than ${previous}`,
      async () => {
        const lease = await leaseHolder(cluster);
        return lease?.holder && lease.holder !== previous && replicas.has(lease.holder) ? lease.holder : undefined;
      },
      timeoutMs,
      100,
    );
  }

  beforeAll(async () => {
    controlPlane = await startControlPlane({ withControllerManager: false, auditLog: true });
    cluster = clusterOf(controlPlane, NAMESPACE);
    await installChart(cluster, { replicaCount: '3', statusUpdateIntervalSeconds: String(INTERVAL_SECONDS) });
    for (let i = 0; i < 3; i += 1) await addReplica();
  }, 180_000);

  afterAll(async () => {
    saveLeaderLogs(replicas.values(), controlPlane);
    await Promise.all(running().map((r) => r.process.stop('SIGKILL').catch(() => undefined)));
    await controlPlane?.stop();
  });

  it('elects exactly one holder; the others are ready followers serving its document', async () => {
    const holder = await holderOtherThan(undefined, 20_000);
    await waitFor('the first status', () => statusDocument(cluster), 10_000);
    // Two intervals, so that each replica had its chance to write (and none but the holder may).
    await sleep(2 * INTERVAL_SECONDS * 1000 + 1_000);

    expect((await leaseHolder(cluster))?.holder).toBe(holder);
    expect(running().map((r) => r.name)).toEqual(['replica-a', 'replica-b', 'replica-c']);
    const written = await statusDocument(cluster);
    for (const replica of running()) {
      expect((await getJson(`${replica.process.baseUrl}/readyz`)).status).toBe(200);
      expect((await getJson(`${replica.process.baseUrl}/healthz`)).status).toBe(200);
      const served = (await getJson(`${replica.process.baseUrl}/api/v1/status`)).body;
      expect({ replica: replica.name, tier: served.tier, mode: served.mode }).toEqual({
        replica: replica.name,
        tier: 'free',
        mode: 'operated',
      });
      if (replica.name !== holder) expect(served).toEqual(written);
    }
    const statusWriters = new Set(
      auditedWrites(controlPlane, NAMESPACE)
        .filter((w) => w.resource === 'configmaps' && w.name === STATUS_NAME && w.code < 300)
        .map((w) => w.user),
    );
    expect([...statusWriters]).toEqual([userOf(holder)]);
  }, 60_000);

  it('SIGKILL of the leader: a follower takes over within the lease and the status stays fresh and free', async () => {
    const leader = (await leaseHolder(cluster))!.holder;
    const updates: number[] = [];
    const tiers = new Set<string>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const document = await statusDocument(cluster);
        if (document) {
          const at = Date.parse(String(document.lastUpdate));
          if (updates.at(-1) !== at) updates.push(at);
          tiers.add(`${String(document.mode)}/${String(document.tier)}`);
        }
        for (const replica of running()) {
          const served = await getJson(`${replica.process.baseUrl}/api/v1/status`).catch(() => undefined);
          if (served?.status === 200) tiers.add(`${served.body.mode}/${served.body.tier}`);
        }
        await sleep(200);
      }
    })();
    await sleep(3_000);
    const killedAt = Date.now();
    await replicas.get(leader)!.process.stop('SIGKILL');

    const successor = await holderOtherThan(leader, TAKEOVER_BOUND_MS + 5_000);
    const takeoverMs = Date.now() - killedAt;
    const firstWrite = await waitFor(
      'a status from the successor',
      () => updates.find((at) => at > killedAt),
      INTERVAL_SECONDS * 1000,
      100,
    );
    await sleep(INTERVAL_SECONDS * 1000);
    watching = false;
    await watcher;
    const gaps = updates.slice(1).map((at, i) => at - updates[i]);
    const maxGapMs = Math.max(...gaps);
    process.stdout.write(
      `SIGKILL failover: takeover ${takeoverMs} ms after the kill, first successor write ${firstWrite - killedAt} ms after it, largest lastUpdate gap ${maxGapMs} ms\n`,
    );

    expect(successor).not.toBe(leader);
    expect(takeoverMs).toBeLessThan(TAKEOVER_BOUND_MS);
    expect(maxGapMs).toBeLessThan(TAKEOVER_BOUND_MS + INTERVAL_SECONDS * 1000);
    expect([...tiers]).toEqual(['operated/free']);
  }, 90_000);

  it('SIGTERM of the leader: last status written, Lease released, a successor writes within 3 s', async () => {
    await addReplica();
    const leader = (await leaseHolder(cluster))!.holder;
    const termAt = Date.now();
    const exit = await replicas.get(leader)!.process.stop('SIGTERM');
    const exitedAt = Date.now();

    const successor = await holderOtherThan(leader, 5_000);
    const firstWrite = await waitFor(
      'a status write by the successor',
      () =>
        auditedWrites(controlPlane, NAMESPACE).find(
          (w) =>
            w.resource === 'configmaps' &&
            w.name === STATUS_NAME &&
            w.user === userOf(successor) &&
            w.code < 300 &&
            w.at > termAt,
        ),
      5_000,
      100,
    );
    const writes = auditedWrites(controlPlane, NAMESPACE).filter((w) => w.at >= termAt);
    const lastOwnWrite = writes.find(
      (w) => w.resource === 'configmaps' && w.name === STATUS_NAME && w.user === userOf(leader),
    );
    const release = writes.find(
      (w) => w.resource === 'leases' && w.user === userOf(leader) && w.holder === '' && w.code === 200,
    );
    process.stdout.write(
      `SIGTERM failover: exit ${exitedAt - termAt} ms after SIGTERM, successor's first write ${firstWrite.at - (release?.at ?? NaN)} ms after the release\n`,
    );

    expect(exit.code).toBe(0);
    expect(lastOwnWrite).toBeDefined();
    expect(release).toBeDefined();
    expect(lastOwnWrite!.at).toBeLessThanOrEqual(release!.at);
    expect(firstWrite.at - release!.at).toBeLessThan(3_000);
  }, 60_000);

  it('API server away for 20 s: nobody crashes, one leader and one writer afterwards', async () => {
    await addReplica();
    const before = running();
    expect(before.length).toBeGreaterThanOrEqual(2);
    // Every replica serves a healthy document first, the followers the one they watched.
    await waitFor(
      'every replica serving a healthy status',
      async () => {
        const answers = await Promise.all(before.map((r) => getJson(`${r.process.baseUrl}/api/v1/status`)));
        return answers.every((a) => a.status === 200 && a.body.health === 'healthy') ? true : undefined;
      },
      TAKEOVER_BOUND_MS + INTERVAL_SECONDS * 1000,
      200,
    );
    await controlPlane.stopApiServer();
    // By now the leader has stepped down (renew deadline 10 s) and every watch has been lost for over an interval.
    await sleep(18_000);
    const during = await Promise.all(
      before.map(async (replica) => ({
        replica: replica.name,
        answer: await getJson(`${replica.process.baseUrl}/api/v1/status`),
      })),
    );
    await sleep(2_000);
    // The API server serves a moment before startApiServer() has seen it ready: the outage ends here.
    const restartAt = Date.now();
    await controlPlane.startApiServer();
    const upAt = Date.now();

    // The Lease as written after the outage: until then it still names the holder from before it, which a
    // follower may take at once (it has not seen that record change for longer than the lease).
    const holder = await waitFor(
      'a Lease renewed after the outage',
      async () => {
        const lease = await leaseHolder(cluster);
        return lease?.holder && (lease.renewTime ?? 0) >= restartAt ? lease.holder : undefined;
      },
      TAKEOVER_BOUND_MS + 5_000,
      100,
    );
    const resumed = await waitFor(
      'a status written after the outage',
      async () => {
        const document = await statusDocument(cluster);
        return document && Date.parse(String(document.lastUpdate)) > upAt ? document : undefined;
      },
      TAKEOVER_BOUND_MS + INTERVAL_SECONDS * 1000,
      200,
    );
    process.stdout.write(
      `API server outage: status written again ${Date.parse(String(resumed.lastUpdate)) - upAt} ms after the API server came back (holder ${holder})\n`,
    );
    await sleep(2 * INTERVAL_SECONDS * 1000);

    for (const replica of before)
      expect({ replica: replica.name, exit: replica.process.child.exitCode }).toEqual({
        replica: replica.name,
        exit: null,
      });
    // While it was down the API server recorded nothing, so the check is on what followed: one writer only.
    const writesSince = auditedWrites(controlPlane, NAMESPACE).filter((w) => w.at > restartAt);
    const statusWritersSince = new Set(
      writesSince
        .filter((w) => w.resource === 'configmaps' && w.name === STATUS_NAME && w.code < 300)
        .map((w) => w.user),
    );
    expect([...statusWritersSince]).toEqual([userOf(holder)]);
    expect(writesNotFromHolder(auditedWrites(controlPlane, NAMESPACE), userOf)).toEqual([]);
    expect((await leaseHolder(cluster))?.holder).toBe(holder);
    // SPEC sections 2 and 4: while nothing can be written, every replica says so (the last document's tier kept).
    for (const { replica, answer } of during) {
      expect({
        replica,
        status: answer.status,
        mode: answer.body.mode,
        tier: answer.body.tier,
        health: answer.body.health,
      }).toEqual({
        replica,
        status: 200,
        mode: 'operated',
        tier: 'free',
        health: 'unhealthy',
      });
      expect(answer.body.error).toMatch(/Kubernetes API unreachable/);
    }
    for (const replica of running()) {
      const served = (await getJson(`${replica.process.baseUrl}/api/v1/status`)).body;
      expect({ replica: replica.name, health: served.health }).toEqual({ replica: replica.name, health: 'healthy' });
    }
    for (const replica of before) {
      expect({ replica: replica.name, ready: (await getJson(`${replica.process.baseUrl}/readyz`)).status }).toEqual({
        replica: replica.name,
        ready: 200,
      });
    }
  }, 120_000);

  it('every status, state and Event write of the run came from the Lease holder of that moment (audit log)', () => {
    const writes = auditedWrites(controlPlane, NAMESPACE);
    const statusWrites = writes.filter((w) => w.resource === 'configmaps' && w.name === STATUS_NAME && w.code < 300);

    // Leaders of the run: the first, the SIGKILL successor, the SIGTERM successor (and after the outage).
    expect(new Set(statusWrites.map((w) => w.user)).size).toBeGreaterThanOrEqual(3);
    process.stdout.write(
      `Audit log: ${statusWrites.length} status writes by ${[...new Set(statusWrites.map((w) => w.user))].join(', ')}\n`,
    );
    expect(writesNotFromHolder(writes, userOf)).toEqual([]);
  });
});
