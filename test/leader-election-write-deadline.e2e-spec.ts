/*
 * SPEC section 9, "never two writers", for a write that is slow to land. Two replicas; the
 * API server calls a webhook of this test for their ConfigMap and Lease writes. The test lets
 * the leader's renewals through until 7.5 s before its next status write, then refuses them;
 * that status write is therefore sent 7.5 to 9.5 s after the leader's last renewal, still inside
 * its renew deadline (10 s), and the webhook holds it for 8.5 s, so that it would land 16 s or
 * more after that renewal: after the lease (15 s), when the other replica may already lead.
 * The operator must abandon it at its renew deadline instead, and the API server's audit log
 * must show no write of the old leader after its lease time, and none after the successor took
 * the Lease. Without the cap (src/modules/kubernetes/leader-write.ts) this test fails.
 *
 *   npx jest --config test/jest-e2e.config.js test/leader-election-write-deadline.e2e-spec.ts
 */
import { AdmissionCall, AdmissionWebhook, startAdmissionWebhook } from './support/admission-webhook';
import { ControlPlane, startControlPlane } from './support/control-plane';
import {
  auditedWrites,
  Cluster,
  clusterOf,
  installChart,
  LEASE_NAME,
  leaseHolder,
  Replica,
  sleep,
  startReplica,
  STATUS_NAME,
  writesNotFromHolder,
  saveLeaderLogs,
} from './support/leader-election';
import { waitFor } from './support/operator-process';

const NAMESPACE = 'kube9-system';
const INTERVAL_MS = 10_000;
const LEASE_MS = 15_000;
const RENEW_DEADLINE_MS = 10_000;
const RETRY_MS = 2_000;
/** Renewals are refused from this long before the leader's next status write. */
const REFUSE_RENEWALS_BEFORE_WRITE_MS = 7_500;
/** The webhook's answer to that write comes this late (under the operator's 10 s request timeout). */
const HOLD_MS = 8_500;

describe('leader election: no write of a leader lands after its lease time', () => {
  let controlPlane: ControlPlane;
  let cluster: Cluster;
  let webhook: AdmissionWebhook;
  const replicas = new Map<string, Replica>();
  const userOf = (holder: string) => `system:serviceaccount:${NAMESPACE}:${holder}`;

  beforeAll(async () => {
    controlPlane = await startControlPlane({ withControllerManager: false, auditLog: true });
    cluster = clusterOf(controlPlane, NAMESPACE);
    await installChart(cluster, { replicaCount: '2', statusUpdateIntervalSeconds: String(INTERVAL_MS / 1000) });
    webhook = await startAdmissionWebhook(controlPlane);
    await webhook.register(NAMESPACE, `system:serviceaccount:${NAMESPACE}:replica-`);
    for (const name of ['replica-a', 'replica-b']) replicas.set(name, await startReplica(cluster, name));
  }, 180_000);

  afterAll(async () => {
    saveLeaderLogs(replicas.values(), controlPlane);
    await Promise.all([...replicas.values()].map((r) => r.process.stop('SIGKILL').catch(() => undefined)));
    await webhook?.close();
    await controlPlane?.stop();
  });

  it('a status write sent just before the renew deadline is abandoned at it, and the successor is the only writer after', async () => {
    const leader = await waitFor(
      'a Lease holder',
      async () => {
        const holder = (await leaseHolder(cluster))?.holder;
        return holder && replicas.has(holder) ? holder : undefined;
      },
      30_000,
      100,
    );
    const leaderUser = userOf(leader);
    const callsOf = (resource: string, name: string) =>
      webhook.calls.filter((c) => c.user === leaderUser && c.resource === resource && c.name === name);
    // The phase of the leader's status schedule, from two of its writes one interval apart as the webhook saw them.
    const lastTick = await waitFor(
      "two of the leader's scheduled status writes, one interval apart",
      () => {
        const writes = callsOf('configmaps', STATUS_NAME);
        const [previous, last] = writes.slice(-2);
        return previous && Math.abs(last.at - previous.at - INTERVAL_MS) < 1_000 ? last.at : undefined;
      },
      4 * INTERVAL_MS,
      50,
    );
    let nextWrite = lastTick + INTERVAL_MS;
    while (nextWrite - REFUSE_RENEWALS_BEFORE_WRITE_MS < Date.now() + 500) nextWrite += INTERVAL_MS;
    const refuseFrom = nextWrite - REFUSE_RENEWALS_BEFORE_WRITE_MS;
    webhook.setPolicy((call: AdmissionCall) => {
      if (call.user !== leaderUser || call.at < refuseFrom) return { allowed: true };
      if (call.resource === 'leases') return { allowed: false, message: "the test refuses this holder's renewals" };
      return { allowed: true, holdMs: HOLD_MS };
    });

    const successor = await waitFor(
      'the other replica holding the Lease',
      async () => {
        const holder = (await leaseHolder(cluster))?.holder;
        return holder && holder !== leader && replicas.has(holder) ? holder : undefined;
      },
      refuseFrom - Date.now() + LEASE_MS + 2 * RETRY_MS + 10_000,
      100,
    );
    const held = await waitFor(
      "the leader's status write after its renewals were refused, answered or abandoned",
      () => {
        const call = callsOf('configmaps', STATUS_NAME).find((c) => c.at >= refuseFrom);
        return call && (call.answeredAt ?? call.abandonedAt) !== undefined ? call : undefined;
      },
      HOLD_MS + 5_000,
      50,
    );
    // Long enough for anything still in flight to land (the operator's request timeout is 10 s).
    await sleep(3_000);

    const lastAllowedRenewal = callsOf('leases', LEASE_NAME)
      .filter((c) => c.at < refuseFrom)
      .at(-1)!;
    const writes = auditedWrites(controlPlane, NAMESPACE);
    const ok = (code: number) => code >= 200 && code < 300;
    const lastRenewal = writes
      .filter((w) => w.resource === 'leases' && w.user === leaderUser && w.holder === leader && ok(w.code))
      .at(-1)!;
    const acquired = writes.find(
      (w) => w.resource === 'leases' && w.user === userOf(successor) && w.holder === successor && ok(w.code),
    )!;
    const leaderWritesAfterRenewal = writes.filter(
      (w) => w.user === leaderUser && w.resource !== 'leases' && ok(w.code) && w.at > lastRenewal.at,
    );
    const successorWrite = writes.find(
      (w) => w.resource === 'configmaps' && w.name === STATUS_NAME && w.user === userOf(successor) && ok(w.code),
    );
    process.stdout.write(
      `Write deadline: status write sent ${held.at - lastAllowedRenewal.at} ms after the last renewal, ` +
        `abandoned by the API server ${held.abandonedAt === undefined ? 'never' : `${held.abandonedAt - lastAllowedRenewal.at} ms`} after it; ` +
        `successor took the Lease ${acquired.at - lastRenewal.at} ms after the leader's last renewal; ` +
        `leader writes after that renewal: ${leaderWritesAfterRenewal.map((w) => `${w.name} +${w.at - lastRenewal.at} ms`).join(', ') || 'none'}\n`,
    );

    // The scenario happened: the leader sent this write while it still led.
    expect(held.at - lastAllowedRenewal.at).toBeLessThan(RENEW_DEADLINE_MS);
    // On the API server's side: no write of the old leader later than its lease time, none once the successor led.
    for (const write of leaderWritesAfterRenewal) expect(write.at - lastRenewal.at).toBeLessThan(LEASE_MS);
    expect(leaderWritesAfterRenewal.filter((w) => w.at >= acquired.at)).toEqual([]);
    // The write never reached etcd: the operator gave up at its renew deadline, so the API server abandoned it.
    expect(held.answeredAt).toBeUndefined();
    expect(held.abandonedAt! - lastAllowedRenewal.at).toBeLessThan(RENEW_DEADLINE_MS + 1_000);
    expect(writesNotFromHolder(writes, userOf)).toEqual([]);
    expect(successorWrite).toBeDefined();
    expect(successorWrite!.at).toBeGreaterThanOrEqual(acquired.at);
  }, 150_000);
});
