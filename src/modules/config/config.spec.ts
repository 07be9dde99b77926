import { hostname } from 'node:os';
import { ConfigError, loadOperatorConfig } from './load-operator-config';

describe('loadOperatorConfig', () => {
  it('applies the SPEC defaults when nothing is set', () => {
    const config = loadOperatorConfig({});

    expect(config).toMatchObject({
      namespace: 'kube9-system',
      port: 8080,
      logLevel: 'info',
      statusUpdateIntervalSeconds: 60,
      serverUrl: 'https://api.kube9.dev',
      allowInsecureServerUrl: false,
      reregistrationIntervalHours: 24,
      registrationBackoffBaseSeconds: 300,
      apiKeySecretName: 'kube9-operator-config',
      apiKeySecretKey: 'apiKey',
      leaderElection: false,
      podName: hostname(),
    });
    expect(config.apiKey).toBeUndefined();
    expect(config.inCluster).toBe(false);
  });

  it('parses every variable that is set', () => {
    const config = loadOperatorConfig({
      OPERATOR_NAMESPACE: 'ops',
      PORT: '9000',
      LOG_LEVEL: 'debug',
      STATUS_UPDATE_INTERVAL_SECONDS: '240',
      SERVER_URL: 'http://127.0.0.1:4000',
      ALLOW_INSECURE_SERVER_URL: 'true',
      REREGISTRATION_INTERVAL_HOURS: '1',
      API_KEY_SECRET_NAME: 'my-secret',
      API_KEY_SECRET_KEY: 'key.txt',
      API_KEY: 'kdy_dev_abc123',
      OPERATOR_DEPLOYMENT_NAME: 'kube9-operator',
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      POD_NAME: 'kube9-operator-7d9f-abcde',
      LEADER_ELECTION: 'true',
    });

    expect(config).toMatchObject({
      namespace: 'ops',
      port: 9000,
      logLevel: 'debug',
      statusUpdateIntervalSeconds: 240,
      serverUrl: 'http://127.0.0.1:4000',
      allowInsecureServerUrl: true,
      reregistrationIntervalHours: 1,
      apiKeySecretName: 'my-secret',
      apiKeySecretKey: 'key.txt',
      apiKey: 'kdy_dev_abc123',
      deploymentName: 'kube9-operator',
      podName: 'kube9-operator-7d9f-abcde',
      leaderElection: true,
      inCluster: true,
    });
  });

  it('treats an empty value as absent', () => {
    expect(loadOperatorConfig({ PORT: '', API_KEY: '' })).toMatchObject({ port: 8080, apiKey: undefined });
  });

  const bad: Array<[Record<string, string>, string]> = [
    [{ PORT: '0' }, 'PORT="0" must be a whole number from 1 to 65535'],
    [{ PORT: '80a' }, 'PORT="80a" must be a whole number from 1 to 65535'],
    [{ PORT: '70000' }, 'PORT="70000" must be a whole number from 1 to 65535'],
    [{ LOG_LEVEL: 'verbose' }, 'LOG_LEVEL="verbose" must be one of debug, info, warn, error'],
    [
      { STATUS_UPDATE_INTERVAL_SECONDS: '5' },
      'STATUS_UPDATE_INTERVAL_SECONDS="5" must be a whole number of seconds from 10 to 240',
    ],
    [
      { STATUS_UPDATE_INTERVAL_SECONDS: '241' },
      'STATUS_UPDATE_INTERVAL_SECONDS="241" must be a whole number of seconds from 10 to 240',
    ],
    [
      { STATUS_UPDATE_INTERVAL_SECONDS: '60s' },
      'STATUS_UPDATE_INTERVAL_SECONDS="60s" must be a whole number of seconds from 10 to 240',
    ],
    [{ STATUS_UPDATE_INTERVAL_SECONDS: '1e2' }, 'STATUS_UPDATE_INTERVAL_SECONDS="1e2" must be a whole number'],
    [
      { REREGISTRATION_INTERVAL_HOURS: '0' },
      'REREGISTRATION_INTERVAL_HOURS="0" must be a whole number of hours from 1 to 720',
    ],
    [
      { REREGISTRATION_INTERVAL_HOURS: '721' },
      'REREGISTRATION_INTERVAL_HOURS="721" must be a whole number of hours from 1 to 720',
    ],
    [
      { REGISTRATION_BACKOFF_BASE_SECONDS: '0' },
      'REGISTRATION_BACKOFF_BASE_SECONDS="0" must be a whole number of seconds from 1 to 3600',
    ],
    [{ ALLOW_INSECURE_SERVER_URL: 'yes' }, 'ALLOW_INSECURE_SERVER_URL="yes" must be true or false'],
    [{ LEADER_ELECTION: '1' }, 'LEADER_ELECTION="1" must be true or false'],
    [{ POD_NAME: 'pod a' }, 'POD_NAME="pod a" must be 1 to 253 characters without white space'],
    [{ OPERATOR_NAMESPACE: 'Kube9_System' }, 'OPERATOR_NAMESPACE="Kube9_System" must be a Kubernetes namespace name'],
    [{ API_KEY_SECRET_NAME: 'My Secret' }, 'API_KEY_SECRET_NAME="My Secret" must be a Kubernetes Secret name'],
    [{ API_KEY_SECRET_KEY: 'a/b' }, 'API_KEY_SECRET_KEY="a/b" must be a Secret data key'],
    [{ OPERATOR_DEPLOYMENT_NAME: 'UPPER' }, 'OPERATOR_DEPLOYMENT_NAME="UPPER" must be a Kubernetes Deployment name'],
    [
      { SERVER_URL: 'http://api.kube9.dev' },
      'SERVER_URL="http://api.kube9.dev" must be an https:// URL (http:// only with ALLOW_INSECURE_SERVER_URL=true',
    ],
    [{ SERVER_URL: 'not a url' }, 'SERVER_URL="not a url" must be an https:// URL'],
    [
      { SERVER_URL: 'ftp://x', ALLOW_INSECURE_SERVER_URL: 'true' },
      'SERVER_URL="ftp://x" must be an https:// URL (or http://',
    ],
    [{ SERVER_URL: 'https://user:pw@api.kube9.dev' }, 'without credentials'],
  ];

  it.each(bad)('rejects %j', (env, message) => {
    expect(() => loadOperatorConfig(env)).toThrow(ConfigError);
    expect(() => loadOperatorConfig(env)).toThrow(message);
  });

  it('rejects a malformed API key without printing it', () => {
    const key = 'kdy_prod_SECRET-Value';

    const error = captureError(() => loadOperatorConfig({ API_KEY: key }));

    expect(error.message).toContain('API_KEY (value hidden) must have the form kdy_prod_');
    expect(error.message).not.toContain('SECRET');
    expect(error.variable).toBe('API_KEY');
  });

  it('reads the proxy variables, the lower-case names before the upper-case ones, empty ones as unset', () => {
    const config = loadOperatorConfig({
      HTTPS_PROXY: 'http://upper:3128',
      https_proxy: 'http://lower:3128',
      HTTP_PROXY: 'http://plain:3128',
      http_proxy: '',
      NO_PROXY: '.svc,10.0.0.0',
    });

    expect(config.outboundProxy).toEqual({
      httpsProxy: { variable: 'https_proxy', url: 'http://lower:3128' },
      httpProxy: { variable: 'HTTP_PROXY', url: 'http://plain:3128' },
      noProxy: '.svc,10.0.0.0',
    });
  });

  it('leaves a proxy URL that does not parse to registration, which reports it in the status', () => {
    const config = loadOperatorConfig({ HTTPS_PROXY: 'not a url' });

    expect(config.outboundProxy).toEqual({ httpsProxy: { variable: 'HTTPS_PROXY', url: 'not a url' } });
  });
});

function captureError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    return error as ConfigError;
  }
  throw new Error('expected an error');
}
