/*
 * Pro tier end to end: the operator as a real process (chart environment and
 * ServiceAccount), the real API server, and the kube9-server simulator. Each
 * row of the SPEC's answer table, the key's life in its Secret, and the
 * request checked field by field. Schedules are asserted from the saved state
 * (kube9-operator-state), not by sleeping through them.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from './support/binaries';
import { helmInstall, runOperatorAsChart } from './support/chart';
import { adminKubeConfig, createTestNamespace, deleteTestNamespace, requiredEnv } from './support/kube';
import { TEST_KEYS } from './support/keys';
import { getJson, OperatorProcess, waitFor } from './support/operator-process';
import { Fault, generateTestTls, ServerSimulator } from './support/server-simulator';
import { readState, STATE_CONFIGMAP, statusWhere } from './support/status';

const VERSION = (JSON.parse(readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { version: string })
  .version;
const RELEASE = 'kube9-operator';
const BACKOFF_BASE_SECONDS = 2;
const SERVER_CONFIGURATION = { statusUpdateIntervalSeconds: 15, reregistrationIntervalHours: 2 };

interface ProRun {
  namespace: string;
  operator: OperatorProcess;
}

const runs: ProRun[] = [];
let simulator: ServerSimulator;
let core: CoreV1Api;
/** Requests the simulator had seen when the current test began: each test runs one operator at a time. */
let requestsAtTestStart = 0;

beforeAll(async () => {
  simulator = new ServerSimulator({
    validKeys: [TEST_KEYS.valid, TEST_KEYS.second, TEST_KEYS.chart, TEST_KEYS.upgrade],
    revokedKeys: [TEST_KEYS.revoked],
    expiredKeys: [TEST_KEYS.expired],
    configuration: SERVER_CONFIGURATION,
    rateLimitPerHour: 1000,
  });
  await simulator.start();
  core = adminKubeConfig().makeApiClient(CoreV1Api);
});

beforeEach(() => {
  requestsAtTestStart = simulator.requests.length;
});

afterEach(async () => {
  // Every test's operator stayed within kube9-server's 10 registrations per hour.
  expect(simulator.requests.length - requestsAtTestStart).toBeLessThanOrEqual(10);
  simulator.setFault(null);
  for (const run of runs.splice(0)) {
    await run.operator.stop().catch(() => undefined);
    await deleteTestNamespace(run.namespace);
  }
});

afterAll(() => simulator?.stop());

/** A namespace with the chart installed (with `apiKey` when given) and the operator running against the simulator. */
async function startPro(
  name: string,
  opts: { apiKey?: string; env?: Record<string, string>; beforeStart?: (namespace: string) => Promise<void> } = {},
): Promise<ProRun> {
  const namespace = await createTestNamespace(name);
  await helmInstall(namespace, RELEASE, {
    serverUrl: simulator.url,
    allowInsecureServerUrl: 'true',
    statusUpdateIntervalSeconds: '10',
    ...(opts.apiKey ? { apiKey: opts.apiKey } : {}),
  });
  await opts.beforeStart?.(namespace);
  const operator = await runOperator(namespace, opts.env);
  const run = { namespace, operator };
  runs.push(run);
  return run;
}

/** The operator with the chart's environment in `namespace`, its backoff shortened, plus `env`. */
function runOperator(namespace: string, env: Record<string, string> = {}): Promise<OperatorProcess> {
  return runOperatorAsChart(namespace, RELEASE, {
    REGISTRATION_BACKOFF_BASE_SECONDS: String(BACKOFF_BASE_SECONDS),
    ...env,
  });
}

/** The saved state once it shows `predicate`: it is written just after the status it explains. */
async function stateWhere(run: ProRun, what: string, predicate: (state: Record<string, any>) => boolean) {
  return waitFor(
    `the saved state: ${what}`,
    async () => {
      const state = await readState(run.namespace);
      return state && predicate(state) ? state : undefined;
    },
    10_000,
    100,
  );
}

/** The namespace's events as `kubectl get events` shows them. */
async function eventsIn(namespace: string): Promise<Array<{ reason?: string; message?: string; type?: string }>> {
  const list = await core.listNamespacedEvent({ namespace });
  return list.items;
}

/** A delay the operator computed from the moment an answer arrived: `expected`, plus that answer's latency. */
function expectDelay(fromMs: number, toMs: number, expected: number) {
  expect(toMs - fromMs).toBeGreaterThanOrEqual(expected);
  expect(toMs - fromMs).toBeLessThan(expected + 2_000);
}

function expectedClusterIdentifier(): string {
  const cluster = adminKubeConfig().getCurrentCluster()!;
  const pem = Buffer.from(cluster.caData!, 'base64').toString('utf8');
  return `sha256:${createHash('sha256').update(new X509Certificate(pem).raw).digest('hex')}`;
}

describe('200: registered', () => {
  const nodes = ['e2e-node-a', 'e2e-node-b', 'e2e-node-c'];

  beforeAll(async () => {
    for (const name of nodes) await core.createNode({ body: { metadata: { name } } });
  });

  afterAll(async () => {
    for (const name of nodes) await core.deleteNode({ name }).catch(() => undefined);
  });

  it("goes enabled / pro, registered and healthy, with the server's clusterId and configuration", async () => {
    const before = simulator.requests.length;
    const run = await startPro('reg200', { apiKey: TEST_KEYS.valid });

    const status = await statusWhere(run.namespace, 'registered', (s) => s.registered === true);

    const request = simulator.requests[before];
    expect(status).toMatchObject({
      mode: 'enabled',
      tier: 'pro',
      health: 'healthy',
      registered: true,
      error: null,
      apiKeyConfigured: true,
      namespace: run.namespace,
    });
    expect(status.clusterId).toBe(simulator.clusterIdFor(expectedClusterIdentifier()));
    expect((await getJson(`${run.operator.baseUrl}/api/v1/status`)).body).toEqual(status);

    const state = await stateWhere(run, 'registered', (saved) => saved.registered === true);
    expect(state.serverConfiguration).toEqual(SERVER_CONFIGURATION);
    expectDelay(Date.parse(state.lastAttemptAt), Date.parse(state.nextAttemptAt), 2 * 3_600_000);
    expect(JSON.stringify(state)).not.toContain(TEST_KEYS.valid);
    expect(run.operator.logs()).toContainEqual(
      expect.objectContaining({ message: 'Status interval changed from 10 s to 15 s' }),
    );
    expect(request.answeredStatus).toBe(200);
  });

  it("sends exactly the SPEC's request: headers, and a body with the 71-character identifier and the real node count", async () => {
    const before = simulator.requests.length;
    const run = await startPro('reqshape', { apiKey: TEST_KEYS.valid });
    await statusWhere(run.namespace, 'registered', (s) => s.registered === true);

    const request = simulator.requests[before];
    expect(request.problems).toEqual([]);
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v1/operator/register');
    expect(request.headers.authorization).toBe(`Bearer ${TEST_KEYS.valid}`);
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers['user-agent']).toBe(`kube9-operator/${VERSION}`);
    expect(request.body).toEqual({
      operatorVersion: VERSION,
      clusterIdentifier: expectedClusterIdentifier(),
      // The control plane's version as built (v1.37.2, or the oldest's), without the v.
      kubernetesVersion: requiredEnv('KUBE9_TEST_KUBERNETES_VERSION').replace(/^v/, ''),
      approximateNodeCount: nodes.length,
    });
    expect((request.body as { clusterIdentifier: string }).clusterIdentifier).toHaveLength(71);
  });

  it('records a Registered event', async () => {
    const run = await startPro('events', { apiKey: TEST_KEYS.valid });
    await statusWhere(run.namespace, 'registered', (s) => s.registered === true);

    const events = await waitFor('the events', async () => {
      const all = await eventsIn(run.namespace);
      return all.some((e) => e.reason === 'Registered') ? all : undefined;
    });

    expect(events).toContainEqual(
      expect.objectContaining({ reason: 'Registered', type: 'Normal', message: expect.stringContaining('cls_') }),
    );
  });
});

describe('refusals: free tier, degraded, no retry for 24 h', () => {
  it.each<[string, string, Fault | undefined, string]>([
    [
      '400 INVALID_REQUEST',
      TEST_KEYS.valid,
      {
        kind: 'status',
        status: 400,
        body: { error: 'Bad Request', code: 'INVALID_REQUEST', message: 'rejected by test', details: ['x'] },
      },
      'INVALID_REQUEST',
    ],
    ['401 INVALID_API_KEY (revoked key)', TEST_KEYS.revoked, undefined, 'INVALID_API_KEY'],
    ['401 API_KEY_EXPIRED', TEST_KEYS.expired, undefined, 'API_KEY_EXPIRED'],
    [
      '403',
      TEST_KEYS.valid,
      { kind: 'status', status: 403, body: { error: 'Forbidden', code: 'FORBIDDEN', message: 'cluster blocked' } },
      '403 FORBIDDEN',
    ],
  ])('%s', async (_name, key, fault, code) => {
    if (fault) simulator.queueFault(fault);
    const before = simulator.requests.length;
    const run = await startPro('refused', { apiKey: key });

    const status = await statusWhere(run.namespace, 'a refusal', (s) => s.error !== null && s.error.includes(code));

    expect(status).toMatchObject({
      mode: 'operated',
      tier: 'free',
      registered: false,
      health: 'degraded',
      apiKeyConfigured: true,
    });
    expect(status).not.toHaveProperty('clusterId');
    if (code === 'INVALID_REQUEST') {
      expect(run.operator.logs()).toContainEqual(
        expect.objectContaining({ level: 'error', message: expect.stringContaining('details: ["x"]') }),
      );
    }
    const state = await stateWhere(run, 'refused', (saved) => saved.refused === true);
    expect(state.refused).toBe(true);
    expectDelay(Date.parse(state.lastAttemptAt), Date.parse(state.nextAttemptAt), 24 * 3_600_000);
    await new Promise((resolve) => setTimeout(resolve, 3 * BACKOFF_BASE_SECONDS * 1000));
    expect(simulator.requests.length - before).toBe(1);
    const events = await waitFor('the ApiKeyRejected event', async () => {
      const all = await eventsIn(run.namespace);
      return all.some((e) => e.reason === 'ApiKeyRejected') ? all : undefined;
    });
    expect(events).toContainEqual(expect.objectContaining({ reason: 'ApiKeyRejected', type: 'Warning' }));
  });
});

describe('429: waits Retry-After and keeps the mode', () => {
  it.each([
    // [name, Retry-After value, earliest time of the next request given the first one's arrival]
    ['seconds', () => '3', (_value: string, firstAt: number) => firstAt + 3_000],
    ['an HTTP date', () => new Date(Date.now() + 8_000).toUTCString(), (value: string) => Date.parse(value)],
  ])('Retry-After as %s', async (_name, retryAfter, earliest) => {
    const value = retryAfter();
    simulator.queueFault({ kind: 'rateLimit', retryAfter: value });
    const before = simulator.requests.length;
    const run = await startPro('ratelimit', { apiKey: TEST_KEYS.valid });

    const limited = await statusWhere(run.namespace, 'rate limited', (s) => /rate limiting/.test(s.error ?? ''));
    expect(limited).toMatchObject({ mode: 'enabled', tier: 'pro', registered: false, health: 'degraded' });
    const state = await stateWhere(run, 'rate limited', (saved) => /rate limiting/.test(saved.error ?? ''));
    expect(state.consecutiveTransientFailures).toBe(0);

    await statusWhere(run.namespace, 'registered after the wait', (s) => s.registered === true, 15_000);
    const [first, second] = simulator.requests.slice(before);
    expect(second.at).toBeGreaterThanOrEqual(earliest(value, first.at));
    expect(second.at).toBeLessThan(earliest(value, first.at) + 3_000);
    expect(Date.parse(state.nextAttemptAt)).toBeGreaterThanOrEqual(earliest(value, first.at));
  });
});

describe('transient failures: enabled but degraded, backoff, free after 5 in a row', () => {
  it('a 503 keeps enabled / pro and degraded, retries after the first backoff step, then registers', async () => {
    simulator.queueFault({ kind: 'status', status: 503 });
    const run = await startPro('fail503', { apiKey: TEST_KEYS.valid });

    const failing = await statusWhere(run.namespace, 'a 503', (s) => /answered 503/.test(s.error ?? ''));
    // The backoff runs from the answer, which came after the attempt began and before the status showed it.
    const seenAt = Date.now();

    expect(failing).toMatchObject({ mode: 'enabled', tier: 'pro', registered: false, health: 'degraded' });
    const state = await stateWhere(run, 'one failure', (saved) => saved.consecutiveTransientFailures === 1);
    const next = Date.parse(state.nextAttemptAt);
    expect(next - Date.parse(state.lastAttemptAt)).toBeGreaterThanOrEqual((BACKOFF_BASE_SECONDS * 1000) / 2);
    expect(next - seenAt).toBeLessThanOrEqual(BACKOFF_BASE_SECONDS * 1000);
    await statusWhere(
      run.namespace,
      'registered after the retry',
      (s) => s.registered === true && s.health === 'healthy',
    );
  });

  it.each<[string, Fault, RegExp]>([
    [
      'a connection reset',
      { kind: 'reset' },
      /Could not reach kube9-server at 127\.0\.0\.1:\d+ \(ECONNRESET|socket hang up|Could not reach/,
    ],
    [
      'a 200 that is not JSON',
      { kind: 'malformed', body: '<html>maintenance</html>' },
      /200 with a body that is not JSON/,
    ],
    [
      'a 200 with a malformed clusterId',
      {
        kind: 'malformed',
        body: JSON.stringify({
          status: 'registered',
          clusterId: 'cls_x',
          tier: 'pro',
          configuration: { statusUpdateIntervalSeconds: 60, reregistrationIntervalHours: 24 },
        }),
      },
      /clusterId must be cls_/,
    ],
    [
      'a 200 with an interval that is not a number',
      {
        kind: 'malformed',
        body: JSON.stringify({
          status: 'registered',
          clusterId: 'cls_abcdefghijkl',
          tier: 'pro',
          configuration: { statusUpdateIntervalSeconds: 'soon', reregistrationIntervalHours: 24 },
        }),
      },
      /statusUpdateIntervalSeconds must be a number/,
    ],
    ['an oversized 200', { kind: 'malformed', body: `{"pad":"${'x'.repeat(200_000)}"}` }, /larger than 65536 bytes/],
  ])('%s is a transient server error', async (_name, fault, reason) => {
    simulator.queueFault(fault);
    const run = await startPro('transient', { apiKey: TEST_KEYS.valid });

    const status = await statusWhere(run.namespace, 'the failure', (s) => reason.test(s.error ?? ''));

    expect(status).toMatchObject({ mode: 'enabled', tier: 'pro', registered: false, health: 'degraded' });
    await statusWhere(run.namespace, 'registered after the retry', (s) => s.registered === true);
  });

  it('5 failures in a row fall back to operated / free, and retries go on', async () => {
    simulator.setFault({ kind: 'status', status: 500 });
    const before = simulator.requests.length;
    const run = await startPro('exhaust', { apiKey: TEST_KEYS.valid });

    const free = await statusWhere(run.namespace, '5 failures', (s) => s.mode === 'operated', 60_000);

    expect(free).toMatchObject({ tier: 'free', registered: false, health: 'degraded', apiKeyConfigured: true });
    expect(free.error).toContain('5 failures in a row');
    expect(simulator.requests.length - before).toBe(5);
    const state = await stateWhere(run, 'five failures', (saved) => saved.consecutiveTransientFailures === 5);
    expect(state.consecutiveTransientFailures).toBe(5);
    simulator.setFault(null);
    await statusWhere(
      run.namespace,
      'registered once the server recovers',
      (s) => s.registered === true && s.mode === 'enabled',
      60_000,
    );
    expect(simulator.rateLimitViolations).toEqual({});
  });

  it('a registered cluster stays enabled through 4 failed re-registrations and falls back at the 5th', async () => {
    const run = await startPro('rereg', { apiKey: TEST_KEYS.valid });
    await statusWhere(run.namespace, 'registered', (s) => s.registered === true);
    await run.operator.stop();
    const state = await stateWhere(run, 'registered', (saved) => saved.registered === true);
    // As if the re-registration interval had passed while the operator was down.
    const current = await core.readNamespacedConfigMap({ name: STATE_CONFIGMAP, namespace: run.namespace });
    const due = { ...state, nextAttemptAt: new Date().toISOString() };
    await core.replaceNamespacedConfigMap({
      name: STATE_CONFIGMAP,
      namespace: run.namespace,
      body: { ...current, data: { state: JSON.stringify(due) } },
    });
    simulator.queueFault({ kind: 'status', status: 502 }, 5);
    const before = simulator.requests.length;
    run.operator = await runOperator(run.namespace);

    const fourth = await statusWhere(
      run.namespace,
      '4 failed re-registrations',
      () => simulator.requests.length - before >= 4 && simulator.requests.length - before < 5,
      60_000,
    );
    expect(fourth).toMatchObject({ mode: 'enabled', tier: 'pro', registered: true, health: 'degraded' });
    expect(fourth.clusterId).toMatch(/^cls_/);

    const fifth = await statusWhere(run.namespace, 'the 5th failure', (s) => s.mode === 'operated', 60_000);
    expect(fifth).toMatchObject({ tier: 'free', registered: false, health: 'degraded' });
    expect(fifth).not.toHaveProperty('clusterId');
  });
});

describe('a new kube9-server (serverUrl changed by helm upgrade)', () => {
  it("registers with the new server at once; the old server's registration is not resumed", async () => {
    const run = await startPro('new-server', { apiKey: TEST_KEYS.valid });
    await statusWhere(run.namespace, 'registered', (s) => s.registered === true);
    await run.operator.stop();
    await stateWhere(run, 'saved for the first server', (saved) => saved.serverUrl === simulator.url);
    const other = new ServerSimulator({ validKeys: [TEST_KEYS.valid], configuration: SERVER_CONFIGURATION });
    await other.start();
    try {
      await helmInstall(run.namespace, RELEASE, { serverUrl: other.url }, ['--reuse-values']);
      const before = simulator.requests.length;
      run.operator = await runOperator(run.namespace);

      const status = await statusWhere(
        run.namespace,
        'registered with the new server',
        (s) => s.registered === true && other.requests.some((r) => r.answeredStatus === 200),
      );

      expect(status).toMatchObject({ mode: 'enabled', tier: 'pro', health: 'healthy' });
      expect(other.requests.map((r) => r.path)).toEqual(['/v1/operator/register']);
      expect(simulator.requests.length).toBe(before);
      await stateWhere(run, 'saved for the new server', (saved) => saved.serverUrl === other.url);
      expect(run.operator.output()).toContain('the server URL has changed');
    } finally {
      await other.stop();
    }
  });
});

describe("the key's life in its Secret, without a restart", () => {
  async function putSecret(namespace: string, name: string, key: string) {
    const body = { metadata: { name, namespace }, stringData: { apiKey: key } };
    try {
      await core.createNamespacedSecret({ namespace, body });
    } catch {
      const current = await core.readNamespacedSecret({ name, namespace });
      await core.replaceNamespacedSecret({
        name,
        namespace,
        body: { ...current, data: undefined, stringData: body.stringData },
      });
    }
  }

  it('no key -> key -> revoked key -> no key: operated -> enabled -> operated (degraded) -> operated', async () => {
    const run = await startPro('lifecycle');
    const secretName = `${RELEASE}`;
    const pid = run.operator.child.pid;
    const operated = await statusWhere(run.namespace, 'free tier', (s) => s.mode === 'operated');
    expect(operated).toMatchObject({ tier: 'free', health: 'healthy', apiKeyConfigured: false, error: null });

    await putSecret(run.namespace, secretName, TEST_KEYS.second);
    const enabledAt = Date.now();
    const enabled = await statusWhere(run.namespace, 'pro tier', (s) => s.registered === true);
    expect(enabled).toMatchObject({ mode: 'enabled', tier: 'pro', health: 'healthy' });
    expect(Date.now() - enabledAt).toBeLessThan(5_000);

    await putSecret(run.namespace, secretName, TEST_KEYS.revoked);
    const refused = await statusWhere(
      run.namespace,
      'refused key',
      (s) => s.mode === 'operated' && s.apiKeyConfigured === true,
    );
    expect(refused).toMatchObject({ tier: 'free', health: 'degraded', registered: false });
    expect(refused.error).toContain('INVALID_API_KEY');

    await core.deleteNamespacedSecret({ name: secretName, namespace: run.namespace });
    const removed = await statusWhere(run.namespace, 'key removed', (s) => s.apiKeyConfigured === false);
    expect(removed).toMatchObject({
      mode: 'operated',
      tier: 'free',
      health: 'healthy',
      error: null,
      registered: false,
    });

    expect(run.operator.child.pid).toBe(pid);
    expect(run.operator.child.exitCode).toBeNull();
    const reasons = (await eventsIn(run.namespace)).map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['TierChanged', 'Registered', 'ApiKeyChanged', 'ApiKeyRejected']));
  });

  it('a key that would break an HTTP header is refused without being sent or repeated', async () => {
    const before = simulator.requests.length;
    const run = await startPro('badkey', {
      beforeStart: (namespace) => putSecret(namespace, RELEASE, TEST_KEYS.headerBreaking),
    });

    const status = await statusWhere(run.namespace, 'the malformed key', (s) => s.apiKeyConfigured === true);

    expect(status).toMatchObject({ mode: 'operated', tier: 'free', health: 'degraded', registered: false });
    expect(status.error).toContain('is malformed');
    expect(simulator.requests.length).toBe(before);
  });
});

describe('https', () => {
  it('registers over https with a server certificate from a CA the operator trusts', async () => {
    const tls = generateTestTls();
    const secure = new ServerSimulator({
      tls: { key: tls.key, cert: tls.cert },
      validKeys: [TEST_KEYS.valid],
      configuration: SERVER_CONFIGURATION,
    });
    const url = await secure.start();
    const caFile = path.join(process.env.KUBE9_TEST_CP_DIR!, 'simulator-ca.pem');
    writeFileSync(caFile, tls.caCert);
    try {
      const run = await startPro('https', {
        apiKey: TEST_KEYS.valid,
        env: { SERVER_URL: url, ALLOW_INSECURE_SERVER_URL: 'false', NODE_EXTRA_CA_CERTS: caFile },
      });

      const status = await statusWhere(run.namespace, 'registered over https', (s) => s.registered === true);

      expect(url.startsWith('https://')).toBe(true);
      expect(status).toMatchObject({ mode: 'enabled', tier: 'pro' });
      expect(secure.requests[0].problems).toEqual([]);
    } finally {
      await secure.stop();
    }
  });
});

describe('never more than 10 registrations per hour', () => {
  it('a server that answers 429 with Retry-After: 0 gets 10 attempts, then the operator waits out the hour', async () => {
    simulator.setFault({ kind: 'rateLimit', retryAfter: '0' });
    const before = simulator.requests.length;
    const run = await startPro('budget', { apiKey: TEST_KEYS.valid });

    await waitFor('10 attempts', () => (simulator.requests.length - before >= 10 ? true : undefined), 20_000);
    await new Promise((resolve) => setTimeout(resolve, 3_000));

    const attempts = simulator.requests.slice(before);
    expect(attempts).toHaveLength(10);
    const state = await waitFor('the deferred attempt in the state', async () => {
      const saved = await readState(run.namespace);
      return saved && Date.parse(saved.nextAttemptAt) > Date.now() + 30 * 60_000 ? saved : undefined;
    });
    expect(Date.parse(state.nextAttemptAt)).toBeGreaterThanOrEqual(attempts[0].at + 3_600_000 - 1_000);
    expect(run.operator.logs()).toContainEqual(
      expect.objectContaining({ message: expect.stringContaining('to stay within 10 registrations per hour') }),
    );
  });
});

describe("the server's configuration: clamped, and the operator's own as the fallback", () => {
  it('clamps a status interval above 240 s to 240 s with one warning, and re-registers after REREGISTRATION_INTERVAL_HOURS when the server sends none', async () => {
    const answer = {
      status: 'registered',
      clusterId: 'cls_clampedinterval1',
      tier: 'pro',
      configuration: { statusUpdateIntervalSeconds: 1000 },
    };
    simulator.queueFault({ kind: 'malformed', body: JSON.stringify(answer) });
    const run = await startPro('clamp', { apiKey: TEST_KEYS.valid, env: { REREGISTRATION_INTERVAL_HOURS: '3' } });

    const status = await statusWhere(run.namespace, 'registered', (s) => s.registered === true);

    expect(status).toMatchObject({
      mode: 'enabled',
      tier: 'pro',
      health: 'healthy',
      error: null,
      clusterId: 'cls_clampedinterval1',
    });
    const state = await stateWhere(run, 'registered', (saved) => saved.registered === true);
    expectDelay(Date.parse(state.lastAttemptAt), Date.parse(state.nextAttemptAt), 3 * 3_600_000);
    await waitFor('the new interval', () =>
      run.operator.logs().some((log) => log.message === 'Status interval changed from 10 s to 240 s')
        ? true
        : undefined,
    );
    const warnings = run.operator
      .logs()
      .filter(
        (log) =>
          log.level === 'warn' &&
          /statusUpdateIntervalSeconds=1000, outside 10\.\.240; using 240/.test(String(log.message)),
      );
    expect(warnings).toHaveLength(1);
  });
});
