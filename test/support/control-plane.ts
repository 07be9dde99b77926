/*
 * A real Kubernetes control plane on loopback for the end-to-end tests:
 * etcd, kube-apiserver and (optionally) kube-controller-manager, the same
 * binaries envtest runs, plus the helm v3 client. Built or found by
 * test/controlplane/build.sh (see binaries.ts).
 *
 * Each control plane lives in its own temporary directory: certificates,
 * kubeconfigs, etcd data and one log file per process. Admin access is a
 * client certificate in the group system:masters; authorization is RBAC.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { type Binaries, ensureBinaries } from './binaries';
import { isAlive, ManagedProcess, STOP_GRACE_MS } from './managed-process';
import { kubeconfigYaml, makeLeaf, makePki } from './pki';
import { type TestRegistry, startRegistry } from './registry';
import { type PublicRegistry, PUBLIC_NAMESPACE, startPublicRegistry } from './public-registry';
import { type CosignKeyPair, type GpgKey, makeCosignKeyPair, makeGpgKey, type Release, release } from './release';
import {
  claimNodeNetwork,
  ensureImages,
  type NodeNetwork,
  releaseNodeNetwork,
  startWorkerNode,
  type WorkerNode,
} from './worker-node';

export interface ControlPlane {
  /** The temporary directory holding certificates, kubeconfigs, etcd data and logs. */
  dir: string;
  /** Admin kubeconfig (client certificate in system:masters, CA data embedded). */
  kubeconfigPath: string;
  /** `https://127.0.0.1:PORT` */
  server: string;
  /** The cluster CA certificate (PEM file). */
  caPath: string;
  binDir: string;
  helmPath: string;
  /** The version kube-apiserver was built as, e.g. `v1.37.2`. */
  kubernetesVersion: string;
  /** e.g. `v3.22.0` */
  helmVersion: string;
  /**
   * Stops kube-apiserver only (etcd and the controller-manager keep running).
   * By default it is killed at once (SIGKILL), like a crash; `graceful`
   * sends SIGTERM and waits for it to drain (with the controller-manager's
   * watches open that takes the whole 10 s grace period).
   */
  stopApiServer(opts?: { graceful?: boolean }): Promise<void>;
  /** Starts kube-apiserver again on the same port with the same certificates and etcd; resolves once /readyz is 200. */
  startApiServer(): Promise<void>;
  /** Stops etcd (SIGTERM; the API server keeps running and fails what needs storage). */
  stopEtcd(): Promise<void>;
  /** Starts etcd again on the same data directory and ports; resolves once the API server's /readyz is 200. */
  startEtcd(): Promise<void>;
  /** A ServiceAccount token from the TokenRequest API. The API server refuses less than 600 seconds; default 3600. */
  mintToken(namespace: string, serviceAccount: string, expirationSeconds?: number): Promise<string>;
  /** Writes a kubeconfig (CA data embedded, bearer-token user) into `dir` and returns its path. */
  kubeconfigForToken(token: string, name: string): string;
  /** The audit log (JSON lines), when started with `auditLog`. */
  auditLogPath?: string;
  /** The worker node, when started with `withNode`. */
  node?: WorkerNode;
  /**
   * With a node: the test OCI registry on the node's host-side address, the
   * release that scripts/release.sh pushed there (image, chart, signature,
   * SBOM attestation) and the key pair it was signed with.
   */
  registry?: TestRegistry;
  release?: Release;
  cosignKeys?: CosignKeyPair;
  /**
   * With a node and `publicRegistry`: the ghcr.io stand-in and chart repository (public-registry.ts),
   * the release scripts/release.sh published there (`HOST:PORT/alto9`, which the node pulls as
   * ghcr.io/alto9, and the signed chart in the chart repository) and the GPG key that signed it.
   */
  publicRegistry?: PublicRegistry;
  publicRelease?: Release;
  chartKey?: GpgKey;
  /** Kills every process and removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** Run kube-controller-manager too (default true): ServiceAccounts, ReplicaSets, Pods, garbage collection. */
  withControllerManager?: boolean;
  /** Binaries already ensured; by default `ensureBinaries()` is called. */
  binaries?: Binaries;
  /** How long start-up may take before it fails (default 120 s; 300 s with a node). */
  startTimeoutMs?: number;
  /**
   * Also start a worker node that runs pods (worker-node.ts): the API server
   * then listens on the host end of the node's network instead of loopback,
   * authorizes with Node,RBAC, and each controller of the controller-manager
   * uses its own ServiceAccount. Needs root.
   */
  withNode?: boolean;
  /** With a node: enforce NetworkPolicy there (kube-router's firewall controller, WorkerNodeOptions.networkPolicy). */
  networkPolicy?: boolean;
  /** With a node: give its pods a cluster DNS (WorkerNodeOptions.clusterDns). */
  clusterDns?: boolean;
  /**
   * Write an audit log (JSON lines, `auditLogPath`) of every write to ConfigMaps, Events and
   * Leases, with the request body: who wrote what, as the API server saw it.
   */
  auditLog?: boolean;
  /**
   * With a node: also start the ghcr.io stand-in with its chart repository (public-registry.ts)
   * and release there as the project publishes (`--chart-repo`, signed), so an install of the
   * chart with no values at all pulls its default image.
   */
  publicRegistry?: boolean;
}

/** The audit policy of `auditLog`: writes to what the operator writes, nothing else. */
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Request
    verbs: ["create", "update", "patch", "delete"]
    resources:
      - group: ""
        resources: ["configmaps", "events"]
      - group: "coordination.k8s.io"
        resources: ["leases"]
  - level: None
`;

const SERVICE_CIDR = '10.0.0.0/24';
const SERVICE_IP = '10.0.0.1';
const SA_ISSUER = 'https://kubernetes.default.svc.cluster.local';
/** stop() is quicker than STOP_GRACE_MS: everything is thrown away. */
const TEARDOWN_GRACE_MS = 3_000;

// ---------------------------------------------------------------------------

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

function b64(file: string): string {
  return fs.readFileSync(file).toString('base64');
}

let tokenKubeconfigs = 0;

/**
 * Writes a kubeconfig whose user is a bearer token into `dir` and returns its
 * path. `caData` is the base64 PEM of the cluster CA.
 */
export function writeTokenKubeconfig(dir: string, server: string, caData: string, token: string, name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_.-]/g, '-');
  const target = path.join(dir, `token-${safe}-${process.pid}-${++tokenKubeconfigs}.kubeconfig`);
  fs.writeFileSync(target, kubeconfigYaml(server, caData, safe, { token }), { mode: 0o600 });
  return target;
}

const DIR_PREFIX = 'kube9-cp-';
const OWNER_FILE = 'owner.pid';

/**
 * Removes the directories of control planes whose owning process died
 * without stopping them (SIGKILL, crash): their processes died with it, but
 * the directory stayed.
 */
async function sweepStaleDirs(): Promise<void> {
  const tmp = os.tmpdir();
  const names = (await fsp.readdir(tmp).catch(() => [] as string[])).filter((n) => n.startsWith(DIR_PREFIX));
  await Promise.all(
    names.map(async (name) => {
      const dir = path.join(tmp, name);
      const owner = Number.parseInt(await fsp.readFile(path.join(dir, OWNER_FILE), 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && owner > 0 && !isAlive(owner)) {
        await fsp.rm(dir, { recursive: true, force: true }).catch(() => undefined);
      }
    }),
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface HttpAnswer {
  status: number;
  body: string;
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const withControllerManager = opts.withControllerManager ?? true;
  const withNode = opts.withNode ?? false;
  if (withNode && !withControllerManager) throw new Error('a worker node needs the controller-manager');
  const timeoutMs = opts.startTimeoutMs ?? (withNode ? 300_000 : 120_000);
  const t0 = performance.now();
  const binaries = opts.binaries ?? (await ensureBinaries());
  const bin = (name: string) => path.join(binaries.binDir, name);
  if (withNode && binaries.kubernetes !== 'newest') {
    // The node's kubelet, kube-proxy and kube-scheduler are built from go/kube only: a kubelet
    // newer than the API server is outside Kubernetes' version skew policy.
    throw new Error(
      `a worker node runs only beside the newest control plane (asked for the ${binaries.kubernetes}, ${binaries.versions.kubernetes})`,
    );
  }

  await sweepStaleDirs();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), DIR_PREFIX));
  await fsp.writeFile(path.join(dir, OWNER_FILE), `${process.pid}\n`);
  const file = (name: string) => path.join(dir, name);
  const processes: ManagedProcess[] = [];
  let net: NodeNetwork | undefined;
  let node: WorkerNode | undefined;
  let registry: TestRegistry | undefined;
  let publicRegistry: PublicRegistry | undefined;

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await node?.stop();
      await registry?.stop();
      await publicRegistry?.stop();
      // Reverse start order: controller-manager, apiserver, etcd.
      for (const p of [...processes].reverse()) await p.stop(TEARDOWN_GRACE_MS);
      // node.stop() has cleaned up its slot; a slot claimed for a node that never started is released here.
      if (net && !node) await releaseNodeNetwork(net);
      await fsp.rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    // The images take longest to build (minutes cold): start them first.
    const images = withNode ? ensureImages() : undefined;
    images?.catch(() => undefined); // awaited below; not unhandled if start-up fails first
    let released: Promise<{ release: Release; keys: CosignKeyPair }> | undefined;
    let publicReleased: Promise<{ release: Release; gpg: GpgKey }> | undefined;
    if (withNode) {
      net = await claimNodeNetwork();
      // A node whose owner died held mounts in its control plane's directory; the claim removed them.
      await sweepStaleDirs();
      // The registry lives in the node's directory, so test/node/leftovers.sh sees it if it outlives the node.
      const registryDir = path.join(dir, `node-${net.slot}`, 'registry');
      registry = await startRegistry({ dir: registryDir, host: net.hostIp });
      const reg = registry;
      // The operator reaches the node as a user's does: released to the registry (built,
      // pushed, chart pushed, signed, SBOM attested), then pulled by the kubelet.
      released = (async () => {
        await images; // the same build; images.sh builds one thing at a time
        const keys = await makeCosignKeyPair(binaries.binDir, registryDir);
        const r = await release({
          registry: `${reg.address}/kube9`,
          key: keys.privateKey,
          authFile: reg.authFile,
          caPath: reg.caPath,
        });
        return { release: r, keys };
      })();
      released.catch(() => undefined); // awaited below
      if (opts.publicRegistry) {
        const publicDir = path.join(dir, `node-${net.slot}`, 'public');
        publicRegistry = await startPublicRegistry({ dir: publicDir, host: net.hostIp });
        const pub = publicRegistry;
        const first = released;
        // After the private release (one image build at a time), the same build published as the
        // project does: to ghcr.io's stand-in, the signed chart into the chart repository.
        publicReleased = (async () => {
          const { keys } = await first;
          const gpg = await makeGpgKey(publicDir);
          const r = await release({
            registry: `${pub.address}/${PUBLIC_NAMESPACE}`,
            key: keys.privateKey,
            authFile: pub.authFile,
            caPath: pub.caPath,
            chartRepo: { dir: pub.chartRepoDir, url: pub.chartRepoUrl },
            gpg,
          });
          return { release: r, gpg };
        })();
        publicReleased.catch(() => undefined); // awaited below
      }
    }
    const host = net?.hostIp ?? '127.0.0.1';
    const serviceCidr = net?.serviceCidr ?? SERVICE_CIDR;
    const tBins = performance.now();
    await makePki(dir, {
      serverIps: net ? ['127.0.0.1', net.hostIp] : ['127.0.0.1'],
      serviceIp: net?.serviceIp ?? SERVICE_IP,
      nodeIp: net?.nodeIp,
      // Without a node, in system:masters, as every controller runs as the
      // controller-manager itself (see below); with a node, the real thing.
      controllerManagerSubject: net
        ? '/CN=system:kube-controller-manager'
        : '/O=system:masters/CN=system:kube-controller-manager',
    });
    if (net)
      await makeLeaf(dir, 'apiserver-kubelet-client', '/O=system:masters/CN=kube-apiserver-kubelet-client', 'client');
    const tPki = performance.now();
    const [etcdPort, etcdPeerPort, apiPort] = await freePorts(3);
    const server = `https://${host}:${apiPort}`;
    const caPath = file('ca.crt');
    const tls = {
      ca: fs.readFileSync(caPath),
      cert: fs.readFileSync(file('admin.crt')),
      key: fs.readFileSync(file('admin.key')),
    };

    const request = (method: string, urlPath: string, body?: unknown): Promise<HttpAnswer> =>
      new Promise((resolve, reject) => {
        const payload = body === undefined ? undefined : JSON.stringify(body);
        const req = https.request(
          {
            host,
            port: apiPort,
            method,
            path: urlPath,
            ...tls,
            agent: false,
            timeout: 5000,
            headers: payload
              ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
              : {},
          },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk) => (text += chunk));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
          },
        );
        req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath} timed out`)));
        req.on('error', reject);
        req.end(payload);
      });

    const kubeconfigPath = file('admin.kubeconfig');
    fs.writeFileSync(
      kubeconfigPath,
      kubeconfigYaml(server, b64(caPath), 'kube9-test-admin', {
        'client-certificate-data': b64(file('admin.crt')),
        'client-key-data': b64(file('admin.key')),
      }),
      { mode: 0o600 },
    );
    fs.writeFileSync(
      file('controller-manager.kubeconfig'),
      kubeconfigYaml(server, b64(caPath), 'system:kube-controller-manager', {
        'client-certificate-data': b64(file('controller-manager.crt')),
        'client-key-data': b64(file('controller-manager.key')),
      }),
      { mode: 0o600 },
    );

    const etcd = new ManagedProcess(
      'etcd',
      bin('etcd'),
      [
        '--name=default',
        `--data-dir=${file('etcd-data')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${etcdPeerPort}`,
        '--unsafe-no-fsync=true',
        '--log-level=warn',
      ],
      file('etcd.log'),
    );
    const auditArgs: string[] = [];
    if (opts.auditLog) {
      await fsp.writeFile(file('audit-policy.yaml'), AUDIT_POLICY);
      auditArgs.push(
        `--audit-policy-file=${file('audit-policy.yaml')}`,
        `--audit-log-path=${file('audit.log')}`,
        '--audit-log-format=json',
        '--audit-log-mode=blocking',
      );
    }
    const apiserver = new ManagedProcess(
      'kube-apiserver',
      binaries.kubeApiserver,
      [
        `--etcd-servers=http://127.0.0.1:${etcdPort}`,
        `--bind-address=${host}`,
        `--advertise-address=${host}`,
        `--secure-port=${apiPort}`,
        `--cert-dir=${file('apiserver-certs')}`,
        `--tls-cert-file=${file('apiserver.crt')}`,
        `--tls-private-key-file=${file('apiserver.key')}`,
        `--client-ca-file=${caPath}`,
        `--service-account-key-file=${file('sa.pub')}`,
        `--service-account-signing-key-file=${file('sa.key')}`,
        `--service-account-issuer=${SA_ISSUER}`,
        `--service-cluster-ip-range=${serviceCidr}`,
        '--allow-privileged=true',
        '--profiling=false',
        ...auditArgs,
        ...(net
          ? [
              '--authorization-mode=Node,RBAC',
              '--enable-admission-plugins=NodeRestriction',
              // The kubelet is reached at its InternalIP with a serving certificate of this CA; no name look-ups.
              '--kubelet-preferred-address-types=InternalIP',
              `--kubelet-certificate-authority=${caPath}`,
              `--kubelet-client-certificate=${file('apiserver-kubelet-client.crt')}`,
              `--kubelet-client-key=${file('apiserver-kubelet-client.key')}`,
            ]
          : [
              '--authorization-mode=RBAC',
              // The `kubernetes` Service keeps no endpoints: 127.0.0.1 is not a valid endpoint address, and nothing runs pods here.
              '--endpoint-reconciler-type=none',
            ]),
      ],
      file('kube-apiserver.log'),
    );
    const controllerManager = new ManagedProcess(
      'kube-controller-manager',
      binaries.kubeControllerManager,
      [
        `--kubeconfig=${file('controller-manager.kubeconfig')}`,
        '--leader-elect=false',
        '--secure-port=0',
        '--controllers=*',
        // Without a node, one identity for all controllers: with a ServiceAccount per controller (as
        // kubeadm does) the controller-manager takes ~5 s longer to start. With a node, each controller
        // has its own, so the node-lifecycle controller really is allowed to untaint the node.
        `--use-service-account-credentials=${withNode}`,
        `--service-account-private-key-file=${file('sa.key')}`,
        `--root-ca-file=${caPath}`,
        `--cluster-signing-cert-file=${caPath}`,
        `--cluster-signing-key-file=${file('ca.key')}`,
        `--service-cluster-ip-range=${serviceCidr}`,
        '--profiling=false',
      ],
      file('kube-controller-manager.log'),
    );

    /** Polls `ready` until it is true; fails at the deadline or when one of `watched` exits. */
    const waitFor = async (what: string, ready: () => Promise<boolean>, watched: ManagedProcess[]): Promise<void> => {
      const deadline = performance.now() + timeoutMs;
      let lastError = '';
      for (;;) {
        const dead = watched.find((p) => p.exited);
        if (dead) {
          throw new Error(`${dead.describeExit()} while waiting for ${what}; the end of its log:\n${dead.tail()}`);
        }
        try {
          if (await ready()) return;
        } catch (err) {
          lastError = (err as Error).message;
        }
        if (performance.now() > deadline) {
          const logs = watched.map((p) => `--- the end of the ${p.name} log:\n${p.tail(20)}`).join('\n');
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${lastError || 'not ready'})\n${logs}`);
        }
        await sleep(100);
      }
    };
    const apiReady = () =>
      waitFor('kube-apiserver /readyz', async () => (await request('GET', '/readyz')).status === 200, [
        etcd,
        apiserver,
      ]);

    processes.push(etcd);
    etcd.start();
    processes.push(apiserver);
    apiserver.start(); // it waits for etcd by itself
    await apiReady();
    const tApi = performance.now();

    if (withControllerManager) {
      processes.push(controllerManager);
      controllerManager.start();
      await waitFor(
        'the default ServiceAccount in namespace default (made by kube-controller-manager)',
        async () => (await request('GET', '/api/v1/namespaces/default/serviceaccounts/default')).status === 200,
        [etcd, apiserver, controllerManager],
      );
    }
    const tDone = performance.now();
    const s = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
    console.log(
      `[control-plane] ready in ${s(tDone - t0)} (binaries ${s(tBins - t0)}, certificates ${s(tPki - tBins)}, ` +
        `etcd + kube-apiserver /readyz ${s(tApi - tPki)}` +
        (withControllerManager ? `, kube-controller-manager default ServiceAccount ${s(tDone - tApi)}` : '') +
        `) at ${server}, dir ${dir}`,
    );

    let releasedValue: { release: Release; keys: CosignKeyPair } | undefined;
    let publicValue: { release: Release; gpg: GpgKey } | undefined;
    if (net && images && registry && released) {
      const built = await images;
      const tRelease = performance.now();
      releasedValue = await released;
      console.log(
        `[control-plane] released to ${registry.address} (waited ${s(performance.now() - tRelease)}): ${releasedValue.release.image}`,
      );
      if (publicReleased && publicRegistry) {
        const tPublic = performance.now();
        publicValue = await publicReleased;
        console.log(
          `[control-plane] published to ${publicRegistry.address} and ${publicRegistry.chartRepoUrl} ` +
            `(waited ${s(performance.now() - tPublic)}): ${publicValue.release.image}`,
        );
      }
      node = await startWorkerNode({
        net,
        cpDir: dir,
        binDir: binaries.binDir,
        server,
        images: { ...built.images, operator: releasedValue.release.imageTag },
        archives: built.archives,
        registry: { address: registry.address, caPath: registry.caPath },
        ...(publicRegistry
          ? { publicRegistry: { address: publicRegistry.address, caPath: publicRegistry.caPath } }
          : {}),
        archiveOf: built.archiveOf,
        adminGet: (urlPath) => request('GET', urlPath),
        timeoutMs,
        networkPolicy: opts.networkPolicy,
        clusterDns: opts.clusterDns,
      });
    }

    return {
      node,
      ...(registry && releasedValue
        ? { registry, release: releasedValue.release, cosignKeys: releasedValue.keys }
        : {}),
      ...(publicRegistry && publicValue
        ? { publicRegistry, publicRelease: publicValue.release, chartKey: publicValue.gpg }
        : {}),
      ...(opts.auditLog ? { auditLogPath: file('audit.log') } : {}),
      dir,
      kubeconfigPath,
      server,
      caPath,
      binDir: binaries.binDir,
      helmPath: bin('helm'),
      kubernetesVersion: binaries.versions.kubernetes,
      helmVersion: binaries.versions.helm,
      stop,
      stopApiServer: (stopOpts) => apiserver.stop(stopOpts?.graceful ? STOP_GRACE_MS : 0),
      async startApiServer() {
        if (stopped) throw new Error('the control plane has been stopped');
        if (apiserver.running) return;
        apiserver.start();
        await apiReady();
      },
      stopEtcd: () => etcd.stop(),
      async startEtcd() {
        if (stopped) throw new Error('the control plane has been stopped');
        if (!etcd.running) etcd.start();
        await apiReady();
      },
      async mintToken(namespace, serviceAccount, expirationSeconds = 3600) {
        const answer = await request(
          'POST',
          `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount)}/token`,
          { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds } },
        );
        if (answer.status !== 201) {
          throw new Error(
            `TokenRequest for ${namespace}/${serviceAccount} failed: HTTP ${answer.status} ${answer.body}`,
          );
        }
        return (JSON.parse(answer.body) as { status: { token: string } }).status.token;
      },
      kubeconfigForToken: (token, name) => writeTokenKubeconfig(dir, server, b64(caPath), token, name),
    };
  } catch (err) {
    await stop();
    throw new Error(`the test control plane did not start: ${(err as Error).message}`, { cause: err });
  }
}
