/*
 * SPEC section 3: a request kube9-server rejects with 400 is not sent again for 24 h unless
 * what it depends on changes: the key, the server URL or a value of the body. The operator runs
 * as a real process with the chart's environment, and is restarted between the steps, as a
 * `helm upgrade` would restart it.
 */
import { helmInstall, runOperatorAsChart } from './support/chart';
import { TEST_KEYS } from './support/keys';
import { createTestNamespace, deleteTestNamespace } from './support/kube';
import { OperatorProcess, waitFor } from './support/operator-process';
import { ServerSimulator } from './support/server-simulator';
import { readState, readStatus } from './support/status';

const RELEASE = 'kube9-operator';
const REJECTION = {
  kind: 'status',
  status: 400,
  body: { error: 'Bad Request', code: 'INVALID_REQUEST', message: 'The registration request is invalid' },
} as const;

let first: ServerSimulator;
let second: ServerSimulator;
let namespace: string;
let operator: OperatorProcess | undefined;

beforeAll(async () => {
  first = new ServerSimulator({ validKeys: [TEST_KEYS.valid] });
  second = new ServerSimulator({ validKeys: [TEST_KEYS.valid] });
  await Promise.all([first.start(), second.start()]);
  namespace = await createTestNamespace('rejected');
  await helmInstall(namespace, RELEASE, {
    serverUrl: first.url,
    allowInsecureServerUrl: 'true',
    apiKey: TEST_KEYS.valid,
  });
});

afterEach(async () => {
  await operator?.stop().catch(() => undefined);
  operator = undefined;
});

afterAll(async () => {
  await deleteTestNamespace(namespace);
  await Promise.all([first.stop(), second.stop()]);
});

/** The status once its lastUpdate is later than `after`, and `test` holds. */
function statusAfter(after: number, test: (status: Record<string, any>) => boolean) {
  return waitFor(
    'a fresh status',
    async () => {
      const status = await readStatus(namespace);
      return status && Date.parse(status.lastUpdate) > after && test(status) ? status : undefined;
    },
    20_000,
    100,
  );
}

describe('a registration rejected with 400, across restarts', () => {
  it('is held while nothing changes, and sent at once when the server URL changes', async () => {
    first.setFault(REJECTION);
    operator = await runOperatorAsChart(namespace, RELEASE);
    const rejected = await statusAfter(0, (status) => status.tier === 'free' && status.error !== null);
    expect(rejected).toMatchObject({ mode: 'operated', tier: 'free', health: 'degraded', registered: false });
    await waitFor('the saved rejection', async () => ((await readState(namespace))?.refused ? true : undefined));
    await operator.stop();
    expect(first.requests).toHaveLength(1);

    // Restarted with the same configuration: the rejection holds, nothing is sent.
    const restartedAt = Date.now();
    operator = await runOperatorAsChart(namespace, RELEASE);
    await statusAfter(restartedAt, (status) => status.tier === 'free');
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    await operator.stop();
    expect(first.requests).toHaveLength(1);

    // Restarted with another server URL: the saved state (the rejection) is the old server's, so
    // it is not resumed, and the operator registers with the new server at once.
    const movedAt = Date.now();
    operator = await runOperatorAsChart(namespace, RELEASE, { SERVER_URL: second.url });
    const registered = await statusAfter(movedAt, (status) => status.registered === true);
    expect(registered).toMatchObject({ mode: 'enabled', tier: 'pro', health: 'healthy' });
    expect(second.requests).toHaveLength(1);
    expect(first.requests).toHaveLength(1);
    expect(operator.output()).toContain('The saved registration state is for another kube9-server');
  });
});
