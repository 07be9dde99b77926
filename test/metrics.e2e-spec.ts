/*
 * GET /metrics tells the same story as GET /api/v1/status (SPEC sections 2 and
 * 7), end to end: the operator as a real process with the chart's environment
 * and ServiceAccount, the real API server, and the kube9-server simulator. In
 * the free tier, and in the pro tier through a server error, a 429, a
 * successful registration and the key's removal (its Secret deleted); plus a
 * refused key. Every scrape is kept for the no-leak check (test/no-leak).
 */
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { METRIC_NAMES, REGISTRATION_ATTEMPT_OUTCOMES } from '../src/modules/metrics/metrics.constants';
import { repoRoot } from './support/binaries';
import { helmInstall, runOperatorAsChart } from './support/chart';
import { adminKubeConfig, createTestNamespace, deleteTestNamespace } from './support/kube';
import { TEST_KEYS } from './support/keys';
import { Scrape, scrapeMetrics } from './support/metrics';
import { getJson, OperatorProcess, waitFor } from './support/operator-process';
import { ServerSimulator } from './support/server-simulator';
import { readState } from './support/status';

const VERSION = (JSON.parse(readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { version: string })
  .version;
const RELEASE = 'kube9-operator';
const CHART_INTERVAL_SECONDS = 10;
const SERVER_CONFIGURATION = { statusUpdateIntervalSeconds: 15, reregistrationIntervalHours: 2 };
/** Long enough that each failed attempt's state can be read before the retry (10 to 20 s). */
const BACKOFF_BASE_SECONDS = 20;
const RETRY_AFTER_SECONDS = 15;

type Status = Record<string, any>;
interface Run {
  namespace: string;
  operator: OperatorProcess;
}

const runs: Run[] = [];
let simulator: ServerSimulator;

beforeAll(async () => {
  simulator = new ServerSimulator({
    validKeys: [TEST_KEYS.valid],
    revokedKeys: [TEST_KEYS.revoked],
    configuration: SERVER_CONFIGURATION,
    rateLimitPerHour: 1000,
  });
  await simulator.start();
});

afterAll(async () => {
  for (const run of runs.splice(0)) {
    await run.operator.stop().catch(() => undefined);
    await deleteTestNamespace(run.namespace);
  }
  await simulator?.stop();
});

async function install(name: string, set: Record<string, string> = {}): Promise<string> {
  const namespace = await createTestNamespace(name);
  await helmInstall(namespace, RELEASE, {
    serverUrl: simulator.url,
    allowInsecureServerUrl: 'true',
    statusUpdateIntervalSeconds: String(CHART_INTERVAL_SECONDS),
    ...set,
  });
  return namespace;
}

async function startIn(namespace: string, env: Record<string, string> = {}): Promise<Run> {
  const operator = await runOperatorAsChart(namespace, RELEASE, {
    REGISTRATION_BACKOFF_BASE_SECONDS: String(BACKOFF_BASE_SECONDS),
    ...env,
  });
  const run = { namespace, operator };
  runs.push(run);
  return run;
}

async function start(name: string, apiKey?: string): Promise<Run> {
  return startIn(await install(name, apiKey ? { apiKey } : {}));
}

/**
 * The status document and a scrape taken between two reads of the same document, so that no
 * write happened in between: what a reader and Prometheus saw at one moment.
 */
async function snapshot(run: Run): Promise<{ status: Status; metrics: Scrape }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const before = await getJson(`${run.operator.baseUrl}/api/v1/status`);
    const metrics = await scrapeMetrics(run.operator.baseUrl);
    const after = await getJson(`${run.operator.baseUrl}/api/v1/status`);
    if (before.status === 200 && JSON.stringify(before.body) === JSON.stringify(after.body)) {
      return { status: before.body as Status, metrics };
    }
  }
  throw new Error('the status changed during every one of 20 scrapes');
}

/** Waits until GET /api/v1/status shows `predicate`, then takes a snapshot that still shows it. */
async function when(run: Run, what: string, predicate: (status: Status) => boolean, timeoutMs = 30_000) {
  return waitFor(
    what,
    async () => {
      const seen = await snapshot(run);
      return predicate(seen.status) ? seen : undefined;
    },
    timeoutMs,
    200,
  );
}

/** Each metric that mirrors the status document has the document's value. */
function expectSameStory(status: Status, metrics: Scrape): void {
  expect(metrics.all(METRIC_NAMES.info).map((sample) => [sample.labels, sample.value])).toEqual([
    [{ version: status.version, mode: status.mode, tier: status.tier }, 1],
  ]);
  const health = Object.fromEntries(metrics.all(METRIC_NAMES.health).map((s) => [s.labels.state, s.value]));
  expect(health).toEqual({
    healthy: status.health === 'healthy' ? 1 : 0,
    degraded: status.health === 'degraded' ? 1 : 0,
    unhealthy: status.health === 'unhealthy' ? 1 : 0,
  });
  expect(metrics.value(METRIC_NAMES.registered)).toBe(status.registered ? 1 : 0);
  expect(metrics.value(METRIC_NAMES.apiKeyConfigured)).toBe(status.apiKeyConfigured ? 1 : 0);
  // The document served is the one last written: written at its lastUpdate, within the write's latency.
  const writtenAtMs = metrics.value(METRIC_NAMES.lastStatusWrite) * 1000;
  expect(writtenAtMs).toBeGreaterThanOrEqual(Date.parse(status.lastUpdate));
  expect(writtenAtMs - Date.parse(status.lastUpdate)).toBeLessThan(5_000);
  expect(metrics.value(METRIC_NAMES.statusWrites, { result: 'success' })).toBeGreaterThanOrEqual(1);
  expect(metrics.value(METRIC_NAMES.statusWrites, { result: 'error' })).toBe(0);
}

function attempts(metrics: Scrape): Record<string, number> {
  return Object.fromEntries(
    REGISTRATION_ATTEMPT_OUTCOMES.map((outcome) => [
      outcome,
      metrics.value(METRIC_NAMES.registrationAttempts, { outcome }),
    ]),
  );
}

const NO_ATTEMPTS = Object.fromEntries(REGISTRATION_ATTEMPT_OUTCOMES.map((outcome) => [outcome, 0]));

/**
 * kube9_operator_next_registration_timestamp_seconds against the saved state's nextAttemptAt.
 * The state is saved just after the status it explains, and the next attempt is scheduled (and
 * so the metric set) just after the save: the metric is read again until it follows.
 */
async function expectNextAttemptAsSaved(run: Run, status: Status): Promise<number> {
  const state = await waitFor(
    'the saved state of the same attempt',
    async () => {
      const saved = await readState(run.namespace);
      return saved && saved.error === status.error ? saved : undefined;
    },
    10_000,
    100,
  );
  const nextAttemptAt = Date.parse(state.nextAttemptAt as string);
  await waitFor(
    `kube9_operator_next_registration_timestamp_seconds ${nextAttemptAt / 1000}`,
    async () => {
      const metrics = await scrapeMetrics(run.operator.baseUrl);
      return metrics.value(METRIC_NAMES.nextRegistration) === nextAttemptAt / 1000 ? true : undefined;
    },
    5_000,
    50,
  );
  return nextAttemptAt;
}

describe('free tier (no key)', () => {
  it('the metrics say operated / free, healthy, no key, nothing registered or scheduled', async () => {
    const requestsBefore = simulator.requests.length;
    const run = await start('metrics-free');

    const { status, metrics } = await when(run, 'the first status', (s) => typeof s.mode === 'string');

    expect(status).toMatchObject({ mode: 'operated', tier: 'free', health: 'healthy', version: VERSION });
    expectSameStory(status, metrics);
    expect(metrics.value(METRIC_NAMES.isLeader)).toBe(1);
    expect(metrics.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(attempts(metrics)).toEqual(NO_ATTEMPTS);
    expect(metrics.value(METRIC_NAMES.nextRegistration)).toBe(0);
    expect(metrics.value(METRIC_NAMES.statusInterval)).toBe(CHART_INTERVAL_SECONDS);
    expect(metrics.value('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(metrics.all('nodejs_heap_size_used_bytes')).toHaveLength(1);
    expect(simulator.requests.length).toBe(requestsBefore);
  });
});

describe('pro tier: a server error, a 429, registered, then the key removed', () => {
  let run: Run;

  beforeAll(async () => {
    simulator.queueFault({ kind: 'status', status: 503 });
    simulator.queueFault({ kind: 'rateLimit', retryAfter: String(RETRY_AFTER_SECONDS) });
    run = await start('metrics-pro', TEST_KEYS.valid);
  });

  it('503: enabled / pro, degraded, not registered; one server_error; the retry as saved', async () => {
    const { status, metrics } = await when(run, 'the 503 in the status', (s) => /answered 503/.test(s.error ?? ''));

    expect(status).toMatchObject({ mode: 'enabled', tier: 'pro', health: 'degraded', registered: false });
    expectSameStory(status, metrics);
    expect(attempts(metrics)).toEqual({ ...NO_ATTEMPTS, server_error: 1 });
    const next = await expectNextAttemptAsSaved(run, status);
    expect(next - Date.now()).toBeGreaterThan(0);
    expect(next - Date.now()).toBeLessThanOrEqual(BACKOFF_BASE_SECONDS * 1000);
  });

  it('429: still enabled / pro and degraded; one rate_limited; the next attempt after Retry-After', async () => {
    const { status, metrics } = await when(run, 'the 429 in the status', (s) => /rate limiting/.test(s.error ?? ''));

    expect(status).toMatchObject({ mode: 'enabled', tier: 'pro', health: 'degraded', registered: false });
    expectSameStory(status, metrics);
    expect(attempts(metrics)).toEqual({ ...NO_ATTEMPTS, server_error: 1, rate_limited: 1 });
    const next = await expectNextAttemptAsSaved(run, status);
    const lastAnswer = simulator.requests[simulator.requests.length - 1];
    expect(lastAnswer.answeredStatus).toBe(429);
    expect(next - lastAnswer.at).toBeGreaterThanOrEqual(RETRY_AFTER_SECONDS * 1000);
    expect(next - lastAnswer.at).toBeLessThan((RETRY_AFTER_SECONDS + 3) * 1000);
  });

  it("200: enabled / pro, healthy, registered; the server's interval; re-registration in 2 h", async () => {
    const { status, metrics } = await when(run, 'registered', (s) => s.registered === true, 40_000);

    expect(status).toMatchObject({ mode: 'enabled', tier: 'pro', health: 'healthy', registered: true });
    expectSameStory(status, metrics);
    expect(attempts(metrics)).toEqual({ ...NO_ATTEMPTS, server_error: 1, rate_limited: 1, registered: 1 });
    expect(metrics.value(METRIC_NAMES.statusInterval)).toBe(SERVER_CONFIGURATION.statusUpdateIntervalSeconds);
    const next = await expectNextAttemptAsSaved(run, status);
    expect(next - Date.now()).toBeGreaterThan(2 * 3_600_000 - 60_000);
  });

  it('the Secret deleted: operated / free, healthy, no key, nothing scheduled; the counts stay', async () => {
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    await core.deleteNamespacedSecret({ name: RELEASE, namespace: run.namespace });

    const { status, metrics } = await when(run, 'the key gone', (s) => s.apiKeyConfigured === false);

    expect(status).toMatchObject({ mode: 'operated', tier: 'free', health: 'healthy', registered: false });
    expectSameStory(status, metrics);
    expect(metrics.value(METRIC_NAMES.nextRegistration)).toBe(0);
    expect(metrics.value(METRIC_NAMES.statusInterval)).toBe(CHART_INTERVAL_SECONDS);
    expect(attempts(metrics)).toEqual({ ...NO_ATTEMPTS, server_error: 1, rate_limited: 1, registered: 1 });
  });
});

describe('pro tier: a refused key', () => {
  it('401: operated / free, degraded; one refused; no retry for 24 h', async () => {
    const run = await start('metrics-refused', TEST_KEYS.revoked);

    const { status, metrics } = await when(run, 'the refusal', (s) => /refused the API key/.test(s.error ?? ''));

    expect(status).toMatchObject({ mode: 'operated', tier: 'free', health: 'degraded', apiKeyConfigured: true });
    expectSameStory(status, metrics);
    expect(attempts(metrics)).toEqual({ ...NO_ATTEMPTS, refused: 1 });
    const next = await expectNextAttemptAsSaved(run, status);
    expect(next - Date.now()).toBeGreaterThan(24 * 3_600_000 - 60_000);
  });
});

describe('two replicas with leader election', () => {
  it("is_leader is 1 on the Lease holder only; the follower shows the leader's document; a successor takes over", async () => {
    const namespace = await install('metrics-leader', { replicaCount: '2' });
    const replicas = [
      await startIn(namespace, { POD_NAME: 'metrics-replica-a' }),
      await startIn(namespace, { POD_NAME: 'metrics-replica-b' }),
    ];
    const coordination = adminKubeConfig().makeApiClient(CoordinationV1Api);
    const holder = async () =>
      (await coordination.readNamespacedLease({ name: 'kube9-operator-leader', namespace })).spec?.holderIdentity;
    const leaderName = await waitFor('a Lease holder', async () => (await holder()) || undefined, 30_000, 200);
    const [leader, follower] = leaderName === 'metrics-replica-a' ? replicas : [replicas[1], replicas[0]];

    const leaderView = await when(leader, 'the leader writes', (s) => s.mode === 'operated', 30_000);
    const followerView = await when(
      follower,
      "the follower serves the leader's document",
      (s) => s.lastUpdate === leaderView.status.lastUpdate,
      30_000,
    );

    expect(leaderView.metrics.value(METRIC_NAMES.isLeader)).toBe(1);
    expectSameStory(leaderView.status, leaderView.metrics);
    expect(followerView.metrics.value(METRIC_NAMES.isLeader)).toBe(0);
    expect(followerView.metrics.all(METRIC_NAMES.info)).toEqual(leaderView.metrics.all(METRIC_NAMES.info));
    expect(followerView.metrics.value(METRIC_NAMES.health, { state: followerView.status.health })).toBe(1);
    // The follower writes nothing.
    expect(followerView.metrics.value(METRIC_NAMES.statusWrites, { result: 'success' })).toBe(0);
    expect(followerView.metrics.value(METRIC_NAMES.lastStatusWrite)).toBe(0);

    await leader.operator.stop('SIGTERM');
    await waitFor(
      'the follower leads',
      async () =>
        (await scrapeMetrics(follower.operator.baseUrl)).value(METRIC_NAMES.isLeader) === 1 ? true : undefined,
      30_000,
      200,
    );
    const successor = await when(
      follower,
      'the successor writes',
      (s) => s.lastUpdate !== leaderView.status.lastUpdate,
    );
    expectSameStory(successor.status, successor.metrics);
  });
});
