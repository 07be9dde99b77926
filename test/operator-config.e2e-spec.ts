/*
 * Bad configuration stops the real process at start: exit code 1 and one line
 * that names the variable, the bad value (never a secret's) and what is allowed.
 */
import { createTestNamespace, deleteTestNamespace } from './support/kube';
import { startOperator } from './support/operator-process';
import { readStatus } from './support/status';

const cases: Array<[string, Record<string, string>, string]> = [
  [
    'a status interval under 10 s',
    { STATUS_UPDATE_INTERVAL_SECONDS: '5' },
    'STATUS_UPDATE_INTERVAL_SECONDS="5" must be a whole number of seconds from 10 to 240',
  ],
  [
    'a status interval above 240 s (readers would call the status stale)',
    { STATUS_UPDATE_INTERVAL_SECONDS: '241' },
    'STATUS_UPDATE_INTERVAL_SECONDS="241" must be a whole number of seconds from 10 to 240',
  ],
  [
    'a status interval that is not a number',
    { STATUS_UPDATE_INTERVAL_SECONDS: 'sixty' },
    'STATUS_UPDATE_INTERVAL_SECONDS="sixty" must be a whole number',
  ],
  [
    'a log level that does not exist',
    { LOG_LEVEL: 'verbose' },
    'LOG_LEVEL="verbose" must be one of debug, info, warn, error',
  ],
  ['a port out of range', { PORT: '99999' }, 'PORT="99999" must be a whole number from 1 to 65535'],
  [
    'a plain-http server URL',
    { SERVER_URL: 'http://api.kube9.dev' },
    'SERVER_URL="http://api.kube9.dev" must be an https:// URL',
  ],
  [
    'a re-registration interval of 0',
    { REREGISTRATION_INTERVAL_HOURS: '0' },
    'REREGISTRATION_INTERVAL_HOURS="0" must be a whole number of hours from 1 to 720',
  ],
  [
    'a boolean that is not true or false',
    { ALLOW_INSECURE_SERVER_URL: '1' },
    'ALLOW_INSECURE_SERVER_URL="1" must be true or false',
  ],
  [
    'a namespace that is not a DNS label',
    { OPERATOR_NAMESPACE: 'Kube9' },
    'OPERATOR_NAMESPACE="Kube9" must be a Kubernetes namespace name',
  ],
  [
    'a Secret name with spaces',
    { API_KEY_SECRET_NAME: 'my key' },
    'API_KEY_SECRET_NAME="my key" must be a Kubernetes Secret name',
  ],
];

describe('configuration errors stop the process', () => {
  it.each(cases)('%s: exit 1 and a clear message', async (_name, env, message) => {
    const operator = await startOperator({ KUBECONFIG: process.env.KUBE9_TEST_KUBECONFIG!, ...env });

    const exit = await operator.exited;

    expect(exit.code).toBe(1);
    const lines = operator.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toMatchObject({
      level: 'error',
      message: expect.stringContaining(`Invalid configuration: ${message}`),
    });
  });

  it('a malformed API key: exit 1, and the message does not repeat the key', async () => {
    const key = 'kdy_prod_NOT-VALID-7f3a';
    const operator = await startOperator({ KUBECONFIG: process.env.KUBE9_TEST_KUBECONFIG!, API_KEY: key });

    const exit = await operator.exited;

    expect(exit.code).toBe(1);
    expect(operator.output()).toContain('API_KEY (value hidden) must have the form kdy_prod_');
    expect(operator.output()).not.toContain('NOT-VALID-7f3a');
  });
});

describe('an invalid configuration is written to the status ConfigMap before the exit (SPEC section 2)', () => {
  let namespace: string;

  beforeAll(async () => {
    namespace = await createTestNamespace('bad-config');
  });

  afterAll(async () => {
    await deleteTestNamespace(namespace);
  });

  it.each<[string, Record<string, string>, string]>([
    ['a bad status interval', { STATUS_UPDATE_INTERVAL_SECONDS: 'sixty' }, 'STATUS_UPDATE_INTERVAL_SECONDS="sixty"'],
    [
      'a bad server URL',
      { SERVER_URL: 'ftp://api.kube9.dev' },
      'SERVER_URL="ftp://api.kube9.dev" must be an https:// URL',
    ],
    ['a malformed API key (never shown)', { API_KEY: 'kdy_prod_NOT-VALID-7f3a' }, 'API_KEY (value hidden)'],
  ])('%s: unhealthy with the error, then exit 1', async (_name, env, named) => {
    const operator = await startOperator({
      KUBECONFIG: process.env.KUBE9_TEST_KUBECONFIG!,
      OPERATOR_NAMESPACE: namespace,
      ...env,
    });

    const exit = await operator.exited;
    const status = await readStatus(namespace);

    expect(exit.code).toBe(1);
    expect(status).toMatchObject({ health: 'unhealthy', mode: 'operated', tier: 'free', namespace });
    expect(status!.error).toContain(`Invalid configuration: ${named}`);
    expect(JSON.stringify(status)).not.toContain('NOT-VALID-7f3a');
    expect(operator.output()).toContain(`status ConfigMap ${namespace}/kube9-operator-status set to unhealthy`);
  });
});
