/*
 * A worker node for the test cluster, so that the chart's pod really runs:
 * containerd v2 (built from its Go module) with runc and the CNI bridge
 * plugin (Debian's packages), the kubelet and kube-proxy (iptables mode), all
 * three in the node's own network namespace, plus kube-scheduler on the host.
 * The operator image is pulled, as on a user's node, from the test OCI
 * registry (registry.ts; TLS with its own CA, which containerd trusts through
 * its registry host configuration, and basic auth, whose credentials the
 * kubelet takes from an image pull Secret). The stand-ins (pause, busybox) are
 * built by test/node/images.sh and loaded with ctr. Nothing else can be
 * pulled: the runtime's proxy for every other address is a closed port.
 *
 * One node per slot (0..7) at a time on a machine: the slot names the netns,
 * the veth pair, the address ranges (test/node/network.sh) and the kubelet's
 * cgroup root, so two test runs on one machine do not collide. A slot whose
 * owner died (SIGKILL, crash) is cleaned up by the next claim.
 *
 * Needs root (network namespaces, cgroups, mounts). Two settings exist only
 * for machines like the ones this project is built on, cgroup v1 without
 * systemd and without CAP_SYS_RESOURCE: the kubelet's `failCgroupV1: false`
 * (with `cgroupDriver: cgroupfs`) and containerd's `restrict_oom_score_adj`.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './binaries';
import { isAlive, ManagedProcess } from './managed-process';
import { kubeconfigYaml, makeLeaf } from './pki';

const execFileAsync = promisify(execFile);

const SLOTS_DIR = '/run/kube9-node';
/** The runtime's proxy: a loopback port nothing listens on (TCP port 1, tcpmux, is never served here). */
export const CLOSED_PROXY = 'http://127.0.0.1:1';
const SLOT_COUNT = 8;
/** The kernel settings as they were before the first of the running nodes started. */
export const SYSCTLS_FILE = path.join(SLOTS_DIR, 'sysctls.json');
const CGROUP_ROOT = '/sys/fs/cgroup';
/** The kernel settings the kubelet changes at start (KernelTunableModify); put back on stop. */
const KUBELET_SYSCTLS = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
];

export interface NodeNetwork {
  slot: number;
  /** The host end of the node's veth: kube-apiserver and the kube9-server simulator listen here. */
  hostIp: string;
  /** The node's InternalIP. */
  nodeIp: string;
  podCidr: string;
  serviceCidr: string;
  /** The `kubernetes` Service's cluster IP (the first of serviceCidr). */
  serviceIp: string;
  /** The cluster DNS Service's IP (the tenth of serviceCidr): the pods' nameserver when the node has cluster DNS. */
  dnsIp: string;
  netns: string;
  nodeName: string;
}

export interface NodeImages {
  /** `<registry>/kube9/kube9-operator:<version>`, the one tag (an OCI index for linux/amd64 and linux/arm64) pushed by scripts/release.sh; the kubelet pulls its linux/amd64 image. */
  operator: string;
  busybox: string;
  pause: string;
  base: string;
  /** The runtime base's stand-in (a manifest list in .cache/containers); never run. */
  runtime: string;
  /** The one tag's manifest list, in buildah's storage under .cache/containers (what a release pushes). */
  operatorIndex: string;
  /** `docker.io/kube9/kube9-operator@sha256:<digest of the linux/arm64 manifest in the index>` */
  operatorArm64: string;
}

/** images.sh's names of the images, as NodeImages names them. */
const IMAGE_NAMES: Record<string, keyof NodeImages> = {
  base: 'base',
  runtime: 'runtime',
  pause: 'pause',
  busybox: 'busybox',
  operator: 'operator',
  operator_index: 'operatorIndex',
  operator_arm64: 'operatorArm64',
};
/** The images the node loads at start: the ones it runs on its own platform. */
// The operator is not loaded: the kubelet pulls it from the test registry.
const NODE_LOADS: (keyof NodeImages)[] = ['pause', 'busybox'];

/** The chart's `image.repository` and `image.tag` for an image reference such as `docker.io/kube9/kube9-operator:0.1.0-dev.<hash>`. */
export function chartImage(ref: string): { repository: string; tag: string } {
  const colon = ref.lastIndexOf(':');
  return { repository: ref.slice(0, colon), tag: ref.slice(colon + 1) };
}

/** The node's own daemons, which a test may stop and start again. */
export type NodeDaemon = 'containerd' | 'kubelet' | 'kube-proxy';

export interface WorkerNode {
  network: NodeNetwork;
  images: NodeImages;
  /** images.sh's archive of each image, the node's own loaded or not. */
  archiveOf: Record<keyof NodeImages, string>;
  /** The node's directory: containerd, kubelet and kube-proxy state and logs. */
  dir: string;
  logPath(component: 'containerd' | 'kubelet' | 'kube-proxy' | 'kube-scheduler'): string;
  /** The packet counters of the host's guard table (test/node/network.sh). */
  guardCounters(): Promise<Record<string, number>>;
  /** Runs the pinned ctr against the node's containerd, in the kubelet's namespace (k8s.io); resolves with its output. */
  ctr(args: string[]): Promise<string>;
  /**
   * SIGSTOP freezes the kubelet, as on a node whose kubelet hangs: running containers go on, but
   * nothing is started or restarted; SIGCONT thaws it. (Stopping the node kills it frozen or not.)
   */
  signalKubelet(signal: 'SIGSTOP' | 'SIGCONT'): void;
  /**
   * Stops one of the node's daemons as `systemctl stop` would (SIGTERM, SIGKILL after 5 s). The
   * containers keep running: each is held by its shim, which is not a child of containerd.
   */
  stopDaemon(daemon: NodeDaemon): Promise<void>;
  /** Starts a stopped daemon again on the same state and configuration; containerd: once it answers. */
  startDaemon(daemon: NodeDaemon): Promise<void>;
  /**
   * The power of a stopped node goes off (every daemon stopped first): kills what is left in the
   * node's cgroup tree (the shims and the containers) and throws away what a reboot loses: the
   * runtime's state directory and runc's (tmpfs under /run on a real node), the sandboxes' network
   * namespaces and the pods' volume mounts. What is on disk (containerd's root, the kubelet's root,
   * the CNI allocations) stays, so `startDaemon` brings the node up as after a reboot.
   */
  powerOff(): Promise<void>;
  /** Stops everything and removes every process, mount, cgroup, network device, route and rule it made. Idempotent. */
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(command: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, { env: opts.env ?? process.env, maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
    if (e.code === 'ENOENT')
      throw new Error(`${command} is not installed (run test/node/install-packages.sh)`, { cause: err });
    throw new Error(`${command} ${args.join(' ')} failed: ${(e.stderr || e.stdout || e.message).trim()}`, {
      cause: err,
    });
  }
}

function networkOf(slot: number): NodeNetwork {
  return {
    slot,
    hostIp: `10.213.${slot}.1`,
    nodeIp: `10.213.${slot}.2`,
    podCidr: `10.214.${slot}.0/24`,
    serviceCidr: `10.215.${slot}.0/24`,
    serviceIp: `10.215.${slot}.1`,
    dnsIp: `10.215.${slot}.10`,
    netns: `kube9-node-${slot}`,
    nodeName: `kube9-node-${slot}`,
  };
}

const networkScript = () => path.join(repoRoot(), 'test', 'node', 'network.sh');
const qemuScript = () => path.join(repoRoot(), 'test', 'node', 'qemu-binfmt.sh');
/** The node's name as a holder of qemu-aarch64's binfmt_misc handler (test/node/qemu-binfmt.sh). */
const qemuHolder = (ownerPid: string | number, slot: number) => `${ownerPid}-node-${slot}`;
const slotDir = (slot: number) => path.join(SLOTS_DIR, `slot-${slot}`);
const cgroupName = (slot: number) => `kube9-node-${slot}`;

/** The cgroup v1 hierarchies (and the v2 one of a hybrid set-up) mounted under /sys/fs/cgroup. */
function cgroupHierarchies(): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter(
      (f) =>
        f.length > 4 && f[4].startsWith(`${CGROUP_ROOT}/`) && /cgroup2? /.test(f.slice(f.indexOf('-') + 1).join(' ')),
    )
    .map((f) => f[4]);
}

/** Every cgroup directory under `name` in every hierarchy, deepest first. */
function cgroupDirs(name: string): string[] {
  const dirs: string[] = [];
  const walk = (dir: string) => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name));
    dirs.push(dir);
  };
  for (const h of cgroupHierarchies()) walk(path.join(h, name));
  return dirs;
}

function pidsIn(dirs: string[]): number[] {
  const pids = new Set<number>();
  for (const dir of dirs) {
    try {
      for (const line of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n')) {
        const pid = Number.parseInt(line, 10);
        if (pid > 0) pids.add(pid);
      }
    } catch {
      // gone
    }
  }
  return [...pids];
}

/**
 * The cgroup v1 directory of a container on the node of `slot` in the hierarchy of `controller`
 * (e.g. `memory`), found by the container's ID (`containerd://<id>` or the bare ID).
 */
export function containerCgroupDir(slot: number, containerId: string, controller: string): string {
  const id = containerId.replace(/^containerd:\/\//, '');
  const root = path.join(CGROUP_ROOT, controller, cgroupName(slot));
  const found = cgroupDirs(cgroupName(slot)).find(
    (dir) => dir.startsWith(`${root}/`) && path.basename(dir).includes(id),
  );
  if (!found) throw new Error(`no ${controller} cgroup for container ${id} under ${root}`);
  return found;
}

/** Creates `/<name>/<sub>` in every hierarchy (cpuset needs its cpus and mems copied down). */
function makeCgroup(name: string, sub?: string): void {
  for (const h of cgroupHierarchies()) {
    const parts = sub ? [name, sub] : [name];
    let dir = h;
    for (const part of parts) {
      const parent = dir;
      dir = path.join(dir, part);
      fs.mkdirSync(dir, { recursive: true });
      if (path.basename(h) === 'cpuset') {
        for (const file of ['cpuset.cpus', 'cpuset.mems']) {
          if (fs.readFileSync(path.join(dir, file), 'utf8').trim() === '') {
            fs.writeFileSync(path.join(dir, file), fs.readFileSync(path.join(parent, file), 'utf8').trim());
          }
        }
      }
    }
  }
}

/**
 * SIGKILLs every process in the cgroup tree `name`, again and again (forks in flight) for up to
 * 5 s, until none is left; resolves with those still there.
 */
async function killCgroupProcesses(name: string): Promise<number[]> {
  for (let round = 0; round < 50; round++) {
    const pids = pidsIn(cgroupDirs(name));
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await sleep(100);
  }
  return pidsIn(cgroupDirs(name));
}

/** Kills every process in the cgroup tree `name` (SIGKILL, repeated until none is left) and removes the tree. */
async function removeCgroupTree(name: string): Promise<void> {
  await killCgroupProcesses(name);
  for (let round = 0; round < 20; round++) {
    let left = 0;
    for (const dir of cgroupDirs(name)) {
      try {
        fs.rmdirSync(dir);
      } catch {
        left++;
      }
    }
    if (left === 0) return;
    await sleep(100);
  }
  throw new Error(`cgroup ${name} could not be removed: ${cgroupDirs(name).join(', ')}`);
}

/** Unmounts everything mounted at or below `dir`, deepest first. */
async function unmountBelow(dir: string): Promise<void> {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  for (let round = 0; round < 5; round++) {
    const points = fs
      .readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[4])
      .filter((p): p is string => !!p && (p === dir || p.startsWith(prefix)))
      .map((p) => p.replace(/\\040/g, ' '))
      .sort((a, b) => b.length - a.length);
    if (points.length === 0) return;
    for (const point of points) await run('umount', ['-l', point]).catch(() => undefined);
  }
}

async function readSysctls(): Promise<Record<string, string>> {
  const values: Record<string, string> = {};
  for (const key of KUBELET_SYSCTLS) {
    values[key] = (await fsp.readFile(`/proc/sys/${key}`, 'utf8')).trim();
  }
  return values;
}

async function restoreSysctls(saved: Record<string, string>): Promise<void> {
  for (const [key, value] of Object.entries(saved)) {
    await fsp.writeFile(`/proc/sys/${key}`, value).catch(() => undefined);
  }
}

/**
 * Undoes whatever a node in `slot` left: processes, mounts, cgroups, the
 * kernel settings the kubelet changed, the network. Used by stop() and for a
 * slot whose owner died.
 */
async function cleanUpSlot(slot: number): Promise<void> {
  const state = slotDir(slot);
  const owner = (await fsp.readFile(path.join(state, 'owner.pid'), 'utf8').catch(() => '')).trim();
  await removeCgroupTree(cgroupName(slot));
  const nodeDir = await fsp.readFile(path.join(state, 'node-dir'), 'utf8').catch(() => '');
  if (nodeDir.trim()) await unmountBelow(nodeDir.trim());
  await run('bash', [networkScript(), 'down', String(slot)]);
  // Undoes the qemu registration if this node made it and no one else holds it.
  await run('bash', [qemuScript(), 'release', qemuHolder(owner || '0', slot)]);
  await fsp.rm(state, { recursive: true, force: true });
  // The kernel settings are the machine's: put them back when the last node is gone.
  const others = (await fsp.readdir(SLOTS_DIR).catch(() => [] as string[])).filter((n) => n.startsWith('slot-'));
  const saved = await fsp.readFile(SYSCTLS_FILE, 'utf8').catch(() => '');
  if (others.length === 0 && saved) {
    await restoreSysctls(JSON.parse(saved) as Record<string, string>);
    await fsp.rm(SYSCTLS_FILE, { force: true });
  }
}

/**
 * Claims a free slot (cleaning up one whose owner died) and sets up its
 * network. Fails with a clear message when all slots are in use.
 */
export async function claimNodeNetwork(): Promise<NodeNetwork> {
  if (process.getuid?.() !== 0) {
    throw new Error('the worker node needs root (network namespaces, cgroups and mounts); run the tests as root');
  }
  await fsp.mkdir(SLOTS_DIR, { recursive: true });
  const owners: string[] = [];
  for (let slot = 0; slot < SLOT_COUNT; slot++) {
    const state = slotDir(slot);
    try {
      await fsp.mkdir(state);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(await fsp.readFile(path.join(state, 'owner.pid'), 'utf8').catch(() => ''), 10);
      if (owner > 0 && isAlive(owner)) {
        owners.push(`slot ${slot}: pid ${owner}`);
        continue;
      }
      if (!owner) {
        // Being claimed right now, or its claimer died before writing: give it a moment.
        const age = Date.now() - (await fsp.stat(state)).mtimeMs;
        if (age < 10_000) {
          owners.push(`slot ${slot}: being claimed`);
          continue;
        }
      }
      console.error(`[node] cleaning up slot ${slot}, left by pid ${owner || '?'} which is gone`);
      await cleanUpSlot(slot);
      try {
        await fsp.mkdir(state);
      } catch {
        continue;
      }
    }
    await fsp.writeFile(path.join(state, 'owner.pid'), `${process.pid}\n`);
    try {
      await run('bash', [networkScript(), 'up', String(slot)]);
    } catch (err) {
      await fsp.rm(state, { recursive: true, force: true });
      throw err;
    }
    return networkOf(slot);
  }
  throw new Error(
    `all ${SLOT_COUNT} worker-node slots of this machine are in use (${owners.join('; ')}); stop one of those runs`,
  );
}

/** Releases a claimed slot whose node never started (or has been stopped). */
export async function releaseNodeNetwork(net: NodeNetwork): Promise<void> {
  await cleanUpSlot(net.slot);
}

/**
 * Runs test/node/images.sh (builds what is missing or out of date) and
 * returns the image references and the archives of those loaded with ctr
 * (the stand-ins: pause and busybox).
 */
export async function ensureImages(): Promise<{
  images: NodeImages;
  archives: string[];
  archiveOf: Record<keyof NodeImages, string>;
}> {
  const script = path.join(repoRoot(), 'test', 'node', 'images.sh');
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn('bash', [script], { cwd: repoRoot(), stdio: ['ignore', 'pipe', 2] });
    let out = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${script} failed (exit ${code}); its output is above`)),
    );
  });
  const found: Partial<NodeImages> = {};
  const archiveOf: Partial<Record<keyof NodeImages, string>> = {};
  for (const line of stdout.trim().split('\n')) {
    const m = /^(\w+)=(\S+) (\S+)$/.exec(line);
    const name = m && IMAGE_NAMES[m[1]];
    if (!name) continue;
    found[name] = m[2];
    archiveOf[name] = m[3];
  }
  for (const [reported, name] of Object.entries(IMAGE_NAMES)) {
    if (!found[name]) throw new Error(`${script} did not report the ${reported} image:\n${stdout}`);
  }
  // The base images are only built from; the operator (index, amd64, arm64) is
  // pulled from the test registry, as a user's node pulls it.
  const archives = NODE_LOADS.map((name) => archiveOf[name]!);
  return {
    images: found as NodeImages,
    archives,
    archiveOf: archiveOf as Record<keyof NodeImages, string>,
  };
}

/**
 * The host pid of a container's PID 1 on the node of `slot`, from the pod's cgroup (the node runs in
 * this machine's kernel). `containerID` as the pod's status gives it (`containerd://<id>`).
 */
export function containerHostPid(slot: number, containerID: string): number {
  const id = containerID.replace(/^containerd:\/\//, '');
  const root = `${CGROUP_ROOT}/pids/${cgroupName(slot)}`;
  const find = (dir: string): string | undefined => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const sub = path.join(dir, entry.name);
      if (entry.name.includes(id)) return sub;
      const found = find(sub);
      if (found) return found;
    }
    return undefined;
  };
  const dir = find(root);
  if (!dir) throw new Error(`no cgroup for container ${id} under ${root}`);
  const pids = fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').trim().split('\n').map(Number);
  // PID 1 of the container is the one whose NSpid ends in 1.
  const pid1 = pids.find((pid) => /^NSpid:.*\s1$/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8')));
  if (!pid1) throw new Error(`no PID 1 among ${pids.join(', ')} of container ${id}`);
  return pid1;
}

export interface WorkerNodeOptions {
  net: NodeNetwork;
  /** The control plane's directory: ca.crt, ca.key and openssl.cnf are there; the node's goes below it. */
  cpDir: string;
  binDir: string;
  /** `https://<hostIp>:<port>` */
  server: string;
  images: NodeImages;
  /** The image archives loaded with ctr (the stand-ins; not the operator). */
  archives: string[];
  /** The test registry (`host:port` on the node's host-side address, and its CA): containerd trusts it for pulls. */
  registry?: { address: string; caPath: string };
  /** The ghcr.io stand-in (public-registry.ts): containerd resolves ghcr.io to it, trusting its CA. */
  publicRegistry?: { address: string; caPath: string };
  archiveOf: Record<keyof NodeImages, string>;
  /** GET as the admin; resolves with the status and the body. */
  adminGet(urlPath: string): Promise<{ status: number; body: string }>;
  timeoutMs: number;
  /**
   * Enforce NetworkPolicy: run kube-router's firewall controller alone (no routing, no service
   * proxy) in the node's network namespace, where it filters the pods' traffic with iptables and
   * ipsets. kube-router v2.1.0 has reported security flaws: tests only, in the guarded network.
   */
  networkPolicy?: boolean;
  /**
   * Give the pods a cluster DNS: the kubelet's clusterDNS is `net.dnsIp` (domain cluster.local),
   * so pods with the ClusterFirst policy ask it. The server behind it is the test's to run
   * (cluster-dns.ts: CoreDNS as kube-dns in kube-system). Without it pods get an empty resolv.conf.
   */
  clusterDns?: boolean;
}

export async function startWorkerNode(opts: WorkerNodeOptions): Promise<WorkerNode> {
  const { net, binDir } = opts;
  const t0 = performance.now();
  const dir = path.join(opts.cpDir, `node-${net.slot}`);
  const file = (name: string) => path.join(dir, name);
  await fsp.mkdir(dir, { recursive: true });
  const state = slotDir(net.slot);
  await fsp.writeFile(path.join(state, 'node-dir'), dir);
  // The machine's own values, recorded by the first node of several (the others see the kubelet's).
  if (!fs.existsSync(SYSCTLS_FILE)) await fsp.writeFile(SYSCTLS_FILE, JSON.stringify(await readSysctls()));
  const processes: ManagedProcess[] = [];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      for (const p of [...processes].reverse()) await p.stop(2000);
      await cleanUpSlot(net.slot);
    })();
    return stopped;
  };

  try {
    // Identities: the kubelet is a node (Node authorizer), kube-proxy and the
    // scheduler have the users the default RBAC bindings name.
    const cp = (name: string) => path.join(opts.cpDir, name);
    await Promise.all([
      makeLeaf(opts.cpDir, 'kubelet-client', `/O=system:nodes/CN=system:node:${net.nodeName}`, 'client'),
      makeLeaf(opts.cpDir, 'kubelet-serving', `/CN=${net.nodeName}`, 'kubelet'),
      makeLeaf(opts.cpDir, 'kube-proxy', '/CN=system:kube-proxy', 'client'),
      makeLeaf(opts.cpDir, 'kube-scheduler', '/CN=system:kube-scheduler', 'client'),
      // kube-router watches pods, namespaces, policies, nodes, Services and endpoints (test-only admin).
      ...(opts.networkPolicy
        ? [makeLeaf(opts.cpDir, 'kube-router', '/O=system:masters/CN=kube-router', 'client')]
        : []),
    ]);
    const caData = fs.readFileSync(cp('ca.crt')).toString('base64');
    const kubeconfig = (name: string, user: string) => {
      const target = file(`${name}.kubeconfig`);
      fs.writeFileSync(
        target,
        kubeconfigYaml(opts.server, caData, user, {
          'client-certificate-data': fs.readFileSync(cp(`${name}.crt`)).toString('base64'),
          'client-key-data': fs.readFileSync(cp(`${name}.key`)).toString('base64'),
        }),
        { mode: 0o600 },
      );
      return target;
    };

    const containerdSock = file('containerd/containerd.sock');
    const cniConfDir = file('cni/net.d');
    await fsp.mkdir(cniConfDir, { recursive: true });
    await fsp.writeFile(
      path.join(cniConfDir, '10-kube9-pods.conflist'),
      JSON.stringify(
        {
          cniVersion: '1.0.0',
          name: 'kube9-pods',
          plugins: [
            {
              type: 'bridge',
              bridge: 'k9pods',
              isGateway: true,
              ipMasq: false,
              hairpinMode: true,
              ipam: {
                type: 'host-local',
                ranges: [[{ subnet: net.podCidr }]],
                routes: [{ dst: '0.0.0.0/0' }],
                dataDir: file('cni/ipam'),
              },
            },
            { type: 'portmap', capabilities: { portMappings: true } },
          ],
        },
        null,
        2,
      ),
    );
    // The registry's host configuration: its CA, pull and resolve only; TLS, no plain-http, no insecure flag.
    const certsDir = file('containerd/certs.d');
    // ghcr.io (the chart's default image) resolves to the public stand-in, and only to it.
    const hostConfigs: [string, { address: string; caPath: string } | undefined][] = [
      [opts.registry?.address ?? '', opts.registry],
      ['ghcr.io', opts.publicRegistry],
    ];
    for (const [name, target] of hostConfigs) {
      if (!target) continue;
      const hostDir = path.join(certsDir, name);
      await fsp.mkdir(hostDir, { recursive: true });
      await fsp.writeFile(
        path.join(hostDir, 'hosts.toml'),
        `server = ${JSON.stringify(`https://${target.address}`)}

[host.${JSON.stringify(`https://${target.address}`)}]
  capabilities = ['pull', 'resolve']
  ca = ${JSON.stringify(target.caPath)}
`,
      );
    }
    await fsp.writeFile(
      file('containerd.toml'),
      `version = 3
root = ${JSON.stringify(file('containerd/root'))}
state = ${JSON.stringify(file('containerd/state'))}
# NRI would open a socket under /var/run; nothing here uses it.
disabled_plugins = ['io.containerd.nri.v1.nri']

[grpc]
  address = ${JSON.stringify(containerdSock)}

[plugins.'io.containerd.internal.v1.opt']
  path = ${JSON.stringify(file('containerd/opt'))}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = ${JSON.stringify(opts.images.pause)}
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = ${JSON.stringify(certsDir)}

[plugins.'io.containerd.cri.v1.runtime']
  # This machine kind lacks CAP_SYS_RESOURCE, so runc cannot give a container
  # a lower oom_score_adj than containerd's own; clamp instead of failing.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/usr/lib/cni']
    conf_dir = ${JSON.stringify(cniConfDir)}
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '/usr/sbin/runc'
        Root = ${JSON.stringify(file('runc'))}
        SystemdCgroup = false
`,
    );

    // arm64 images run under qemu-user: registered in binfmt_misc (F flag) unless
    // an aarch64 handler is there already; undone on stop if this node did it.
    await run('bash', [qemuScript(), 'hold', qemuHolder(process.pid, net.slot)]);

    // containerd (and so its shims and every container) runs in the cgroup
    // tree of this slot, so stop() finds every process it left.
    const cgroup = cgroupName(net.slot);
    makeCgroup(cgroup, 'runtime');
    const inNetns = ['nsenter', `--net=/run/netns/${net.netns}`, '--'];
    const joinRuntimeCgroup = [
      'sh',
      '-c',
      `for h in ${cgroupHierarchies().join(' ')}; do echo $$ > "$h/${cgroup}/runtime/cgroup.procs"; done; exec "$@"`,
      'join-cgroup',
    ];
    const env = { PATH: `${binDir}:/usr/sbin:/usr/bin:/sbin:/bin` };
    // Only the test registry is reached directly; any other pull goes to a
    // closed port and fails at once instead of reaching out.
    const direct = opts.registry ? opts.registry.address.replace(/:\d+$/, '') : '';
    const noPull = {
      HTTP_PROXY: CLOSED_PROXY,
      HTTPS_PROXY: CLOSED_PROXY,
      http_proxy: CLOSED_PROXY,
      https_proxy: CLOSED_PROXY,
      NO_PROXY: direct,
      no_proxy: direct,
    };
    const containerd = new ManagedProcess(
      'containerd',
      path.join(binDir, 'containerd'),
      ['--config', file('containerd.toml')],
      file('containerd.log'),
      {
        prefix: [...inNetns, ...joinRuntimeCgroup],
        env: { ...env, ...noPull },
      },
    );
    processes.push(containerd);
    containerd.start();
    const deadline = performance.now() + opts.timeoutMs;
    while (!fs.existsSync(containerdSock)) {
      if (containerd.exited) throw new Error(`${containerd.describeExit()}; the end of its log:\n${containerd.tail()}`);
      if (performance.now() > deadline)
        throw new Error(`containerd did not open ${containerdSock}:\n${containerd.tail()}`);
      await sleep(50);
    }
    const tContainerd = performance.now();
    // The pinned ctr (containerd v2.4) imports in-process with --local, without the transfer service.
    const ctr = (args: string[]) =>
      run(path.join(binDir, 'ctr'), ['--address', containerdSock, '--namespace', 'k8s.io', ...args]);
    for (const archive of opts.archives) await ctr(['images', 'import', '--local', archive]);
    const tImages = performance.now();

    makeCgroup(cgroup);
    const kubeletDir = file('kubelet');
    await fsp.mkdir(kubeletDir, { recursive: true });
    await fsp.writeFile(
      file('kubelet.yaml'),
      JSON.stringify(
        {
          apiVersion: 'kubelet.config.k8s.io/v1beta1',
          kind: 'KubeletConfiguration',
          // This machine kind runs cgroup v1 without systemd: only for such machines.
          failCgroupV1: false,
          cgroupDriver: 'cgroupfs',
          cgroupRoot: `/${cgroup}`,
          containerRuntimeEndpoint: `unix://${containerdSock}`,
          address: net.nodeIp,
          port: 10250,
          readOnlyPort: 0,
          healthzBindAddress: '127.0.0.1',
          healthzPort: 10248,
          tlsCertFile: cp('kubelet-serving.crt'),
          tlsPrivateKeyFile: cp('kubelet-serving.key'),
          rotateCertificates: false,
          serverTLSBootstrap: false,
          authentication: {
            anonymous: { enabled: false },
            webhook: { enabled: true },
            x509: { clientCAFile: cp('ca.crt') },
          },
          authorization: { mode: 'Webhook' },
          // No name look-ups through the host: pods get an empty resolv.conf, or only the
          // cluster DNS when the node has one.
          resolvConf: '',
          ...(opts.clusterDns ? { clusterDNS: [net.dnsIp], clusterDomain: 'cluster.local' } : {}),
          failSwapOn: false,
          podLogsDir: file('pod-logs'),
          evictionHard: {
            'memory.available': '100Mi',
            'nodefs.available': '1%',
            'imagefs.available': '1%',
            'nodefs.inodesFree': '1%',
          },
          imageGCHighThresholdPercent: 100,
          imageGCLowThresholdPercent: 99,
          maxPods: 20,
          nodeStatusUpdateFrequency: '5s',
          syncFrequency: '10s',
          fileCheckFrequency: '5s',
          shutdownGracePeriod: '0s',
          containerLogMaxSize: '5Mi',
        },
        null,
        2,
      ),
    );
    const kubelet = new ManagedProcess(
      'kubelet',
      path.join(binDir, 'kubelet'),
      [
        `--config=${file('kubelet.yaml')}`,
        `--kubeconfig=${kubeconfig('kubelet-client', `system:node:${net.nodeName}`)}`,
        `--root-dir=${kubeletDir}`,
        `--cert-dir=${file('kubelet/pki')}`,
        `--hostname-override=${net.nodeName}`,
        `--node-ip=${net.nodeIp}`,
        '--v=2',
      ],
      file('kubelet.log'),
      { prefix: inNetns, env },
    );
    await fsp.writeFile(
      file('kube-proxy.yaml'),
      JSON.stringify(
        {
          apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
          kind: 'KubeProxyConfiguration',
          clientConnection: { kubeconfig: kubeconfig('kube-proxy', 'system:kube-proxy') },
          hostnameOverride: net.nodeName,
          mode: 'iptables',
          clusterCIDR: net.podCidr,
          bindAddress: net.nodeIp,
          healthzBindAddress: '127.0.0.1:10256',
          metricsBindAddress: '127.0.0.1:10249',
          // Leave the machine-wide conntrack settings alone.
          conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
          iptables: { syncPeriod: '10s', minSyncPeriod: '0s' },
        },
        null,
        2,
      ),
    );
    const kubeProxy = new ManagedProcess(
      'kube-proxy',
      path.join(binDir, 'kube-proxy'),
      [`--config=${file('kube-proxy.yaml')}`, '--v=1'],
      file('kube-proxy.log'),
      { prefix: [...inNetns, ...joinRuntimeCgroup], env },
    );
    const scheduler = new ManagedProcess(
      'kube-scheduler',
      path.join(binDir, 'kube-scheduler'),
      [
        `--kubeconfig=${kubeconfig('kube-scheduler', 'system:kube-scheduler')}`,
        '--leader-elect=false',
        '--secure-port=0',
        '--v=1',
      ],
      file('kube-scheduler.log'),
    );
    const kubeRouter = opts.networkPolicy
      ? new ManagedProcess(
          'kube-router',
          path.join(binDir, 'kube-router'),
          [
            `--kubeconfig=${kubeconfig('kube-router', 'kube-router')}`,
            `--hostname-override=${net.nodeName}`,
            '--run-firewall=true',
            '--run-router=false',
            '--run-service-proxy=false',
            '--run-loadbalancer=false',
            '--enable-cni=false',
            '--enable-pod-egress=false',
            `--service-cluster-ip-range=${net.serviceCidr}`,
            '--health-port=0',
            '--metrics-port=0',
            '--v=1',
          ],
          file('kube-router.log'),
          { prefix: [...inNetns, ...joinRuntimeCgroup], env },
        )
      : undefined;
    for (const p of [scheduler, kubelet, kubeProxy]) {
      processes.push(p);
      p.start();
    }

    // Ready: the node reports Ready and the node-lifecycle controller has
    // removed the not-ready taint, so the scheduler will place pods on it.
    let last = '';
    for (;;) {
      const dead = processes.find((p) => p.exited);
      if (dead)
        throw new Error(`${dead.describeExit()} while waiting for the node; the end of its log:\n${dead.tail()}`);
      const answer = await opts
        .adminGet(`/api/v1/nodes/${net.nodeName}`)
        .catch((err: Error) => ({ status: 0, body: err.message }));
      if (answer.status === 200) {
        const node = JSON.parse(answer.body) as {
          spec?: { taints?: { key: string }[] };
          status?: { conditions?: { type: string; status: string; message?: string }[] };
        };
        const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
        const taints = (node.spec?.taints ?? []).map((t) => t.key);
        if (ready?.status === 'True' && taints.length === 0) break;
        last = `Ready=${ready?.status ?? '?'} (${ready?.message ?? ''}), taints [${taints.join(', ')}]`;
      } else {
        last = `GET node: ${answer.status} ${answer.body.slice(0, 200)}`;
      }
      if (performance.now() > deadline) {
        throw new Error(
          `node ${net.nodeName} not ready after ${opts.timeoutMs} ms: ${last}\n--- kubelet:\n${kubelet.tail(30)}\n--- containerd:\n${containerd.tail(15)}`,
        );
      }
      await sleep(250);
    }
    // kube-router finds its node by name at start: only once the node is registered.
    if (kubeRouter) {
      processes.push(kubeRouter);
      kubeRouter.start();
    }
    const daemons: Record<NodeDaemon, ManagedProcess> = { containerd, kubelet, 'kube-proxy': kubeProxy };
    const s = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
    const tReady = performance.now();
    console.log(
      `[node] ${net.nodeName} Ready in ${s(tReady - t0)} (containerd ${s(tContainerd - t0)}, ` +
        `${opts.archives.length} images loaded ${s(tImages - tContainerd)}, kubelet Ready ${s(tReady - tImages)}) at ${net.nodeIp}, dir ${dir}`,
    );
    return {
      network: net,
      images: opts.images,
      archiveOf: opts.archiveOf,
      dir,
      logPath: (component) => file(`${component}.log`),
      async guardCounters() {
        const out = await run('bash', [networkScript(), 'counters', String(net.slot)]);
        const counters: Record<string, number> = {};
        for (const line of out.trim().split('\n')) {
          const [name, value] = line.split('=');
          if (name) counters[name] = Number(value);
        }
        return counters;
      },
      ctr,
      signalKubelet(signal) {
        if (kubelet.pid === undefined) throw new Error('the kubelet is not running');
        process.kill(kubelet.pid, signal);
      },
      async stopDaemon(daemon) {
        await daemons[daemon].stop(5_000);
      },
      async startDaemon(daemon) {
        if (stopped) throw new Error('the node has been stopped');
        const p = daemons[daemon];
        if (p.running) throw new Error(`${daemon} is already running`);
        p.start();
        if (daemon !== 'containerd') return;
        const until = performance.now() + opts.timeoutMs;
        for (;;) {
          if (p.exited) throw new Error(`${p.describeExit()} on restart; the end of its log:\n${p.tail()}`);
          if (
            await ctr(['version']).then(
              () => true,
              () => false,
            )
          )
            return;
          if (performance.now() > until) throw new Error(`containerd did not answer after a restart:\n${p.tail()}`);
          await sleep(100);
        }
      },
      async powerOff() {
        const running = Object.values(daemons).filter((p) => p.running);
        if (running.length) throw new Error(`stop ${running.map((p) => p.name).join(', ')} before the power goes off`);
        const left = await killCgroupProcesses(cgroup);
        if (left.length) throw new Error(`processes ${left.join(', ')} of the node survived SIGKILL`);
        await unmountBelow(file('containerd/state'));
        await unmountBelow(file('kubelet/pods'));
        await fsp.rm(file('containerd/state'), { recursive: true, force: true });
        await fsp.rm(file('runc'), { recursive: true, force: true });
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
