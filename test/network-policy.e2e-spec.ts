/*
 * The chart's NetworkPolicy on a node that enforces it: kube-router's firewall controller
 * alone (no routing, no service proxy; test/support/worker-node.ts `networkPolicy`) filters
 * the pods' traffic in the node's network namespace with iptables and ipsets.
 *
 * First it is shown to enforce at all: a deny-all policy in a scratch namespace stops a pod's
 * traffic that went through before it. Then the chart, installed with networkPolicy.enabled=true
 * and its defaults (only the API server's port set, since the test API server listens on a free
 * port rather than 443/6443): the operator's pod gets Ready (the kubelet's probes), reaches the
 * API server through the `kubernetes` Service and writes its status, registers with kube9-server
 * (pro) after a free start, and the API server's service proxy reaches /api/v1/status. With the
 * ingress narrowed to a monitoring namespace, a pod there is let in and a pod in another namespace
 * is refused on the HTTP port. A kube9-server on a port outside the egress rules is never reached.
 *
 * Names and the proxy: the node has a cluster DNS as clusters do (CoreDNS as kube-dns in
 * kube-system, support/cluster-dns.ts), which the chart's default DNS rule lets the operator ask.
 * A kube9-server named by a host name is resolved there and registered with; pointed at pods that
 * are not the DNS, the same install cannot resolve the name (the rule is what let it through).
 * Through a CONNECT proxy (found by its name, support/connect-proxy.ts) to an HTTPS kube9-server
 * with a private CA, the default egress rule (the proxy's port) lets the tunnel through and the
 * operator registers; with kube9-server exempted from the proxy (proxy.noProxy) the direct
 * connection is outside the rules and never arrives.
 *
 * Starts its own control plane with a node (root), like test/real-pod.e2e-spec.ts.
 *
 *   npx jest --config test/jest-e2e.config.js test/network-policy.e2e-spec.ts
 */
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { type CoreV1Api, type KubeConfig, NetworkingV1Api, type V1Pod } from '@kubernetes/client-node';
import { type ClusterDns, startClusterDns } from './support/cluster-dns';
import { ConnectProxy } from './support/connect-proxy';
import type { ControlPlane } from './support/control-plane';
import { TEST_KEYS } from './support/keys';
import { waitFor } from './support/operator-process';
import {
  apiKeyUpgradeArgs,
  createNodeNamespace,
  helmOk,
  helmOn,
  isReady,
  nodeInstallArgs,
  nodeSimulator,
  operatorPods,
  RELEASE,
  startRealNode,
  viaServiceProxy,
} from './support/real-node';
import { generateTestTls, type ServerSimulator } from './support/server-simulator';
import { readStatus } from './support/status';

const execFileAsync = promisify(execFile);

const OPERATOR_NS = 'kube9-netpol';
const MONITORING_NS = 'kube9-netpol-monitoring';
const OTHER_NS = 'kube9-netpol-other';
const SCRATCH_NS = 'kube9-netpol-scratch';
const EGRESS_NS = 'kube9-netpol-egress';
const CONTROL_NS = 'kube9-netpol-control';
const DNS_NS = 'kube9-netpol-dns';
const NO_DNS_NS = 'kube9-netpol-no-dns';
const PROXY_NS = 'kube9-netpol-proxy';
const NO_PROXY_NS = 'kube9-netpol-no-proxy';
/** The names the cluster DNS answers, both for the host end of the node's network. */
const SERVER_NAME = 'kube9-server.kube9.test';
const PROXY_NAME = 'corp-proxy.kube9.test';
const PROXY_USER = 'kube9';
const PROXY_PASSWORD = 'netpol-Pr0xy-pass';
const CA_CONFIGMAP = 'kube9-server-ca';
const INTERVAL_SECONDS = 10;
/** How long kube-router may take to apply a policy change (its sync on a watch event). */
const ENFORCED_WITHIN_MS = 30_000;

let cp: ControlPlane;
let kc: KubeConfig;
let core: CoreV1Api;
let simulator: ServerSimulator;
/** kube9-server over HTTPS (a private CA) on the host end of the node's network, reached through `proxy`. */
let tlsSimulator: ServerSimulator;
let proxy: ConnectProxy;
let dns: ClusterDns;
/** Its CA, certificate and key: the certificate names the host end of the node's network. */
let tls: ReturnType<typeof generateTestTls>;

jest.setTimeout(300_000);

beforeAll(async () => {
  const node = await startRealNode({
    intervalSeconds: INTERVAL_SECONDS,
    namespaces: [OPERATOR_NS],
    networkPolicy: true,
    clusterDns: true,
  });
  ({ cp, kc, core, simulator } = node);
  for (const name of [MONITORING_NS, OTHER_NS, SCRATCH_NS]) {
    await createNodeNamespace(core, cp, name, { pullSecret: false });
  }
  const hostIp = cp.node!.network.hostIp;
  tls = generateTestTls([hostIp]);
  tlsSimulator = nodeSimulator(cp, { intervalSeconds: INTERVAL_SECONDS, tls });
  await tlsSimulator.start();
  proxy = new ConnectProxy({ host: hostIp, user: PROXY_USER, password: PROXY_PASSWORD });
  await proxy.start();
  dns = await startClusterDns(core, cp, { [SERVER_NAME]: hostIp, [PROXY_NAME]: hostIp });
}, 1_600_000);

afterAll(async () => {
  await proxy?.stop();
  await tlsSimulator?.stop();
  await simulator?.stop();
  await cp?.stop();
});

/** The restricted Pod Security Standard's container settings (the namespaces enforce it). */
const RESTRICTED_POD = {
  securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
};
const RESTRICTED_CONTAINER = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
let podCount = 0;

/** A busybox pod in `namespace` serving "ok" over HTTP on 8080, Running with its IP. */
async function httpServerPod(namespace: string): Promise<V1Pod> {
  const name = `httpd-${++podCount}`;
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, labels: { app: 'httpd' } },
      spec: {
        ...RESTRICTED_POD,
        containers: [
          {
            name: 'httpd',
            image: cp.node!.images.busybox,
            imagePullPolicy: 'Never',
            command: [
              'sh',
              '-c',
              'mkdir -p /tmp/www && echo ok > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www',
            ],
            securityContext: RESTRICTED_CONTAINER,
          },
        ],
      },
    },
  });
  return waitFor(
    `${namespace}/${name} Running`,
    async () => {
      const pod = await core.readNamespacedPod({ name, namespace });
      return pod.status?.phase === 'Running' && pod.status.podIP ? pod : undefined;
    },
    60_000,
    250,
  );
}

/** A busybox pod in `namespace` runs `wget url` once (5 s at most); whether it got an answer, and what it printed. */
async function wgetFrom(namespace: string, url: string): Promise<{ ok: boolean; log: string }> {
  const name = `wget-${++podCount}`;
  await core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name },
      spec: {
        ...RESTRICTED_POD,
        restartPolicy: 'Never',
        containers: [
          {
            name: 'wget',
            image: cp.node!.images.busybox,
            imagePullPolicy: 'Never',
            // `timeout`, not `wget -T`: Debian's busybox 1.35 crashes on -T (as the chart's helm test notes).
            command: ['sh', '-c', 'timeout 5 wget -q -O - "$0"', url],
            securityContext: RESTRICTED_CONTAINER,
          },
        ],
      },
    },
  });
  const pod = await waitFor(
    `${namespace}/${name} to finish`,
    async () => {
      const p = await core.readNamespacedPod({ name, namespace });
      return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed' ? p : undefined;
    },
    60_000,
    250,
  );
  const log = await core.readNamespacedPodLog({ name, namespace }).catch((err: Error) => err.message);
  await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
  const ok = pod.status!.phase === 'Succeeded';
  const exit = pod.status?.containerStatuses?.[0]?.state?.terminated;
  return { ok, log: ok ? log.trim() : `${log.trim()} (exit ${exit?.exitCode} ${exit?.reason ?? ''})`.trim() };
}

/**
 * wgetFrom until its answer is `ok` (a policy change, and a new pod's address in the enforcer's
 * sets, take kube-router a moment), at most ENFORCED_WITHIN_MS; returns the last answer.
 */
async function wgetUntil(namespace: string, url: string, ok: boolean): Promise<{ ok: boolean; log: string }> {
  const deadline = Date.now() + ENFORCED_WITHIN_MS;
  for (;;) {
    const answer = await wgetFrom(namespace, url);
    if (answer.ok === ok || Date.now() > deadline) return answer;
  }
}

/** GET from the host (outside the node, as the API server is), refused or timed out as `false`. */
async function reachableFromHost(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(3_000) });
    return response.status === 200;
  } catch {
    return false;
  }
}

const apiServerPort = () => Number(new URL(cp.server).port);

/** The operator pods' phases, readiness and last log lines, and the status: for a failure's message. */
async function diagnose(namespace = OPERATOR_NS): Promise<string> {
  const lines = [`status: ${JSON.stringify(await readStatus(namespace, core).catch(() => undefined))}`];
  for (const pod of await operatorPods(core, namespace)) {
    const name = pod.metadata!.name!;
    const log = await core.readNamespacedPodLog({ name, namespace, tailLines: 25 }).catch((err: Error) => err.message);
    lines.push(`pod ${name} ${pod.status?.phase} ready=${isReady(pod)}:\n${log}`);
  }
  return lines.join('\n');
}

describe('the enforcer', () => {
  it('enforces: a deny-all policy stops traffic to a pod that went through before', async () => {
    const server = await httpServerPod(SCRATCH_NS);
    const url = `http://${server.status!.podIP}:8080/`;
    expect(await wgetUntil(SCRATCH_NS, url, true)).toEqual({ ok: true, log: 'ok' });
    expect(await reachableFromHost(url)).toBe(true);

    await kc.makeApiClient(NetworkingV1Api).createNamespacedNetworkPolicy({
      namespace: SCRATCH_NS,
      body: {
        metadata: { name: 'deny-all' },
        spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
      },
    });
    await waitFor('the host refused', async () => !(await reachableFromHost(url)), ENFORCED_WITHIN_MS, 500);
    const denied = await wgetUntil(SCRATCH_NS, url, false);
    expect(denied.ok).toBe(false);
    // Once denied, it stays denied.
    expect((await wgetFrom(SCRATCH_NS, url)).ok).toBe(false);
    expect(await reachableFromHost(url)).toBe(false);
  });
});

describe('the chart with networkPolicy.enabled=true', () => {
  const policyArgs = () => [
    '--set',
    'networkPolicy.enabled=true',
    '--set',
    `networkPolicy.egress.apiServer.ports={${apiServerPort()}}`,
  ];
  /** `helm upgrade --reuse-values` of the release with these `--set`s. */
  const upgrade = (sets: string[]) =>
    helmOk(cp, [
      'upgrade',
      RELEASE,
      path.join(__dirname, '..', 'helm', 'kube9-operator'),
      '-n',
      OPERATOR_NS,
      '--reuse-values',
      ...sets.flatMap((set) => ['--set', set]),
    ]);
  const operatorPod = () =>
    waitFor('a Ready operator pod', async () => (await operatorPods(core, OPERATOR_NS)).find(isReady), 180_000, 250);
  /** The status in `namespace` once `test` holds (2 minutes at most); else the pods' logs in the error. */
  const statusIn = (namespace: string, what: string, test: (s: Record<string, any>) => boolean) =>
    waitFor(
      what,
      async () => {
        const s = await readStatus(namespace, core).catch(() => undefined);
        return s && test(s) ? s : undefined;
      },
      120_000,
      500,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${await diagnose(namespace)}`);
    });
  /**
   * A fresh pro install (nothing saved to resume) in a new namespace, with the policy and `sets`;
   * `prepare` runs once the namespace exists.
   */
  const freshProInstall = async (
    namespace: string,
    serverUrl: string,
    sets: string[],
    prepare?: (namespace: string) => Promise<void>,
  ) => {
    await createNodeNamespace(core, cp, namespace);
    await prepare?.(namespace);
    await helmOk(cp, [
      ...nodeInstallArgs(cp, namespace, serverUrl, INTERVAL_SECONDS),
      ...policyArgs(),
      '--set',
      `apiKey=${TEST_KEYS.chart}`,
      ...sets,
    ]);
  };

  it('free: the pod gets Ready, reaches the API server and writes its status; the service proxy reaches it', async () => {
    await helmOk(cp, [...nodeInstallArgs(cp, OPERATOR_NS, simulator.url, INTERVAL_SECONDS), ...policyArgs()]);
    await operatorPod();
    const status = await waitFor(
      'the free status',
      async () => {
        const s = await readStatus(OPERATOR_NS, core).catch(() => undefined);
        return s?.tier === 'free' ? s : undefined;
      },
      60_000,
      500,
    );
    expect(status).toMatchObject({ mode: 'operated', tier: 'free' });
    const viaProxy = await viaServiceProxy(kc, OPERATOR_NS, '/api/v1/status');
    expect(viaProxy.status).toBe(200);
    expect(JSON.parse(viaProxy.body)).toMatchObject({ tier: 'free' });
  });

  it('pro: registers with kube9-server through its egress rule; any namespace may read the status', async () => {
    const before = simulator.requests.length;
    await helmOk(cp, apiKeyUpgradeArgs(OPERATOR_NS));
    const status = await waitFor(
      'the pro status',
      async () => {
        const s = await readStatus(OPERATOR_NS, core).catch(() => undefined);
        return s?.registered === true ? s : undefined;
      },
      90_000,
      500,
    );
    expect(status).toMatchObject({ mode: 'enabled', tier: 'pro', registered: true });
    expect(simulator.requests.slice(before).some((r) => r.path === '/v1/operator/register')).toBe(true);
    expect((await viaServiceProxy(kc, OPERATOR_NS, '/api/v1/status')).status).toBe(200);
    // The ingress is not narrowed yet: a pod in any namespace gets the status.
    const pod = await operatorPod();
    expect(await wgetUntil(OTHER_NS, `http://${pod.status!.podIP}:8080/api/v1/status`, true)).toMatchObject({
      ok: true,
    });
  });

  it('narrowed to the monitoring namespace: a pod there is let in, a pod elsewhere refused; the service proxy still reaches it', async () => {
    await upgrade([
      `networkPolicy.ingress.namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=${MONITORING_NS}`,
      // The service proxy connects from the API server's own address, which no selector matches.
      `networkPolicy.egress.apiServer.cidrs={${cp.node!.network.hostIp}/32}`,
    ]);
    const pod = await operatorPod();
    const url = `http://${pod.status!.podIP}:8080/api/v1/status`;
    expect(await wgetUntil(OTHER_NS, url, false)).toMatchObject({ ok: false });
    const allowed = await wgetUntil(MONITORING_NS, url, true);
    expect(allowed.ok).toBe(true);
    expect(JSON.parse(allowed.log)).toMatchObject({ tier: 'pro' });
    expect(await wgetFrom(OTHER_NS, url)).toMatchObject({ ok: false });
    expect((await viaServiceProxy(kc, OPERATOR_NS, '/api/v1/status')).status).toBe(200);
  });

  it('never reaches a kube9-server on a port outside its egress rules; a like install whose rule names the port does', async () => {
    // Fresh installs (no saved registration to resume), pointed at a second simulator; they differ
    // only in networkPolicy.egress.kube9Server.ports: the first simulator's port, then the second's.
    const outside = nodeSimulator(cp, { intervalSeconds: INTERVAL_SECONDS });
    await outside.start();
    const outsideHost = new URL(outside.url).host;
    const installWithEgressPort = (namespace: string, port: string) =>
      freshProInstall(namespace, outside.url, ['--set', `networkPolicy.egress.kube9Server.ports={${port}}`]);
    try {
      await installWithEgressPort(EGRESS_NS, new URL(simulator.url).port);
      const refused = await statusIn(
        EGRESS_NS,
        `a status naming ${outsideHost} unreachable`,
        (s) => s.registered === false && String(s.error).includes(`Could not reach kube9-server at ${outsideHost}`),
      );
      expect(refused.error).toMatch(/ECONNREFUSED|ETIMEDOUT|EHOSTUNREACH|network error/);
      expect(outside.requests).toEqual([]);
      await helmOk(cp, ['uninstall', RELEASE, '-n', EGRESS_NS]);

      await installWithEgressPort(CONTROL_NS, new URL(outside.url).port);
      await statusIn(CONTROL_NS, 'registered with the second simulator', (s) => s.registered === true);
      expect(outside.requests.some((r) => r.path === '/v1/operator/register')).toBe(true);
      await helmOk(cp, ['uninstall', RELEASE, '-n', CONTROL_NS]);
    } finally {
      await outside.stop();
    }
  });

  /** The simulator named by its host name (the cluster DNS answers it). */
  const namedServerHost = () => `${SERVER_NAME}:${new URL(simulator.url).port}`;
  /** The address of the release's pod in `namespace`. */
  const operatorPodIp = async (namespace: string) => (await operatorPods(core, namespace))[0].status!.podIP!;

  it('resolves kube9-server by name through the cluster DNS (the default DNS rule) and registers', async () => {
    const serverUrl = `http://${namedServerHost()}`;
    const before = simulator.requests.length;
    await freshProInstall(DNS_NS, serverUrl, []);
    await statusIn(DNS_NS, `registered with ${serverUrl}`, (s) => s.registered === true);
    expect(simulator.requests.slice(before).some((r) => r.path === '/v1/operator/register')).toBe(true);
    // The operator's own look-up, answered by CoreDNS behind the kube-dns Service.
    const podIp = await operatorPodIp(DNS_NS);
    expect(await dns.queries()).toContain(`${podIp} A ${SERVER_NAME}. NOERROR`);
    await helmOk(cp, ['uninstall', RELEASE, '-n', DNS_NS]);
  });

  it('with the DNS rule naming other pods, the same name does not resolve: that rule is what let the look-up through', async () => {
    const serverUrl = `http://${namedServerHost()}`;
    const before = simulator.requests.length;
    await freshProInstall(NO_DNS_NS, serverUrl, [
      '--set-json',
      'networkPolicy.egress.dns.to=[{"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"kube-system"}},"podSelector":{"matchLabels":{"k8s-app":"not-the-dns"}}}]',
    ]);
    const status = await statusIn(NO_DNS_NS, `a status naming ${SERVER_NAME} unreachable`, (s) =>
      String(s.error).includes(`Could not reach kube9-server at ${SERVER_NAME}:`),
    );
    expect(status).toMatchObject({ registered: false });
    // No answer at all (EAI_AGAIN), not an answer that the name does not exist (ENOTFOUND).
    expect(status.error).toContain(`Could not reach kube9-server at ${namedServerHost()} (EAI_AGAIN)`);
    const podIp = await operatorPodIp(NO_DNS_NS);
    expect((await dns.queries()).filter((q) => q.startsWith(`${podIp} `))).toEqual([]);
    expect(simulator.requests.slice(before).filter((r) => r.path === '/v1/operator/register')).toEqual([]);
    await helmOk(cp, ['uninstall', RELEASE, '-n', NO_DNS_NS]);
  });

  /** The install through the proxy: https kube9-server with its CA, the proxy by name (its port is the egress rule's). */
  const proxySets = (extra: string[] = []) => [
    '--set',
    `proxy.httpsProxy=http://${PROXY_USER}:${PROXY_PASSWORD}@${PROXY_NAME}:${proxy.port}`,
    '--set',
    `caBundle.configMapName=${CA_CONFIGMAP}`,
    '--set',
    'caBundle.key=ca.crt',
    ...extra,
  ];
  const createCaConfigMap = async (namespace: string) => {
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: CA_CONFIGMAP }, data: { 'ca.crt': tls.caCert } },
    });
  };

  it('registers through the proxy (found by name) with an HTTPS kube9-server: the proxy saw only the CONNECT', async () => {
    const before = tlsSimulator.requests.length;
    await freshProInstall(PROXY_NS, tlsSimulator.url, proxySets(), createCaConfigMap);
    const status = await statusIn(PROXY_NS, 'registered through the proxy', (s) => s.registered === true);
    expect(status).toMatchObject({ mode: 'enabled', tier: 'pro', error: null });
    expect(tlsSimulator.requests.slice(before).some((r) => r.path === '/v1/operator/register')).toBe(true);
    expect(new Set(proxy.connects())).toEqual(new Set([new URL(tlsSimulator.url).host]));
    const podIp = await operatorPodIp(PROXY_NS);
    expect(await dns.queries()).toContain(`${podIp} A ${PROXY_NAME}. NOERROR`);
    // TLS ran inside the tunnel: the proxy never saw the path or the key.
    expect(proxy.log()).not.toContain('/v1/operator/register');
    expect(proxy.log()).not.toContain(TEST_KEYS.chart);
    await helmOk(cp, ['uninstall', RELEASE, '-n', PROXY_NS]);
  });

  it('with kube9-server exempted from the proxy (proxy.noProxy), the direct connection is outside the egress rules and never arrives', async () => {
    const before = tlsSimulator.requests.length;
    const connectsBefore = proxy.connects().length;
    const serverHost = new URL(tlsSimulator.url).host;
    await freshProInstall(
      NO_PROXY_NS,
      tlsSimulator.url,
      proxySets(['--set', `proxy.noProxy=${cp.node!.network.hostIp}`]),
      createCaConfigMap,
    );
    const status = await statusIn(NO_PROXY_NS, `a status naming ${serverHost} unreachable`, (s) =>
      String(s.error).includes(`Could not reach kube9-server at ${serverHost}`),
    );
    expect(status).toMatchObject({ registered: false });
    expect(tlsSimulator.requests.slice(before)).toEqual([]);
    expect(proxy.connects().length).toBe(connectsBefore);
    await helmOk(cp, ['uninstall', RELEASE, '-n', NO_PROXY_NS]);
  });

  it('sent nothing anywhere but this machine: the guard’s drop counters are zero', async () => {
    expect(await cp.node!.guardCounters()).toEqual({ forward_drops: 0, output_drops: 0 });
  });

  it('leaves nothing behind when stopped', async () => {
    await helmOn(cp, ['uninstall', RELEASE, '-n', OPERATOR_NS]);
    const slot = cp.node!.network.slot;
    await cp.stop();
    const leftovers = await execFileAsync('bash', [path.join(__dirname, 'node', 'leftovers.sh'), String(slot)]).catch(
      (err: { stdout?: string; message?: string }) => ({ stdout: err.stdout ?? err.message ?? 'leftovers.sh failed' }),
    );
    expect(leftovers.stdout.trim()).toBe(`no leftovers of slot ${slot}`);
  });
});
