/*
 * Registration through a corporate proxy with a private CA (SPEC section 8). kube9-server's
 * simulator serves https with a certificate from a CA made here (openssl); a real CONNECT proxy
 * (the npm `proxy` package, run as its own process on loopback: support/connect-proxy.ts) sits
 * between, and asks for a user and password. The operator runs as a real process with the
 * environment of the chart installed with `proxy.*` and `caBundle.*`; NODE_EXTRA_CA_CERTS points
 * at the CA read back from the ConfigMap, as the kubelet would project it. Calls to the
 * Kubernetes API must never go to the proxy: in every case the status ConfigMap is written
 * although every proxy variable is set.
 *
 *   npm run build && npx jest --config test/jest-e2e.config.js test/registration-proxy.e2e-spec.ts
 */
import { CoreV1Api } from '@kubernetes/client-node';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { helmInstall, runOperatorAsChart } from './support/chart';
import { ConnectProxy } from './support/connect-proxy';
import { TEST_KEYS } from './support/keys';
import { adminKubeConfig, createTestNamespace, deleteTestNamespace } from './support/kube';
import { freePort, OperatorProcess, waitFor } from './support/operator-process';
import { generateTestTls, ServerSimulator } from './support/server-simulator';
import { readStatus } from './support/status';

const RELEASE = 'kube9-operator';
const PROXY_USER = 'kube9';
const PROXY_PASSWORD = 'pr0xy-Pa55word';
const WRONG_PASSWORD = 'not-the-Pa55word';
const CA_CONFIGMAP = 'kube9-server-ca';
/** Status waits on a 2-core machine shared with the control plane and other operators. */
const STATUS_WAIT_MS = 45_000;

const core = adminKubeConfig().makeApiClient(CoreV1Api);
const tls = generateTestTls();
const proxies: ConnectProxy[] = [];
const simulator = new ServerSimulator({ validKeys: [TEST_KEYS.valid], tls: { key: tls.key, cert: tls.cert } });
let serverUrl: string;
let serverHostPort: string;

/** A proxy of the test's own, so that what it saw is that test's alone (the tests run concurrently). */
async function startProxy(): Promise<ConnectProxy> {
  const proxy = new ConnectProxy({ host: '127.0.0.1', user: PROXY_USER, password: PROXY_PASSWORD });
  proxies.push(proxy);
  await proxy.start();
  return proxy;
}

beforeAll(async () => {
  const url = new URL(await simulator.start());
  // The certificate names localhost and 127.0.0.1; the name keeps the proxy's CONNECT readable.
  serverHostPort = `localhost:${url.port}`;
  serverUrl = `https://${serverHostPort}`;
});

afterAll(async () => {
  await Promise.all(proxies.map((proxy) => proxy.stop()));
  await simulator.stop();
});

interface Run {
  namespace: string;
  operator: OperatorProcess;
}

const runs: Run[] = [];

afterAll(async () => {
  await Promise.all(runs.map((run) => run.operator.stop().catch(() => undefined)));
  await Promise.all(runs.map((run) => deleteTestNamespace(run.namespace)));
});

/**
 * Installs the chart with `values`, creates the CA ConfigMap, and runs the operator with the
 * chart's environment plus `env`; NODE_EXTRA_CA_CERTS, when the chart sets it, becomes a local
 * file with the ConfigMap's key, which is what the pod would find at the mounted path.
 */
async function install(
  prefix: string,
  values: Record<string, string>,
  env: Record<string, string> = {},
  existingNamespace?: string,
): Promise<Run> {
  const namespace = existingNamespace ?? (await createTestNamespace(prefix));
  await core.createNamespacedConfigMap({
    namespace,
    body: { metadata: { name: CA_CONFIGMAP }, data: { 'ca.crt': tls.caCert } },
  });
  await helmInstall(namespace, RELEASE, { serverUrl, apiKey: TEST_KEYS.valid, ...values });
  const extra: Record<string, string> = { REGISTRATION_BACKOFF_BASE_SECONDS: '60', ...env };
  if (values['caBundle.configMapName']) {
    const configMap = await core.readNamespacedConfigMap({ name: values['caBundle.configMapName'], namespace });
    const file = path.join(process.env.KUBE9_TEST_CP_DIR!, `proxy-ca-${namespace}.pem`);
    writeFileSync(file, configMap.data![values['caBundle.key']]);
    extra.NODE_EXTRA_CA_CERTS = file;
  }
  const operator = await runOperatorAsChart(namespace, RELEASE, extra);
  const run = { namespace, operator };
  runs.push(run);
  return run;
}

/** The status document once `predicate` holds: it was written, so the Kubernetes API was reached directly. */
async function statusWhere(namespace: string, predicate: (status: Record<string, any>) => boolean) {
  return waitFor(
    `a status in ${namespace} that matches`,
    async () => {
      const status = await readStatus(namespace);
      return status && predicate(status) ? status : undefined;
    },
    STATUS_WAIT_MS,
    200,
  );
}

/** No proxy password in what the operator printed, wrote to its status, or recorded as Events. */
async function expectNoCredentials(run: Run): Promise<void> {
  const events = await core.listNamespacedEvent({ namespace: run.namespace });
  const status = await readStatus(run.namespace);
  for (const text of [run.operator.output(), JSON.stringify(status), JSON.stringify(events.items)]) {
    expect(text).not.toContain(PROXY_PASSWORD);
    expect(text).not.toContain(WRONG_PASSWORD);
    expect(text).not.toContain(encodeURIComponent(PROXY_PASSWORD));
  }
}

function proxyUrl(port: number, password = PROXY_PASSWORD): string {
  return `http://${PROXY_USER}:${password}@127.0.0.1:${port}`;
}

/**
 * Every proxy variable, upper- and lower-case, pointing at `url`: the operator's own calls to the
 * API server (127.0.0.1) would go to the proxy if anything read them.
 */
function allProxyVariables(url: string): Record<string, string> {
  return { HTTPS_PROXY: url, https_proxy: url, HTTP_PROXY: url, http_proxy: url };
}

describe('registration through a CONNECT proxy with a private CA', () => {
  it.concurrent('registers through the proxy, which saw only the CONNECT to kube9-server', async () => {
    const proxy = await startProxy();
    const before = simulator.requests.length;
    const run = await install(
      'proxy-ok',
      { 'proxy.httpsProxy': proxyUrl(proxy.port), 'caBundle.configMapName': CA_CONFIGMAP, 'caBundle.key': 'ca.crt' },
      allProxyVariables(proxyUrl(proxy.port)),
    );

    const status = await statusWhere(run.namespace, (s) => s.registered === true);

    expect(status).toMatchObject({ mode: 'enabled', tier: 'pro', health: 'healthy', error: null });
    expect(new Set(proxy.connects())).toEqual(new Set([serverHostPort]));
    const mine = simulator.requests.slice(before).filter((r) => r.answeredStatus === 200);
    expect(mine.length).toBeGreaterThanOrEqual(1);
    expect(mine[0].problems).toEqual([]);
    // TLS ran end to end inside the tunnel: the proxy never saw the path, the key or the body.
    expect(proxy.log()).not.toContain('/v1/operator/register');
    expect(proxy.log()).not.toContain(TEST_KEYS.valid);
    await expectNoCredentials(run);
  });

  it.concurrent('takes the proxy URL, credentials included, from proxy.existingSecret', async () => {
    const proxy = await startProxy();
    const namespace = await createTestNamespace('proxy-secret');
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'corp-proxy' }, stringData: { url: proxyUrl(proxy.port) } },
    });
    const run = await install(
      'proxy-secret',
      {
        'proxy.existingSecret': 'corp-proxy',
        'proxy.existingSecretKey': 'url',
        'caBundle.configMapName': CA_CONFIGMAP,
        'caBundle.key': 'ca.crt',
      },
      {},
      namespace,
    );

    const status = await statusWhere(run.namespace, (s) => s.registered === true);

    expect(status).toMatchObject({ mode: 'enabled', tier: 'pro', health: 'healthy', error: null });
    // The proxy lets only its user and password through: they came from the Secret.
    expect(new Set(proxy.connects())).toEqual(new Set([serverHostPort]));
    await expectNoCredentials(run);
  });

  it.concurrent('without the CA, says that the certificate of kube9-server did not verify', async () => {
    const proxy = await startProxy();
    const run = await install('proxy-noca', { 'proxy.httpsProxy': proxyUrl(proxy.port) });

    const status = await statusWhere(run.namespace, (s) => /did not verify/.test(s.error ?? ''));

    expect(status).toMatchObject({ mode: 'enabled', registered: false, health: 'degraded' });
    expect(status.error).toBe(
      `TLS certificate of kube9-server at ${serverHostPort} did not verify (UNABLE_TO_VERIFY_LEAF_SIGNATURE); ` +
        'if a private CA signs it, give that CA in NODE_EXTRA_CA_CERTS (chart: caBundle); retrying with backoff',
    );
    expect(new Set(proxy.connects())).toEqual(new Set([serverHostPort]));
    await expectNoCredentials(run);
  });

  it.concurrent('a proxy on a closed port is named as such; the status is still written', async () => {
    const closed = await freePort();
    const run = await install(
      'proxy-closed',
      { 'proxy.httpsProxy': proxyUrl(closed), 'caBundle.configMapName': CA_CONFIGMAP, 'caBundle.key': 'ca.crt' },
      allProxyVariables(proxyUrl(closed)),
    );

    const status = await statusWhere(run.namespace, (s) => /could not be reached/.test(s.error ?? ''));

    expect(status).toMatchObject({ mode: 'enabled', registered: false, health: 'degraded' });
    expect(status.error).toBe(
      `Proxy http://127.0.0.1:${closed} (https_proxy) could not be reached (ECONNREFUSED); retrying with backoff`,
    );
    await expectNoCredentials(run);
  });

  it.concurrent('a proxy that refuses the CONNECT (407, wrong password) is named as such', async () => {
    const proxy = await startProxy();
    const run = await install('proxy-407', {
      'proxy.httpsProxy': proxyUrl(proxy.port, WRONG_PASSWORD),
      'caBundle.configMapName': CA_CONFIGMAP,
      'caBundle.key': 'ca.crt',
    });

    const status = await statusWhere(run.namespace, (s) => /refused the tunnel/.test(s.error ?? ''));

    expect(status).toMatchObject({ mode: 'enabled', registered: false, health: 'degraded' });
    expect(status.error).toBe(
      `Proxy http://127.0.0.1:${proxy.port} (HTTPS_PROXY) refused the tunnel to kube9-server at ${serverHostPort}: ` +
        'it answered CONNECT with 407 (check the user and password in the proxy URL); retrying with backoff',
    );
    await expectNoCredentials(run);
  });

  it.concurrent('NO_PROXY covering kube9-server: registers directly, the proxy sees nothing of it', async () => {
    const proxy = await startProxy();
    const before = simulator.requests.length;
    const run = await install('proxy-bypass', {
      'proxy.httpsProxy': proxyUrl(proxy.port),
      'proxy.noProxy': 'localhost\\,127.0.0.1',
      'caBundle.configMapName': CA_CONFIGMAP,
      'caBundle.key': 'ca.crt',
    });

    const status = await statusWhere(run.namespace, (s) => s.registered === true);

    expect(status).toMatchObject({ mode: 'enabled', tier: 'pro', health: 'healthy', error: null });
    expect(simulator.requests.slice(before).some((r) => r.answeredStatus === 200)).toBe(true);
    expect(proxy.connects()).toEqual([]);
    await expectNoCredentials(run);
  });

  it.concurrent('a proxy URL that does not parse is a configuration error, and nothing is sent', async () => {
    const proxy = await startProxy();
    const malformed = `http://${PROXY_USER}:${PROXY_PASSWORD}@[127.0.0.1:${proxy.port}`;
    // The chart refuses such a URL (helm-template.e2e-spec.ts), so it comes from the environment.
    const run = await install(
      'proxy-malformed',
      { 'caBundle.configMapName': CA_CONFIGMAP, 'caBundle.key': 'ca.crt' },
      { HTTPS_PROXY: malformed },
    );

    const status = await statusWhere(run.namespace, (s) => /Configuration error/.test(s.error ?? ''));

    expect(status).toMatchObject({ mode: 'enabled', registered: false, health: 'degraded' });
    expect(status.error).toBe(
      'Configuration error: HTTPS_PROXY is not a usable proxy URL (it does not parse); ' +
        'expected http://[user:password@]host:port; registration is not attempted until it is fixed',
    );
    const logged = run.operator
      .logs()
      .filter(
        (line) => line.level === 'error' && line.context === 'RegistrationClient' && line.message === status.error,
      );
    expect(logged).toHaveLength(1);
    expect(proxy.connects()).toEqual([]);
    await expectNoCredentials(run);
  });
});
