/*
 * A corrupt kube9-operator-state ConfigMap (not JSON, or fields of the wrong type) does not
 * stop registration: the operator says once what is wrong with it, never what it holds, and
 * replaces it with a fresh state that a restarted operator resumes without a word.
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { helmInstall, runOperatorAsChart } from './support/chart';
import { TEST_KEYS } from './support/keys';
import { adminKubeConfig, createTestNamespace, deleteTestNamespace } from './support/kube';
import { OperatorProcess, waitFor } from './support/operator-process';
import { ServerSimulator } from './support/server-simulator';
import { readState, readStatus, STATE_CONFIGMAP } from './support/status';

const RELEASE = 'kube9-operator';
/** Stands for anything the ConfigMap could hold; it must never be repeated. */
const CANARY = 'kdy_prod_e2ecanary8state8';

let simulator: ServerSimulator;
let namespace: string | undefined;
let operator: OperatorProcess | undefined;

beforeAll(async () => {
  simulator = new ServerSimulator({ validKeys: [TEST_KEYS.valid] });
  await simulator.start();
});

afterEach(async () => {
  await operator?.stop().catch(() => undefined);
  operator = undefined;
  if (namespace) await deleteTestNamespace(namespace);
  namespace = undefined;
});

afterAll(() => simulator?.stop());

function warningsAbout(logs: Array<Record<string, unknown>>) {
  return logs.filter((line) => line.level === 'warn' && String(line.message).includes(STATE_CONFIGMAP));
}

describe('a corrupt saved state', () => {
  it.each([
    ['not JSON', `{"keyFingerprint":"${CANARY}","registered":tru`, 'it is not valid JSON'],
    [
      'fields of the wrong type',
      JSON.stringify({
        keyFingerprint: CANARY,
        registered: 'yes',
        consecutiveTransientFailures: 0,
        refused: false,
        error: null,
        recentAttempts: CANARY,
      }),
      '"registered" is not a boolean; "recentAttempts" is not a list of ISO times',
    ],
  ])(
    '%s: one warning naming the ConfigMap and the problem, never its content, then a fresh state',
    async (_name, corrupt, problem) => {
      namespace = await createTestNamespace('corrupt-state');
      await helmInstall(namespace, RELEASE, {
        serverUrl: simulator.url,
        allowInsecureServerUrl: 'true',
        apiKey: TEST_KEYS.valid,
      });
      const core = adminKubeConfig().makeApiClient(CoreV1Api);
      await core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: STATE_CONFIGMAP, namespace }, data: { state: corrupt } },
      });

      operator = await runOperatorAsChart(namespace, RELEASE);
      await waitFor(
        'registered',
        async () => ((await readStatus(namespace!))?.registered ? true : undefined),
        15_000,
        100,
      );
      const fresh = await waitFor(
        'a fresh saved state',
        async () => {
          const state = await readState(namespace!).catch(() => undefined);
          return state?.registered === true ? state : undefined;
        },
        10_000,
        100,
      );

      expect(warningsAbout(operator.logs())).toEqual([
        expect.objectContaining({
          message: `ConfigMap ${namespace}/${STATE_CONFIGMAP} holds no usable registration state (${problem}); starting from a fresh state, which replaces it`,
        }),
      ]);
      expect(operator.output()).not.toContain(CANARY);
      expect(fresh).toMatchObject({
        registered: true,
        consecutiveTransientFailures: 0,
        refused: false,
        error: null,
        clusterId: expect.stringMatching(/^cls_/),
      });
      expect(fresh.keyFingerprint).toMatch(/^scrypt:[0-9a-f]+$/);
      expect(JSON.stringify(fresh)).not.toContain(CANARY);

      // The replacement is one the operator itself trusts: a restart resumes it, silently.
      await operator.stop();
      const requestsBefore = simulator.requests.length;
      operator = await runOperatorAsChart(namespace, RELEASE);
      await waitFor(
        'the resumed state',
        () =>
          operator!
            .logs()
            .some((line) => /Resuming the saved registration state \(registered=true\)/.test(String(line.message)))
            ? true
            : undefined,
        10_000,
        100,
      );
      expect(warningsAbout(operator.logs())).toEqual([]);
      expect(simulator.requests.length).toBe(requestsBefore);
    },
  );
});
