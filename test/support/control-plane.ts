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
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { type Binaries, ensureBinaries } from './binaries';

const execFileAsync = promisify(execFile);

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
  /** A ServiceAccount token from the TokenRequest API. The API server refuses less than 600 seconds; default 3600. */
  mintToken(namespace: string, serviceAccount: string, expirationSeconds?: number): Promise<string>;
  /** Writes a kubeconfig (CA data embedded, bearer-token user) into `dir` and returns its path. */
  kubeconfigForToken(token: string, name: string): string;
  /** Kills every process and removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** Run kube-controller-manager too (default true): ServiceAccounts, ReplicaSets, Pods, garbage collection. */
  withControllerManager?: boolean;
  /** Binaries already ensured; by default `ensureBinaries()` is called. */
  binaries?: Binaries;
  /** How long start-up may take before it fails (default 120 s). */
  startTimeoutMs?: number;
}

const SERVICE_CIDR = '10.0.0.0/24';
const SERVICE_IP = '10.0.0.1';
const SA_ISSUER = 'https://kubernetes.default.svc.cluster.local';
/** How long a SIGTERMed process may take before SIGKILL; stop() is shorter, as everything is thrown away. */
const STOP_GRACE_MS = 10_000;
const TEARDOWN_GRACE_MS = 3_000;

// ---------------------------------------------------------------------------
// Child processes. Every child is recorded here so that it can be killed
// when this Node process exits, however it exits. On Linux the children are
// started through `setpriv --pdeathsig KILL`, so the kernel kills them even
// when this process is SIGKILLed or crashes; they also stay in this process
// group (detached: false), so a signal to the group (Ctrl-C) reaches them.

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveChildren) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

let setprivPath: string | null | undefined;
function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform === 'linux') {
    for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat('/usr/bin', '/bin')) {
      const candidate = path.join(dir, 'setpriv');
      if (dir && fs.existsSync(candidate)) {
        setprivPath = candidate;
        break;
      }
    }
  }
  return setprivPath;
}

interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

class ManagedProcess {
  private child: ChildProcess | undefined;
  private exitPromise: Promise<ExitInfo> | undefined;
  /** Set when the running child has exited. */
  exited: ExitInfo | undefined;

  constructor(
    readonly name: string,
    private readonly binary: string,
    private readonly args: string[],
    readonly logPath: string,
  ) {}

  get running(): boolean {
    return this.child !== undefined && this.exited === undefined;
  }

  start(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    installExitHook();
    const log = fs.openSync(this.logPath, 'a');
    fs.writeSync(log, `\n=== ${new Date().toISOString()} ${this.binary} ${this.args.join(' ')}\n`);
    const setpriv = findSetpriv();
    const [command, args] = setpriv
      ? [setpriv, ['--pdeathsig', 'KILL', '--', this.binary, ...this.args]]
      : [this.binary, this.args];
    try {
      const child = spawn(command, args, { stdio: ['ignore', log, log], detached: false });
      this.child = child;
      this.exited = undefined;
      liveChildren.add(child);
      this.exitPromise = new Promise<ExitInfo>((resolve) => {
        const done = (info: ExitInfo) => {
          liveChildren.delete(child);
          if (this.child === child) this.exited = info;
          resolve(info);
        };
        child.once('exit', (code, signal) => done({ code, signal }));
        child.once('error', (err) => {
          fs.appendFileSync(this.logPath, `spawn failed: ${err.message}\n`);
          done({ code: -1, signal: null });
        });
      });
    } finally {
      fs.closeSync(log);
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs` (0: SIGKILL at once). Resolves once the process is gone. */
  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    const child = this.child;
    if (!child || !this.exitPromise || this.exited) return;
    if (graceMs <= 0) {
      child.kill('SIGKILL');
      await this.exitPromise;
      return;
    }
    child.kill('SIGTERM');
    const timer = new Promise<'timeout'>((resolve) => setTimeout(resolve, graceMs, 'timeout').unref());
    if ((await Promise.race([this.exitPromise, timer])) === 'timeout') {
      child.kill('SIGKILL');
      await this.exitPromise;
    }
  }

  /** The last lines of the log, for error messages. */
  tail(lines = 40): string {
    try {
      const text = fs.readFileSync(this.logPath, 'utf8').trimEnd().split('\n');
      return text.slice(-lines).join('\n').slice(-6000);
    } catch {
      return '(no log)';
    }
  }

  describeExit(): string {
    const e = this.exited;
    if (!e) return `${this.name} is running`;
    return `${this.name} exited (${e.signal ? `signal ${e.signal}` : `code ${e.code}`})`;
  }
}

// ---------------------------------------------------------------------------
// Certificates, with the openssl command-line tool (Node's crypto module can
// make keys but not X.509 certificates).

const OPENSSL_CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost,IP:${SERVICE_IP},DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`;

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd: dir });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error('the openssl command is needed to make the test certificates; install it (apt-get install openssl)', {
        cause: err,
      });
    }
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

async function makeLeaf(dir: string, name: string, subject: string, extensions: 'server' | 'client'): Promise<void> {
  await openssl(dir, ['req', '-new', '-config', 'openssl.cnf', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  await openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key',
    '-set_serial', `0x${randomBytes(8).toString('hex')}`, '-days', '3650',
    '-extfile', 'openssl.cnf', '-extensions', extensions, '-out', `${name}.crt`,
  ]);
}

async function makePki(dir: string): Promise<void> {
  await fsp.writeFile(path.join(dir, 'openssl.cnf'), OPENSSL_CONFIG);
  await openssl(dir, [
    'req', '-x509', '-config', 'openssl.cnf', '-extensions', 'ca', ...EC_KEY,
    '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '3650', '-subj', '/CN=kube9-test-ca',
  ]);
  await Promise.all([
    makeLeaf(dir, 'apiserver', '/CN=kube-apiserver', 'server'),
    makeLeaf(dir, 'admin', '/O=system:masters/CN=kube9-test-admin', 'client'),
    // In system:masters because every controller runs as the controller-manager itself (see below).
    makeLeaf(dir, 'controller-manager', '/O=system:masters/CN=system:kube-controller-manager', 'client'),
    (async () => {
      await openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'sa.key']);
      await openssl(dir, ['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
    })(),
  ]);
}

// ---------------------------------------------------------------------------

async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
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

function kubeconfigYaml(server: string, caData: string, userName: string, user: Record<string, string>): string {
  const userLines = Object.entries(user)
    .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)
    .join('\n');
  return `apiVersion: v1
kind: Config
clusters:
- name: kube9-test
  cluster:
    server: ${server}
    certificate-authority-data: ${caData}
users:
- name: ${userName}
  user:
${userLines}
contexts:
- name: ${userName}@kube9-test
  context:
    cluster: kube9-test
    user: ${userName}
current-context: ${userName}@kube9-test
`;
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

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

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
  const timeoutMs = opts.startTimeoutMs ?? 120_000;
  const t0 = performance.now();
  const binaries = opts.binaries ?? (await ensureBinaries());
  const bin = (name: string) => path.join(binaries.binDir, name);

  await sweepStaleDirs();
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), DIR_PREFIX));
  await fsp.writeFile(path.join(dir, OWNER_FILE), `${process.pid}\n`);
  const file = (name: string) => path.join(dir, name);
  const processes: ManagedProcess[] = [];

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      // Reverse start order: controller-manager, apiserver, etcd.
      for (const p of [...processes].reverse()) await p.stop(TEARDOWN_GRACE_MS);
      await fsp.rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    const tBins = performance.now();
    await makePki(dir);
    const tPki = performance.now();
    const [etcdPort, etcdPeerPort, apiPort] = await freePorts(3);
    const server = `https://127.0.0.1:${apiPort}`;
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
            host: '127.0.0.1',
            port: apiPort,
            method,
            path: urlPath,
            ...tls,
            agent: false,
            timeout: 5000,
            headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {},
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
    const apiserver = new ManagedProcess(
      'kube-apiserver',
      bin('kube-apiserver'),
      [
        `--etcd-servers=http://127.0.0.1:${etcdPort}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${file('apiserver-certs')}`,
        `--tls-cert-file=${file('apiserver.crt')}`,
        `--tls-private-key-file=${file('apiserver.key')}`,
        `--client-ca-file=${caPath}`,
        `--service-account-key-file=${file('sa.pub')}`,
        `--service-account-signing-key-file=${file('sa.key')}`,
        `--service-account-issuer=${SA_ISSUER}`,
        '--authorization-mode=RBAC',
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
        '--allow-privileged=true',
        // The `kubernetes` Service keeps no endpoints: 127.0.0.1 is not a valid endpoint address, and nothing runs pods here.
        '--endpoint-reconciler-type=none',
        '--profiling=false',
      ],
      file('kube-apiserver.log'),
    );
    const controllerManager = new ManagedProcess(
      'kube-controller-manager',
      bin('kube-controller-manager'),
      [
        `--kubeconfig=${file('controller-manager.kubeconfig')}`,
        '--leader-elect=false',
        '--secure-port=0',
        '--controllers=*',
        // One identity for all controllers: with a ServiceAccount per controller (as kubeadm does) the
        // controller-manager takes ~5 s longer to start, and the tests are not about controllers' RBAC.
        '--use-service-account-credentials=false',
        `--service-account-private-key-file=${file('sa.key')}`,
        `--root-ca-file=${caPath}`,
        `--cluster-signing-cert-file=${caPath}`,
        `--cluster-signing-key-file=${file('ca.key')}`,
        `--service-cluster-ip-range=${SERVICE_CIDR}`,
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
      waitFor('kube-apiserver /readyz', async () => (await request('GET', '/readyz')).status === 200, [etcd, apiserver]);

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

    return {
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
      async mintToken(namespace, serviceAccount, expirationSeconds = 3600) {
        const answer = await request(
          'POST',
          `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(serviceAccount)}/token`,
          { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds } },
        );
        if (answer.status !== 201) {
          throw new Error(`TokenRequest for ${namespace}/${serviceAccount} failed: HTTP ${answer.status} ${answer.body}`);
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
