/*
 * The 30 s registration timeout is a deadline for the whole exchange (SPEC section 3), not
 * an idle timeout: a kube9-server, proxy or middlebox that trickles its answer, or never
 * answers, gets the same transient timeout 30 s after the request left. The operator runs
 * as a real process with the chart's environment; each case has its own simulator (the
 * clusters of one control plane share one clusterIdentifier) and runs concurrently with the
 * others, so the file waits out 30 s once, not once per case.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { helmInstall, runOperatorAsChart } from './support/chart';
import { TEST_KEYS } from './support/keys';
import { createTestNamespace, deleteTestNamespace } from './support/kube';
import { OperatorProcess, waitFor } from './support/operator-process';
import { Fault, generateTestTls, RecordedRequest, ServerSimulator } from './support/server-simulator';
import { readState, readStatus } from './support/status';

const RELEASE = 'kube9-operator';
const DEADLINE_MS = 30_000;
/** Timers on a 2-core machine shared with the control plane and three operators. */
const MARGIN_MS = 1_500;
const BACKOFF_BASE_SECONDS = 2;
const TIMEOUT_ERROR = /^kube9-server at \S+ did not answer within 30 s; retrying with backoff$/;

/** The simulator's record of request `index` once its connection has closed. */
async function closedRequest(simulator: ServerSimulator, index: number, timeoutMs: number): Promise<RecordedRequest> {
  return waitFor(
    `request ${index + 1}'s connection to close`,
    () => {
      const request = simulator.requests[index];
      return request?.connectionClosedAt !== undefined ? request : undefined;
    },
    timeoutMs,
    20,
  );
}

describe('a deadline of 30 s for the whole registration exchange', () => {
  it.concurrent.each<[string, Fault, boolean]>([
    ['headers at once, then the body one byte every 2 s', { kind: 'trickleBody', everyMs: 2_000 }, false],
    ['the status line, then the headers one byte every 2 s', { kind: 'trickleHeaders', everyMs: 2_000 }, false],
    ['the request accepted and never answered', { kind: 'hang' }, false],
    ['over https: headers at once, then the body one byte every 2 s', { kind: 'trickleBody', everyMs: 2_000 }, true],
  ])(
    '%s: a timeout within 30 s, the connection closed by the operator, one retry after the backoff',
    async (name, fault, https) => {
      const tls = https ? generateTestTls() : undefined;
      const simulator = new ServerSimulator({
        validKeys: [TEST_KEYS.valid],
        tls: tls && { key: tls.key, cert: tls.cert },
      });
      const url = await simulator.start();
      const namespace = await createTestNamespace('deadline');
      let operator: OperatorProcess | undefined;
      try {
        simulator.queueFault(fault);
        const env: Record<string, string> = { REGISTRATION_BACKOFF_BASE_SECONDS: String(BACKOFF_BASE_SECONDS) };
        if (tls) {
          env.NODE_EXTRA_CA_CERTS = path.join(process.env.KUBE9_TEST_CP_DIR!, `simulator-ca-${namespace}.pem`);
          writeFileSync(env.NODE_EXTRA_CA_CERTS, tls.caCert);
        }
        await helmInstall(namespace, RELEASE, {
          serverUrl: url,
          allowInsecureServerUrl: String(!https),
          apiKey: TEST_KEYS.valid,
        });
        operator = await runOperatorAsChart(namespace, RELEASE, env);

        const [first] = await simulator.waitForRequests(1, 20_000);
        const timedOut = await waitFor(
          'the timeout in the status',
          async () => {
            const status = await readStatus(namespace);
            return status && TIMEOUT_ERROR.test(status.error ?? '') ? status : undefined;
          },
          DEADLINE_MS + 10_000,
          100,
        );
        const timeoutSeenAt = Date.now();
        const closed = await closedRequest(simulator, 0, 5_000);
        const failed = await waitFor(
          'the failure in the saved state',
          async () => {
            const state = await readState(namespace);
            return state?.consecutiveTransientFailures === 1 ? state : undefined;
          },
          10_000,
          100,
        );
        const requests = await simulator.waitForRequests(2, 10_000);
        await waitFor(
          'registered after the retry',
          async () => ((await readStatus(namespace))?.registered ? true : undefined),
          10_000,
          100,
        );

        // The outcome: a transient timeout 30 s after the request left, neither sooner nor later.
        expect(timedOut).toMatchObject({ mode: 'enabled', tier: 'pro', registered: false, health: 'degraded' });
        expect(failed.error).toMatch(TIMEOUT_ERROR);
        expect(closed.connectionClosedBy).toBe('client');
        expect(closed.connectionClosedAt! - first.at).toBeGreaterThanOrEqual(DEADLINE_MS - MARGIN_MS);
        expect(closed.connectionClosedAt! - first.at).toBeLessThanOrEqual(DEADLINE_MS + MARGIN_MS);
        expect(timeoutSeenAt - first.at).toBeLessThanOrEqual(DEADLINE_MS + MARGIN_MS + 1_000);
        // The next attempt: the first backoff step (base/2 .. base, jittered) after the outcome.
        const retryAfterMs = requests[1].at - closed.connectionClosedAt!;
        expect(Date.parse(failed.nextAttemptAt)).toBeLessThanOrEqual(requests[1].at + 50);
        expect(retryAfterMs).toBeGreaterThanOrEqual((BACKOFF_BASE_SECONDS * 1000) / 2 - 100);
        expect(retryAfterMs).toBeLessThanOrEqual(BACKOFF_BASE_SECONDS * 1000 + MARGIN_MS);
        // Never two requests in flight, and nothing else sent.
        expect(simulator.maxInFlight).toBe(1);
        expect(simulator.requests).toHaveLength(2);
        expect(simulator.requests.flatMap((request) => request.problems)).toEqual([]);
        process.stdout.write(
          `${name}: connection closed ${closed.connectionClosedAt! - first.at} ms after the request arrived; retry ${retryAfterMs} ms later\n`,
        );
      } finally {
        await operator?.stop().catch(() => undefined);
        await simulator.stop();
        await deleteTestNamespace(namespace);
      }
    },
  );
});
