/*
 * The operator's footprint on the real control plane (etcd + kube-apiserver,
 * no controller-manager, so that nothing else writes ConfigMaps):
 *   - start of the process to the first status ConfigMap write: the moment the API server has
 *     stored it, as a watch opened before the start sees it (median of runs)
 *   - resident memory (VmRSS) after 60 s idle in the free tier (median of as many
 *     operators, run side by side in their own namespaces), against a bare
 *     Node 22 process measured in the same run
 *   - Kubernetes API requests per status interval in the steady state, from the
 *     API server's own apiserver_request_total counters
 *   - a burst of GET /api/v1/status for --burst seconds: peak RSS, and RSS each
 *     10 s for 60 s after it
 *   - with --sample-minutes N: one idle operator for N minutes, sampled each
 *     minute (VmRSS, RssAnon, RssFile, and V8's heap after the latest full GC
 *     from --trace-gc), to show what grows and whether it levels off
 * With --builds a,b (built dist directories, default `dist`) every figure is taken for each
 * build in the same run, the start-ups interleaved and the idle operators side by side, so that
 * a before/after comparison sees the same machine load.
 * Prints figures; asserts nothing.
 *   npm run bench:footprint [-- --runs 5 --idle 60 --burst 30 --sample-minutes 0 --node-flags "..." --builds dist]
 */
import { CoreV1Api, KubeConfig, V1ConfigMap, Watch } from '@kubernetes/client-node';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { ControlPlane, startControlPlane } from '../test/support/control-plane';
import { PRODUCTION_ENTRY, productionNodeFlags, startOperator } from '../test/support/operator-process';

const NAMESPACE = 'kube9-system';
const INTERVAL_SECONDS = 10;
const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};
const RUNS = arg('runs', 5);
const flagsAt = process.argv.indexOf('--node-flags');
// The image's flags unless given (`--node-flags ''` for none).
const NODE_FLAGS = flagsAt > 0 ? process.argv[flagsAt + 1].split(' ').filter(Boolean) : productionNodeFlags();
const IDLE_SECONDS = arg('idle', 60);
const BURST_SECONDS = arg('burst', 30);
const SAMPLE_MINUTES = arg('sample-minutes', 0);
const buildsAt = process.argv.indexOf('--builds');
/**
 * Each build's entry point, by its directory as given: the image's (code-cache-loader.js), or, in
 * a build from before it had that name, main.js, which was then that loader.
 */
const BUILDS = (buildsAt > 0 ? process.argv[buildsAt + 1] : 'dist')
  .split(',')
  .filter(Boolean)
  .map((directory) => {
    const entry = path.resolve(directory, path.basename(PRODUCTION_ENTRY));
    return { label: directory, entry: existsSync(entry) ? entry : path.resolve(directory, 'main.js') };
  });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function procStatusMiB(pid: number, field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`))!;
  return Number(line.replace(/\D+/g, '')) / 1024;
}

function rssMiB(pid: number): number {
  return procStatusMiB(pid, 'VmRSS');
}

/** V8's heap after the latest Mark-Compact in --trace-gc output ("Mark-Compact 29.1 (31.0) -> 28.9 (31.0) MB"). */
function heapAfterFullGc(output: string): string {
  const lines = output.split('\n').filter((line) => line.includes('Mark-Compact'));
  const match = /-> ([\d.]+) \(([\d.]+)\) MB/.exec(lines[lines.length - 1] ?? '');
  return match ? `${match[1]} MB used (${match[2]} MB committed), ${lines.length} full GCs` : 'no full GC yet';
}

/** GET /api/v1/status as fast as `concurrency` keep-alive loops can for `seconds`; the number of answers. */
async function burst(baseUrl: string, seconds: number, concurrency = 16): Promise<number> {
  const until = Date.now() + seconds * 1000;
  let answers = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        const response = await fetch(`${baseUrl}/api/v1/status`);
        await response.arrayBuffer();
        answers += 1;
      }
    }),
  );
  return answers;
}

/** apiserver_request_total summed by resource and verb (long-running WATCH counted when opened). */
async function requestCounters(controlPlane: ControlPlane): Promise<Map<string, number>> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(controlPlane.kubeconfigPath);
  const user = kubeConfig.getCurrentUser()!;
  const cluster = kubeConfig.getCurrentCluster()!;
  const text = await new Promise<string>((resolve, reject) => {
    const request = https.get(
      `${cluster.server}/metrics`,
      {
        ca: Buffer.from(cluster.caData!, 'base64'),
        cert: Buffer.from(user.certData!, 'base64'),
        key: Buffer.from(user.keyData!, 'base64'),
      },
      (response) => {
        let body = '';
        response.on('data', (chunk) => (body += chunk));
        response.on('end', () => resolve(body));
      },
    );
    request.on('error', reject);
  });
  const counters = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const resource = /resource="([^"]*)"/.exec(line)?.[1] ?? '';
    const verb = /verb="([^"]*)"/.exec(line)?.[1] ?? '';
    if (!['configmaps', 'secrets', 'events', 'nodes', 'deployments'].includes(resource)) continue;
    const key = `${verb} ${resource}`;
    counters.set(key, (counters.get(key) ?? 0) + Number(line.split(' ').pop()));
  }
  return counters;
}

/**
 * The time the API server stored the ConfigMap `name`: a watch opened before the operator starts
 * sees its ADDED event (stored, then sent; the delay of that sending is counted, in the
 * operator's disfavour). `ready` resolves once the watch is open.
 */
function storedAt(kubeConfig: KubeConfig, namespace: string, name: string) {
  let opened: Promise<{ abort: () => void }>;
  const at = new Promise<number>((resolve, reject) => {
    opened = new Watch(kubeConfig).watch(
      `/api/v1/namespaces/${namespace}/configmaps`,
      { fieldSelector: `metadata.name=${name}` },
      (type: string, object: V1ConfigMap) => {
        if (type === 'ADDED' && object.metadata?.name === name) resolve(Date.now());
      },
      (error: unknown) => {
        if (error) reject(error instanceof Error ? error : new Error('the watch ended with an error'));
      },
    );
  });
  at.catch(() => undefined);
  return {
    at,
    ready: opened!,
    stop: () => void opened.then((request) => request.abort()),
  };
}

async function bareNodeRss(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  await sleep(3_000);
  const rss = rssMiB(child.pid!);
  child.kill();
  return rss;
}

async function main(): Promise<void> {
  const controlPlane = await startControlPlane({ withControllerManager: false });
  try {
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(controlPlane.kubeconfigPath);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    const env = {
      KUBECONFIG: controlPlane.kubeconfigPath,
      OPERATOR_NAMESPACE: NAMESPACE,
      STATUS_UPDATE_INTERVAL_SECONDS: String(INTERVAL_SECONDS),
    };

    const startups = new Map<string, number[]>(BUILDS.map((build) => [build.label, []]));
    for (let run = 0; run < RUNS; run++) {
      for (const build of BUILDS) {
        await core
          .deleteNamespacedConfigMap({ name: 'kube9-operator-status', namespace: NAMESPACE })
          .catch(() => undefined);
        const stored = storedAt(kubeConfig, NAMESPACE, 'kube9-operator-status');
        await stored.ready;
        const spawnedAtWall = Date.now();
        const operator = await startOperator(env, NODE_FLAGS, build.entry);
        const storedAtWall = await Promise.race([
          stored.at,
          operator.exited.then(() => {
            throw new Error(`the operator exited before its first write:\n${operator.output()}`);
          }),
          sleep(30_000).then(() => {
            throw new Error('no status ConfigMap within 30 s of the start');
          }),
        ]).finally(() => stored.stop());
        startups.get(build.label)!.push(storedAtWall - spawnedAtWall);
        await operator.stop();
      }
    }
    for (const [label, runs] of startups)
      console.log(
        `[${label}] start of process -> status ConfigMap stored by the API server: median ${median(runs).toFixed(0)} ms over ${RUNS} runs (${runs.map((ms) => ms.toFixed(0)).join(', ')} ms)`,
      );

    const baseline = await bareNodeRss();
    // Idle operators side by side, each in its own namespace; requests are counted for all.
    const idleRuns: { label: string; env: Record<string, string>; entry: string }[] = [];
    for (let run = 0; run < RUNS; run++) {
      for (const build of BUILDS) {
        const namespace = `${NAMESPACE}-${idleRuns.length + 1}`;
        await core.createNamespace({ body: { metadata: { name: namespace } } }).catch(() => undefined);
        idleRuns.push({ label: build.label, env: { ...env, OPERATOR_NAMESPACE: namespace }, entry: build.entry });
      }
    }
    const idle = await Promise.all(idleRuns.map((run) => startOperator(run.env, NODE_FLAGS, run.entry)));
    await sleep(Math.max(0, IDLE_SECONDS * 1000 - 3 * INTERVAL_SECONDS * 1000 - 500));
    const before = await requestCounters(controlPlane);
    await sleep(3 * INTERVAL_SECONDS * 1000);
    const after = await requestCounters(controlPlane);
    const rss = idle.map((operator) => rssMiB(operator.child.pid!));
    await Promise.all(idle.map((operator) => operator.stop()));

    for (const build of BUILDS) {
      const own = rss.filter((_, index) => idleRuns[index].label === build.label);
      console.log(
        `[${build.label}] resident memory after ${IDLE_SECONDS} s idle (free tier): median ${median(own).toFixed(1)} MiB of ${own.length} (${own.map((m) => m.toFixed(1)).join(', ')}); bare Node ${process.version}: ${baseline.toFixed(1)} MiB (ratio ${(median(own) / baseline).toFixed(2)})`,
      );
    }
    const deltas = [...after]
      .map(([key, value]) => [key, value - (before.get(key) ?? 0)] as const)
      .filter(([, delta]) => delta > 0);
    const total = deltas.reduce((sum, [, delta]) => sum + delta, 0) / idle.length;
    console.log(
      `Kubernetes API requests over 3 intervals of ${INTERVAL_SECONDS} s, per operator: ${total} (${(total / 3).toFixed(2)} per interval): ${deltas.map(([key, delta]) => `${key}=${delta}`).join(', ') || 'none'} (all ${idle.length})`,
    );

    for (const build of BURST_SECONDS > 0 ? BUILDS : []) {
      const operator = await startOperator(env, NODE_FLAGS, build.entry);
      await sleep(10_000);
      const startRss = rssMiB(operator.child.pid!);
      let peak = startRss;
      const watcher = setInterval(() => (peak = Math.max(peak, rssMiB(operator.child.pid!))), 250);
      const answers = await burst(operator.baseUrl, BURST_SECONDS);
      clearInterval(watcher);
      const afterBurst: string[] = [];
      for (let second = 10; second <= 60; second += 10) {
        await sleep(10_000);
        afterBurst.push(`${second} s: ${rssMiB(operator.child.pid!).toFixed(1)}`);
      }
      await operator.stop();
      console.log(
        `[${build.label}] burst of ${BURST_SECONDS} s (${answers} answers, ${(answers / BURST_SECONDS).toFixed(0)}/s): RSS ${startRss.toFixed(1)} MiB before, peak ${peak.toFixed(1)} MiB; after it (MiB) ${afterBurst.join(', ')}`,
      );
    }

    if (SAMPLE_MINUTES > 0) {
      // The operator's code cache is keyed by the V8 flags: one short run with --trace-gc warms it,
      // so the sampled run starts as a production one does (a warm cache), not cold.
      const flags = [...NODE_FLAGS, '--trace-gc'];
      const warmUp = await startOperator(env, flags, BUILDS[0].entry);
      await sleep(5_000);
      await warmUp.stop();
      const operator = await startOperator(env, flags, BUILDS[0].entry);
      const pid = operator.child.pid!;
      for (let minute = 0; minute <= SAMPLE_MINUTES; minute++) {
        if (minute > 0) await sleep(60_000);
        const figures = ['VmRSS', 'RssAnon', 'RssFile']
          .map((field) => `${field} ${procStatusMiB(pid, field).toFixed(1)}`)
          .join(', ');
        console.log(
          `idle minute ${String(minute).padStart(2)}: ${figures} MiB; V8 heap after the latest full GC: ${heapAfterFullGc(operator.output())}`,
        );
      }
      await operator.stop();
    }
    console.log(
      `node flags: ${NODE_FLAGS.join(' ') || '(none)'}; operators: ${BUILDS.map((build) => build.entry).join(', ')}`,
    );
  } finally {
    await controlPlane.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
