/*
 * The linux/arm64 image, proven running, not only built: the chart's pod on
 * the real worker node (an amd64 machine) runs the arm64 manifest of the one
 * tag, pinned by its digest, under qemu-user (registered in binfmt_misc by
 * test/node/qemu-binfmt.sh when the node starts). The pod becomes Ready under
 * the restricted Pod Security Standard, publishes operated/free, and turns
 * enabled/pro on `helm upgrade --set apiKey`; its process is shown to run the
 * aarch64 loader and Node. Start-up under emulation is reported as a figure.
 *
 * The kubelet pulls that manifest from the test registry (where the harness's
 * `npm run release` pushed the index), by the digest the index names for
 * linux/arm64, with an image pull Secret: what a user pinning the arm64 image
 * does. Needs root; starts its own control plane with a node.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { CoreV1Api, KubeConfig, V1Pod } from '@kubernetes/client-node';
import { CHART_DIR } from './support/chart';
import { READ_ONLY_ROOT, rootWrites } from './support/container';
import type { ControlPlane } from './support/control-plane';
import { waitFor } from './support/operator-process';
import {
  apiKeyUpgradeArgs,
  helmOk,
  helmOn,
  isReady,
  operatorPods,
  RELEASE,
  serverArgs,
  startRealNode,
  viaServiceProxy,
} from './support/real-node';
import type { ServerSimulator } from './support/server-simulator';
import { readStatus } from './support/status';
import { PULL_SECRET, registryImageArgs } from './support/registry-install';
import { chartImage, containerHostPid } from './support/worker-node';
import { ELF_MACHINE, elfMachine } from './support/elf';

const NAMESPACE = 'kube9-arm64';
const AMD64_NAMESPACE = 'kube9-amd64';
const INTERVAL_SECONDS = 10;
const HELM_TIMEOUT_MS = 240_000;
const { arm64: AARCH64, amd64: X86_64 } = ELF_MACHINE;

let cp: ControlPlane;
let kc: KubeConfig;
let core: CoreV1Api;
let simulator: ServerSimulator;
/** The released repository in the test registry, and the digest of its index's linux/arm64 manifest. */
let arm64: { repository: string; digest: string };
const figures: string[] = [];

jest.setTimeout(300_000);

beforeAll(async () => {
  ({ cp, kc, core, simulator } = await startRealNode({
    intervalSeconds: INTERVAL_SECONDS,
    namespaces: [NAMESPACE, AMD64_NAMESPACE],
  }));
  arm64 = await arm64ManifestInRegistry(cp);
}, 1_600_000);

/** The linux/arm64 entry of the released index, read from the registry as a user's tools read it. */
async function arm64ManifestInRegistry(plane: ControlPlane): Promise<{ repository: string; digest: string }> {
  const { repository } = chartImage(plane.release!.imageTag);
  const registry = plane.registry!;
  const { stdout } = await promisify(execFile)('skopeo', [
    'inspect',
    '--raw',
    '--authfile',
    registry.authFile,
    '--cert-dir',
    path.dirname(registry.caPath),
    `docker://${repository}@${plane.release!.imageDigest}`,
  ]);
  const index = JSON.parse(stdout) as { manifests?: { digest: string; platform?: { architecture?: string } }[] };
  const entry = index.manifests?.find((m) => m.platform?.architecture === 'arm64');
  if (!entry) throw new Error(`the released index has no linux/arm64 manifest: ${stdout}`);
  return { repository, digest: entry.digest };
}

afterAll(async () => {
  if (figures.length) console.log(`[arm64-pod] ${figures.join('; ')}`);
  await simulator?.stop();
  await cp?.stop();
});

function commonValues(): string[] {
  return ['--set', 'tests.image.pullPolicy=Never', ...serverArgs(simulator.url, INTERVAL_SECONDS)];
}

/** The arm64 manifest, by its digest, as a user pins it: `image.repository` and `image.digest`, pulled with the Secret. */
function arm64Values(): string[] {
  return [
    '--set',
    `image.repository=${arm64.repository}`,
    '--set',
    `image.digest=${arm64.digest}`,
    '--set',
    'image.pullPolicy=IfNotPresent',
    '--set',
    `imagePullSecrets[0].name=${PULL_SECRET}`,
    // Emulation's cost, not the operator's: qemu-user's translated code and its own heap count
    // against the container's memory cgroup (about 230 MiB working set, against 40 MiB natively),
    // and every instruction is translated, so the chart's memory limit (192Mi) would OOM-kill
    // or starve it. A native arm64 node runs with the chart's defaults.
    '--set',
    'resources.limits.memory=512Mi',
    '--set',
    'resources.limits.cpu=2',
    ...commonValues(),
  ];
}

/** The one tag, released to the test registry: the node's kubelet pulls its linux/amd64 image from the index. */
function amd64Values(): string[] {
  return [...registryImageArgs(cp), ...commonValues()];
}

async function readyPod(namespace: string, timeoutMs = 240_000): Promise<V1Pod> {
  return waitFor(
    `a Ready operator pod in ${namespace}`,
    async () => (await operatorPods(core, namespace)).find(isReady),
    timeoutMs,
    250,
  );
}

const configMapStatus = (namespace: string) => readStatus(namespace, core);

const pidOf = (pod: V1Pod) => containerHostPid(cp.node!.network.slot, pod.status!.containerStatuses![0].containerID!);

/** When the process started, in ms since the epoch (from /proc: clock ticks since boot, 100 a second). */
function processStartMs(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  const ticks = Number(fields[19]); // field 22, starttime
  const btime = Number(/^btime (\d+)$/m.exec(fs.readFileSync('/proc/stat', 'utf8'))![1]);
  return btime * 1000 + ticks * 10;
}

/** The files mapped into a process (/proc/<pid>/maps), each with one of its map_files entries to open it by. */
function mappedFiles(pid: number): Map<string, string> {
  const files = new Map<string, string>();
  for (const line of fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 6 || !fields[5].startsWith('/')) continue;
    const file = fields.slice(5).join(' ');
    // map_files names a range without the leading zeros maps prints.
    const range = fields[0]
      .split('-')
      .map((hex) => hex.replace(/^0+(?=.)/, ''))
      .join('-');
    if (!files.has(file)) files.set(file, `/proc/${pid}/map_files/${range}`);
  }
  return files;
}

/** Resident memory of the process and the working set of its memory cgroup (usage less inactive file pages). */
function memoryOf(pid: number): { rss: number; workingSet: number } {
  const rss = Number(/^VmRSS:\s*(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
  const line = fs
    .readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => /:memory:/.test(l))!;
  const dir = path.join('/sys/fs/cgroup/memory', line.split(':')[2]);
  const usage = Number(fs.readFileSync(path.join(dir, 'memory.usage_in_bytes'), 'utf8'));
  const inactive = Number(
    /^total_inactive_file (\d+)$/m.exec(fs.readFileSync(path.join(dir, 'memory.stat'), 'utf8'))![1],
  );
  return { rss, workingSet: usage - inactive };
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

/** Installs the release in `namespace` and measures: helm install to Ready, process start to the first status write. */
async function installAndTime(namespace: string, values: string[]) {
  const t0 = Date.now();
  await helmOk(cp, ['install', RELEASE, CHART_DIR, '-n', namespace, ...values], HELM_TIMEOUT_MS);
  const pod = await readyPod(namespace);
  const readyMs = Date.now() - t0;
  const pid = pidOf(pod);
  const status = await waitFor('the first status write', () => configMapStatus(namespace), 60_000, 100);
  const firstWriteMs = Date.parse(status.lastUpdate as string) - processStartMs(pid);
  return { pod, pid, status, readyMs, firstWriteMs };
}

describe('the arm64 image as the chart’s pod, under qemu-user on an amd64 node', () => {
  let pod: V1Pod;
  let pid: number;

  it('is pinned by the digest of the index’s arm64 manifest, becomes Ready and publishes operated / free', async () => {
    const installed = await installAndTime(NAMESPACE, arm64Values());
    pod = installed.pod;
    pid = installed.pid;
    figures.push(
      `arm64 under qemu: helm install to pod Ready ${(installed.readyMs / 1000).toFixed(1)} s, ` +
        `process start to first status write ${installed.firstWriteMs} ms`,
    );

    expect(pod.spec?.containers[0].image).toBe(`${arm64.repository}@${arm64.digest}`);
    expect(pod.status?.containerStatuses?.[0].imageID).toContain(arm64.digest);
    // The kubelet pulled it from the registry (the node had no arm64 image before).
    const events = await core.listNamespacedEvent({
      namespace: NAMESPACE,
      fieldSelector: `involvedObject.name=${pod.metadata!.name!}`,
    });
    const pulled = events.items.find((e) => e.reason === 'Pulled' && /Successfully pulled/.test(e.message ?? ''));
    expect(pulled?.message).toContain(arm64.digest);
    figures.push(`arm64 pull: ${pulled?.message}`);
    expect(installed.status).toMatchObject({ mode: 'operated', tier: 'free', health: 'healthy', namespace: NAMESPACE });
    const proxied = await viaServiceProxy(kc, NAMESPACE, '/api/v1/status');
    expect(proxied.status).toBe(200);
    expect(JSON.parse(proxied.body)).toMatchObject({ mode: 'operated', tier: 'free' });
  });

  it('runs the aarch64 loader and Node: its process is qemu-aarch64 with both mapped, and no x86-64 loader', () => {
    const exe = fs.readlinkSync(`/proc/${pid}/exe`);
    const mapped = mappedFiles(pid);
    const machines = Object.fromEntries([...mapped].map(([file, handle]) => [file, elfMachine(handle)]));
    figures.push(
      `arm64 process: exe ${exe}; cmdline ${JSON.stringify(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean))}; ` +
        `mapped ELF ${JSON.stringify(machines)}`,
    );

    // The kernel ran the binfmt_misc handler for aarch64 ELF: the host's qemu-user, static (no loader of its own).
    expect(path.basename(exe)).toMatch(/^qemu-aarch64(-static)?$/);
    expect(elfMachine(`/proc/${pid}/exe`)).toBe(X86_64);
    // The guest: the image's Node and aarch64 loader, mapped by qemu and opened here through map_files.
    expect(machines['/nodejs/bin/node']).toBe(AARCH64);
    const loaders = Object.keys(machines).filter((file) => /\/ld-linux[^/]*\.so/.test(file));
    expect(loaders.length).toBeGreaterThan(0);
    expect(loaders.map((file) => [file, machines[file]])).toEqual(loaders.map((file) => [file, AARCH64]));
    expect(loaders.filter((file) => file.includes('x86-64'))).toEqual([]);
    // And what it maps is the image's own file: the same bytes as /nodejs/bin/node in the container.
    expect(fs.statSync(mapped.get('/nodejs/bin/node')!).size).toBe(
      fs.statSync(`/proc/${pid}/root/nodejs/bin/node`).size,
    );
    expect(elfMachine(`/proc/${pid}/root/nodejs/bin/node`)).toBe(AARCH64);
  });

  it('runs as uid/gid 1000, with no capabilities, no-new-privs and a read-only root', () => {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1].trim();
    expect(field('Uid')?.split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);
    expect(field('Gid')?.split(/\s+/)).toEqual(['1000', '1000', '1000', '1000']);
    expect(field('CapEff')).toBe('0000000000000000');
    expect(field('NoNewPrivs')).toBe('1');
    expect(rootWrites(pid)).toEqual(READ_ONLY_ROOT);
  });

  it('turns enabled / pro on `helm upgrade --set apiKey=…`, without a restart', async () => {
    const t0 = Date.now();
    await helmOk(cp, apiKeyUpgradeArgs(NAMESPACE), HELM_TIMEOUT_MS);
    const status = await waitFor(
      'the pro tier',
      async () => {
        const s = await configMapStatus(NAMESPACE);
        return s?.tier === 'pro' && s.registered ? s : undefined;
      },
      120_000,
      250,
    );
    figures.push(`arm64: helm upgrade --set apiKey to pro ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(status).toMatchObject({ mode: 'enabled', tier: 'pro', health: 'healthy', apiKeyConfigured: true });
    const now = await core.readNamespacedPod({ name: pod.metadata!.name!, namespace: NAMESPACE });
    expect(now.status?.containerStatuses?.[0].restartCount).toBe(0);
    expect(pidOf(now)).toBe(pid);
  });

  it('idle memory, arm64 under qemu against amd64 on the same node (reported, not asserted)', async () => {
    const amd64 = await installAndTime(AMD64_NAMESPACE, amd64Values());
    expect(amd64.status).toMatchObject({ mode: 'operated', tier: 'free' });
    expect(elfMachine(`/proc/${amd64.pid}/exe`)).toBe(X86_64);
    expect(fs.readlinkSync(`/proc/${amd64.pid}/exe`)).toBe('/nodejs/bin/node');
    // Idle: past start-up and the code-cache write a cold start does 10 s in.
    await new Promise((resolve) => setTimeout(resolve, 30_000));
    const arm = memoryOf(pid);
    const amd = memoryOf(amd64.pid);
    figures.push(
      `amd64 (same node): helm install to Ready ${(amd64.readyMs / 1000).toFixed(1)} s, process start to first write ${amd64.firstWriteMs} ms; ` +
        `idle RSS / cgroup working set: amd64 ${mib(amd.rss)} / ${mib(amd.workingSet)}, arm64 under qemu ${mib(arm.rss)} / ${mib(arm.workingSet)} ` +
        `(qemu's own memory included)`,
    );
    await helmOk(cp, ['uninstall', RELEASE, '-n', AMD64_NAMESPACE, '--wait', '--timeout', '120s'], HELM_TIMEOUT_MS);
  });

  it('passes `helm test` (busybox pod: no shell needed in the operator image)', async () => {
    const tested = await helmOn(cp, ['test', RELEASE, '-n', NAMESPACE, '--logs']);
    expect({ code: tested.code, stderr: tested.stderr }).toEqual({ code: 0, stderr: '' });
    expect(tested.stdout).toMatch(/OK: .* answers with a mode/);
    await helmOk(cp, ['uninstall', RELEASE, '-n', NAMESPACE, '--wait', '--timeout', '120s'], HELM_TIMEOUT_MS);
  });
});
