/*
 * The smallest memory limit the chart's pod lives under (issue 20), on the
 * real worker node, with the image's own Node flags (its Dockerfile CMD):
 * for each limit, from the largest down, the chart is installed (or upgraded)
 * with requests = limits = that much memory, and once its pod is Ready and has
 * idled for 10 s, 32 concurrent keep-alive clients GET /api/v1/status at the
 * pod IP for 60 s. The limit holds when no request failed, the container was
 * not restarted (no OOM kill), and the memory cgroup's `memory.failcnt` stayed
 * 0 (the usage never reached the limit, so the kernel never had to reclaim to
 * stay under it) since the container started. Printed per limit: requests/s, the peak working set (cgroup
 * usage minus inactive file pages, as the kubelet counts it), the peak usage
 * (`memory.max_usage_in_bytes`), the peak RSS of node, and failcnt.
 *
 * With --soak-minutes N, then a pro soak, first at the smallest limit that
 * held the burst, then at each larger one of --limits until one holds it: the
 * API key given by `helm upgrade --set apiKey` rotated between two valid keys
 * every 30 s (each rotation re-registers), with a 60 s burst at the start, for
 * N minutes; the same figures at the end. A soak fails as soon as the container
 * restarts or its cgroup's failcnt leaves 0 (checked after each rotation), or
 * when its last burst fails or the tier is not pro at the end. The status's
 * health is printed, not judged: past 10 registrations an hour the operator
 * holds the next one back (SPEC section 3) and says it is pending.
 *
 * cgroup v1 only (this machine kind); needs root, like the worker node.
 *   npm run bench:memory [-- --limits 256,128,96,80,64 --seconds 60 --clients 32 --soak-minutes 0]
 * Prints figures; asserts nothing. The figures of 2026-12-04 and the defaults
 * chosen from them are in helm/kube9-operator/README.md, "Resources".
 */
import type { V1Pod } from '@kubernetes/client-node';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CHART_DIR } from '../test/support/chart';
import { TEST_KEYS } from '../test/support/keys';
import { productionNodeFlags } from '../test/support/operator-process';
import {
  createNodeNamespace,
  helmOk,
  isReady,
  nodeInstallValues,
  operatorPods,
  RELEASE,
  startRealNode,
  statusBurst,
  stopRealNode,
} from '../test/support/real-node';
import { STATUS_CONFIGMAP } from '../test/support/status';
import { containerCgroupDir } from '../test/support/worker-node';

const NAMESPACE = 'kube9-bench-memory';
const INTERVAL_SECONDS = 10;
/** helm's time here, each command. */
const HELM_TIMEOUT_MS = 300_000;

const option = (name: string, fallback: string) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const LIMITS_MIB = option('limits', '256,128,96,80,64').split(',').map(Number);
const SECONDS = Number(option('seconds', '60'));
const CLIENTS = Number(option('clients', '32'));
const SOAK_MINUTES = Number(option('soak-minutes', '0'));
for (const [name, values] of Object.entries({ limits: LIMITS_MIB, seconds: [SECONDS], clients: [CLIENTS] })) {
  if (values.some((v) => !Number.isInteger(v) || v <= 0))
    throw new Error(`--${name} must be positive whole numbers (MiB for --limits), got ${option(name, '')}`);
}
if (!Number.isFinite(SOAK_MINUTES) || SOAK_MINUTES < 0) throw new Error('--soak-minutes must be 0 or more');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const MiB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

interface BurstResult {
  requests: number;
  failures: number;
  peakWorkingSet: number;
  peakUsage: number;
  peakRss: number;
  failcnt: number;
  restarts: number;
  lastTermination?: string;
}

async function main(): Promise<void> {
  const node = await startRealNode({
    intervalSeconds: INTERVAL_SECONDS,
    validKeys: [TEST_KEYS.chart, TEST_KEYS.upgrade],
    stopOnSignal: true,
  });
  const { cp, core, simulator } = node;
  // runHelm (test/support/kube.ts) finds helm and its home through these, as under Jest.
  process.env.KUBE9_TEST_HELM = cp.helmPath;
  process.env.KUBE9_TEST_CP_DIR = cp.dir;
  try {
    await createNodeNamespace(core, cp, NAMESPACE, { restricted: false });
    const slot = cp.node!.network.slot;

    const helm = (args: string[]) => helmOk(cp, args, HELM_TIMEOUT_MS);
    const install = (limitMiB: number, extra: string[] = []) =>
      helm([
        'upgrade',
        '--install',
        RELEASE,
        CHART_DIR,
        '-n',
        NAMESPACE,
        '--reuse-values',
        ...nodeInstallValues(cp, simulator.url, INTERVAL_SECONDS),
        '--set',
        `resources.requests.memory=${limitMiB}Mi`,
        '--set',
        `resources.limits.memory=${limitMiB}Mi`,
        ...extra,
        '--wait',
        '--timeout',
        '180s',
      ]);
    /** The one Ready pod of the release, once the rollout has settled. */
    const readyPod = async (): Promise<V1Pod> => {
      const until = Date.now() + 180_000;
      for (;;) {
        const pods = await operatorPods(core, NAMESPACE);
        const ready = pods.filter(isReady);
        if (pods.length === 1 && ready.length === 1) return ready[0];
        if (Date.now() > until) throw new Error(`no single Ready pod within 180 s (${pods.length} pods)`);
        await sleep(500);
      }
    };

    /**
     * The memory cgroup of the pod's running container. Read again from the pod while it is not
     * there yet: a container that has just been killed (OOM) leaves a stale ID in the pod's status
     * until the kubelet starts the next one (whose restart then counts against the limit).
     */
    const memoryCgroup = async (pod: V1Pod): Promise<{ pod: V1Pod; dir: string }> => {
      const until = Date.now() + 60_000;
      for (;;) {
        const containerId = pod.status?.containerStatuses?.[0]?.containerID;
        try {
          if (containerId) return { pod, dir: containerCgroupDir(slot, containerId, 'memory') };
        } catch (err) {
          if (Date.now() > until) throw err;
        }
        await sleep(1_000);
        pod = await core.readNamespacedPod({ name: pod.metadata!.name!, namespace: NAMESPACE });
      }
    };
    /** The container's restarts (as `pod`, just read, says) and its cgroup's failcnt now (-1 when the cgroup is gone). */
    const health = async (pod: V1Pod): Promise<{ restarts: number; failcnt: number }> => {
      const restarts = pod.status?.containerStatuses?.[0]?.restartCount ?? -1;
      try {
        const { dir } = await memoryCgroup(pod);
        return { restarts, failcnt: Number(fs.readFileSync(path.join(dir, 'memory.failcnt'), 'utf8').trim()) };
      } catch {
        return { restarts, failcnt: -1 };
      }
    };

    const burst = async (target: V1Pod, seconds: number): Promise<BurstResult> => {
      const { pod, dir: memory } = await memoryCgroup(target);
      const read = (name: string) => Number(fs.readFileSync(path.join(memory, name), 'utf8').trim());
      const inactiveFile = () =>
        Number(
          /^total_inactive_file (\d+)$/m.exec(fs.readFileSync(path.join(memory, 'memory.stat'), 'utf8'))?.[1] ?? 0,
        );
      const pids = () =>
        fs.readFileSync(path.join(memory, 'cgroup.procs'), 'utf8').trim().split('\n').filter(Boolean).map(Number);
      const rss = () =>
        pids().reduce((sum, pid) => {
          try {
            return (
              sum + Number(/^VmRSS:\s*(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024
            );
          } catch {
            return sum;
          }
        }, 0);
      let peakWorkingSet = 0;
      let peakRss = 0;
      const sample = () => {
        try {
          peakWorkingSet = Math.max(peakWorkingSet, read('memory.usage_in_bytes') - inactiveFile());
          peakRss = Math.max(peakRss, rss());
        } catch {
          // the container is gone (OOM-killed): seen below
        }
      };
      const sampler = setInterval(sample, 200);
      const { requests, failures } = await statusBurst(pod, CLIENTS, seconds, 100);
      clearInterval(sampler);
      sample();
      let peakUsage = 0;
      let failcnt = -1;
      try {
        peakUsage = read('memory.max_usage_in_bytes');
        failcnt = read('memory.failcnt');
      } catch {
        // the cgroup went with a killed container
      }
      await sleep(2_000);
      const now = await core.readNamespacedPod({ name: pod.metadata!.name!, namespace: NAMESPACE });
      const status = now.status?.containerStatuses?.[0];
      const terminated = status?.lastState?.terminated;
      return {
        requests,
        failures,
        peakWorkingSet,
        peakUsage,
        peakRss,
        failcnt,
        restarts: status?.restartCount ?? -1,
        lastTermination: terminated ? `${terminated.reason} (exit ${terminated.exitCode})` : undefined,
      };
    };
    const describe = (r: BurstResult) =>
      `${r.requests} answers (${(r.requests / SECONDS).toFixed(0)}/s), ${r.failures} failed; peak working set ${mib(r.peakWorkingSet)}, ` +
      `peak usage ${mib(r.peakUsage)}, peak RSS ${mib(r.peakRss)}; failcnt ${r.failcnt}, restarts ${r.restarts}` +
      (r.lastTermination ? `, last terminated ${r.lastTermination}` : '');
    const held = (r: BurstResult) => r.failures === 0 && r.failcnt === 0 && r.restarts === 0;

    console.log(
      `node flags (the image's CMD): ${productionNodeFlags().join(' ') || '(none)'}; ${CLIENTS} clients for ${SECONDS} s per limit`,
    );
    let smallest: number | undefined;
    for (const limit of [...LIMITS_MIB].sort((a, b) => b - a)) {
      try {
        await install(limit);
        const pod = await readyPod();
        await sleep(10_000);
        const result = await burst(pod, SECONDS);
        console.log(`limit ${limit} MiB: ${held(result) ? 'held' : 'FAILED'}: ${describe(result)}`);
        if (!held(result)) break;
        smallest = limit;
      } catch (err) {
        console.log(`limit ${limit} MiB: FAILED: ${(err as Error).message.split('\n')[0]}`);
        break;
      }
    }
    console.log(
      smallest === undefined
        ? 'no limit held'
        : `smallest limit that held: ${smallest} MiB (of ${LIMITS_MIB.join(', ')} MiB)`,
    );

    // The soak, from the smallest limit that held the burst upwards, until one holds it too: a
    // soak fails as soon as the container restarts or its cgroup's failcnt leaves 0.
    const soakAt = async (limit: number): Promise<boolean> => {
      let rotations = 0;
      const fail = (why: string) => {
        console.log(`pro soak at ${limit} MiB: FAILED after ${rotations} key rotations: ${why}`);
        return false;
      };
      await install(limit, ['--set', `apiKey=${TEST_KEYS.chart}`]);
      const registrationsBefore = simulator.requests.length;
      let pod = await readyPod();
      const first = await burst(pod, SECONDS);
      if (!held(first)) return fail(`first burst: ${describe(first)}`);
      const until = Date.now() + SOAK_MINUTES * 60_000;
      while (Date.now() < until) {
        await sleep(30_000);
        const key = rotations % 2 === 0 ? TEST_KEYS.upgrade : TEST_KEYS.chart;
        await install(limit, ['--set', `apiKey=${key}`]);
        rotations++;
        pod = await readyPod();
        const now = await health(pod);
        if (now.restarts !== 0 || now.failcnt !== 0)
          return fail(`restarts ${now.restarts}, failcnt ${now.failcnt} (-1: cgroup gone)`);
      }
      const last = await burst(pod, SECONDS);
      const cm = await core.readNamespacedConfigMap({ name: STATUS_CONFIGMAP, namespace: NAMESPACE });
      const doc = JSON.parse(cm.data!.status) as { tier: string; health: string; error: string | null };
      // Memory and tier decide. A key rotation every 30 s asks for 20 registrations in 10 minutes;
      // the operator keeps to its budget of 10 an hour (SPEC section 3), so after that its status
      // says, rightly, that the registration of the newest key is pending (pro, degraded).
      const ok = held(last) && doc.tier === 'pro';
      console.log(
        `pro soak of ${SOAK_MINUTES} min at ${limit} MiB: ${ok ? 'held' : 'FAILED'}; ${rotations} key rotations, ` +
          `${simulator.requests.length - registrationsBefore} requests to kube9-server; status ${doc.tier}/${doc.health}${doc.error ? ` (${doc.error})` : ''}\n` +
          `  first burst: ${describe(first)}\n  last burst: ${describe(last)}`,
      );
      return ok;
    };
    if (SOAK_MINUTES > 0 && smallest !== undefined) {
      const candidates = LIMITS_MIB.filter((limit) => limit >= smallest).sort((a, b) => a - b);
      let soaked: number | undefined;
      for (const limit of candidates) {
        if (await soakAt(limit)) {
          soaked = limit;
          break;
        }
      }
      console.log(
        soaked === undefined
          ? `no limit of ${candidates.join(', ')} MiB held the ${SOAK_MINUTES}-minute pro soak`
          : `smallest limit that held the burst and the ${SOAK_MINUTES}-minute pro soak: ${soaked} MiB`,
      );
    }
  } finally {
    await stopRealNode(node);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
