/*
 * What the specs and benches on the real worker node share: the control plane
 * with its node, the kube9-server simulator where the node's pods reach it,
 * namespaces that enforce the restricted Pod Security Standard and hold the
 * pull Secret for the released image, helm against that cluster, and the ways
 * they look at the chart's pod (Ready or not, GET through the API server's
 * Service proxy, GET straight to the pod IP). The status ConfigMap is read with
 * readStatus (status.ts), given this cluster's CoreV1Api.
 *
 * No jest in here: the benches compile it with tsconfig.support.json.
 */
import * as https from 'node:https';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { CHART_DIR } from './chart';
import { type ControlPlane, startControlPlane } from './control-plane';
import { type HelmResult, runHelm } from './kube';
import { TEST_KEYS } from './keys';
import { createPullSecret, registryImageArgs } from './registry-install';
import { ServerSimulator } from './server-simulator';

/** The release name the specs and benches on the node install the chart as. */
export const RELEASE = 'kube9-operator';
/** Every pod of that release: the operator's and `helm test`'s. */
export const RELEASE_SELECTOR = `app.kubernetes.io/name=kube9-operator,app.kubernetes.io/instance=${RELEASE}`;

/** The labels of a namespace that enforces the restricted Pod Security Standard, at its latest version. */
const RESTRICTED = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
};

export interface RealNode {
  cp: ControlPlane;
  /** The admin KubeConfig of `cp`. */
  kc: KubeConfig;
  core: CoreV1Api;
  /** Started, on the host end of the node's network. */
  simulator: ServerSimulator;
  /** How long startControlPlane took (control plane, node, images and release), in ms. */
  startMs: number;
}

export interface RealNodeOptions {
  /** The status interval the simulator gives a registered operator, in seconds. */
  intervalSeconds: number;
  /** The API keys the simulator accepts; default the chart's test key. */
  validKeys?: string[];
  /** Have the API server write its audit log (ControlPlane.auditLogPath). */
  auditLog?: boolean;
  /** Namespaces to create, restricted and with the pull Secret (createNodeNamespace). */
  namespaces?: string[];
  /**
   * On SIGINT or SIGTERM, stop it all (pods, node, control plane) and exit: for the benches,
   * which run outside Jest's teardown. Without it an interrupted bench leaves the node's
   * containers, mounts and network behind.
   */
  stopOnSignal?: boolean;
  /** Also the ghcr.io stand-in and chart repository, with the release published there (ControlPlaneOptions.publicRegistry). */
  publicRegistry?: boolean;
  /** Enforce NetworkPolicy on the node (kube-router's firewall controller; WorkerNodeOptions.networkPolicy). */
  networkPolicy?: boolean;
  /** Give the node's pods a cluster DNS (WorkerNodeOptions.clusterDns; the server is cluster-dns.ts). */
  clusterDns?: boolean;
}

/**
 * Starts the control plane with a worker node (and the test registry with the release), the
 * simulator on the node's host address, and `namespaces`. What it started it stops again if a
 * later step fails.
 */
export async function startRealNode(opts: RealNodeOptions): Promise<RealNode> {
  const t0 = performance.now();
  const cp = await startControlPlane({
    withNode: true,
    auditLog: opts.auditLog,
    publicRegistry: opts.publicRegistry,
    networkPolicy: opts.networkPolicy,
    clusterDns: opts.clusterDns,
    startTimeoutMs: 1_500_000,
  });
  const startMs = performance.now() - t0;
  const simulator = nodeSimulator(cp, opts);
  try {
    await simulator.start();
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    for (const name of opts.namespaces ?? []) await createNodeNamespace(core, cp, name);
    if (opts.stopOnSignal) {
      for (const [signal, code] of [
        ['SIGINT', 130],
        ['SIGTERM', 143],
      ] as const) {
        process.once(signal, () => {
          console.error(`[node] ${signal}: stopping the node and the control plane`);
          void stopRealNode({ cp, simulator }).finally(() => process.exit(code));
        });
      }
    }
    return { cp, kc, core, simulator, startMs };
  } catch (err) {
    await stopRealNode({ cp, simulator });
    throw err;
  }
}

/** Stops the simulator, then the control plane with its node (even when the simulator's stop fails). */
export async function stopRealNode({ cp, simulator }: Pick<RealNode, 'cp' | 'simulator'>): Promise<void> {
  try {
    await simulator.stop();
  } finally {
    await cp.stop();
  }
}

/** A kube9-server simulator (not started) where the node's pods reach it: the host end of the node's veth. */
export function nodeSimulator(
  cp: ControlPlane,
  opts: { intervalSeconds: number; validKeys?: string[]; port?: number; tls?: { key: string; cert: string } },
): ServerSimulator {
  return new ServerSimulator({
    host: cp.node!.network.hostIp,
    port: opts.port,
    tls: opts.tls,
    validKeys: opts.validKeys ?? [TEST_KEYS.chart],
    configuration: { statusUpdateIntervalSeconds: opts.intervalSeconds, reregistrationIntervalHours: 24 },
  });
}

/**
 * Creates a namespace to install the chart in: enforcing the restricted Pod Security Standard
 * and holding the pull Secret of registry-install.ts, unless told otherwise.
 */
export async function createNodeNamespace(
  core: CoreV1Api,
  cp: ControlPlane,
  name: string,
  { restricted = true, pullSecret = true }: { restricted?: boolean; pullSecret?: boolean } = {},
): Promise<void> {
  await core.createNamespace({ body: { metadata: { name, ...(restricted ? { labels: RESTRICTED } : {}) } } });
  if (pullSecret) await createPullSecret(core, cp, name);
}

/** helm with `cp`'s admin kubeconfig; never throws for a non-zero exit (see runHelm). */
export function helmOn(cp: ControlPlane, args: string[], timeoutMs = 180_000): Promise<HelmResult> {
  return runHelm(args, { kubeconfig: cp.kubeconfigPath, timeoutMs });
}

/** helm with `cp`'s admin kubeconfig: its stdout, or an error with its stderr when it fails. */
export async function helmOk(cp: ControlPlane, args: string[], timeoutMs = 180_000): Promise<string> {
  const result = await helmOn(cp, args, timeoutMs);
  if (result.code !== 0) throw new Error(`helm ${args.slice(0, 2).join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

/**
 * The chart as a user names it: `oci://…/kube9-operator` at the released version, with the test
 * registry's credentials and CA (the release startControlPlane pushed).
 */
export function releasedChart(cp: ControlPlane): string[] {
  return [
    cp.release!.chartRef,
    '--version',
    cp.release!.version,
    '--registry-config',
    cp.registry!.authFile,
    '--ca-file',
    cp.registry!.caPath,
  ];
}

/** The `--set` arguments that point the chart at a kube9-server over http (and set its status interval). */
export function serverArgs(serverUrl: string, intervalSeconds?: number): string[] {
  return [
    '--set',
    `serverUrl=${serverUrl}`,
    '--set',
    'allowInsecureServerUrl=true',
    ...(intervalSeconds === undefined ? [] : ['--set', `statusUpdateIntervalSeconds=${intervalSeconds}`]),
  ];
}

/**
 * The `--set` arguments of an install on the node: the released image, pulled with the pull Secret
 * (registry-install.ts), and kube9-server at `serverUrl` (serverArgs).
 */
export function nodeInstallValues(cp: ControlPlane, serverUrl: string, intervalSeconds?: number): string[] {
  return [...registryImageArgs(cp), ...serverArgs(serverUrl, intervalSeconds)];
}

/** `helm install` of the chart's folder in `namespace`, with nodeInstallValues. */
export function nodeInstallArgs(
  cp: ControlPlane,
  namespace: string,
  serverUrl: string,
  intervalSeconds?: number,
): string[] {
  return ['install', RELEASE, CHART_DIR, '-n', namespace, ...nodeInstallValues(cp, serverUrl, intervalSeconds)];
}

/** `helm upgrade --reuse-values --set apiKey=…` of the release in `namespace`, `chart` naming the chart. */
export function apiKeyUpgradeArgs(
  namespace: string,
  chart: string[] = [CHART_DIR],
  apiKey = TEST_KEYS.chart,
): string[] {
  return ['upgrade', RELEASE, ...chart, '-n', namespace, '--reuse-values', '--set', `apiKey=${apiKey}`];
}

/** Ready, and not on its way out. */
export function isReady(pod: V1Pod): boolean {
  return (
    !pod.metadata?.deletionTimestamp && !!pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/** The release's pods in `namespace` but `helm test`'s. */
export async function operatorPods(core: CoreV1Api, namespace: string): Promise<V1Pod[]> {
  const list = await core.listNamespacedPod({ namespace, labelSelector: RELEASE_SELECTOR });
  return list.items.filter((p) => p.metadata?.labels?.['app.kubernetes.io/component'] !== 'test');
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** GET through the API server's service proxy to the release's Service, as `kubectl get --raw` does. */
export async function viaServiceProxy(
  kc: KubeConfig,
  namespace: string,
  route: string,
  timeoutMs = 10_000,
): Promise<HttpAnswer> {
  const url = new URL(
    `${kc.getCurrentCluster()!.server}/api/v1/namespaces/${namespace}/services/${RELEASE}:http/proxy${route}`,
  );
  const opts: https.RequestOptions = { method: 'GET', timeout: timeoutMs };
  await kc.applyToHTTPSOptions(opts);
  return new Promise((resolve, reject) => {
    const req = https.request(url, opts, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url.pathname} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** GET straight to the pod's IP from the host, past the API server (the host routes to the node's pod range). */
export async function fromPod(pod: V1Pod, route: string, timeoutMs = 5_000): Promise<HttpAnswer> {
  const response = await fetch(`http://${pod.status!.podIP}:8080${route}`, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: response.status, body: await response.text() };
}

/**
 * `clients` concurrent keep-alive clients GET /api/v1/status at the pod's IP for `seconds`; counts
 * the 200s and the rest (errors included). A client that meets an error waits `pauseAfterErrorMs`
 * before it asks again.
 */
export async function statusBurst(
  pod: V1Pod,
  clients: number,
  seconds: number,
  pauseAfterErrorMs = 0,
): Promise<{ requests: number; failures: number }> {
  const url = `http://${pod.status!.podIP}:8080/api/v1/status`;
  const deadline = Date.now() + seconds * 1000;
  let requests = 0;
  let failures = 0;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < deadline) {
        try {
          const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
          await response.arrayBuffer();
          if (response.status === 200) requests++;
          else failures++;
        } catch {
          failures++;
          if (pauseAfterErrorMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseAfterErrorMs));
        }
      }
    }),
  );
  return { requests, failures };
}
