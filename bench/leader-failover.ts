/*
 * Failover figures of leader election (SPEC section 9) on the real control plane (etcd +
 * kube-apiserver), status interval 10 s, medians over --runs runs (default 5). Each run uses a
 * fresh namespace and two or three replicas (admin credentials: this measures time, the RBAC is
 * the e2e tests' business):
 *   - SIGKILL of the leader: kill -> new Lease holder, and the largest gap between consecutive
 *     status lastUpdate values around it
 *   - SIGTERM of the leader: signal -> the successor's first status write
 *   - API server away 20 s: API server back -> first status write; any replica that exited
 * Prints figures; asserts nothing.   npm run bench:failover [-- --runs 5]
 */
import { CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { ControlPlane, startControlPlane } from '../test/support/control-plane';
import { OperatorProcess, startOperator } from '../test/support/operator-process';

const INTERVAL_SECONDS = 10;
const at = process.argv.indexOf('--runs');
const RUNS = at > 0 ? Number(process.argv[at + 1]) : 5;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function until<T>(probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

async function run(controlPlane: ControlPlane, index: number) {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(controlPlane.kubeconfigPath);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const coordination = kubeConfig.makeApiClient(CoordinationV1Api);
  const namespace = `bench-failover-${index}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const replicas = new Map<string, OperatorProcess>();
  let started = 0;
  const add = async () => {
    const name = `r${index}-${started++}`;
    replicas.set(
      name,
      await startOperator({
        KUBECONFIG: controlPlane.kubeconfigPath,
        OPERATOR_NAMESPACE: namespace,
        STATUS_UPDATE_INTERVAL_SECONDS: String(INTERVAL_SECONDS),
        LEADER_ELECTION: 'true',
        POD_NAME: name,
      }),
    );
  };
  const holder = async () =>
    (await coordination.readNamespacedLease({ name: 'kube9-operator-leader', namespace })).spec?.holderIdentity ||
    undefined;
  const lastUpdate = async () => {
    const configMap = await core.readNamespacedConfigMap({ name: 'kube9-operator-status', namespace });
    return Date.parse((JSON.parse(configMap.data!.status) as { lastUpdate: string }).lastUpdate);
  };
  try {
    await add();
    await add();
    const first = await until(holder, 20_000);
    await until(lastUpdate, 10_000);
    await sleep(3_000);

    // SIGKILL
    const updates: number[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const seen = await lastUpdate().catch(() => undefined);
        if (seen !== undefined && updates.at(-1) !== seen) updates.push(seen);
        await sleep(100);
      }
    })();
    await sleep(INTERVAL_SECONDS * 1000);
    const killedAt = Date.now();
    await replicas.get(first)!.stop('SIGKILL');
    const second = await until(async () => {
      const now = await holder();
      return now && now !== first ? now : undefined;
    }, 40_000);
    const takeoverMs = Date.now() - killedAt;
    await until(async () => (updates.some((u) => u > killedAt) ? true : undefined), 20_000);
    watching = false;
    await watcher;
    const gapMs = Math.max(...updates.slice(1).map((u, i) => u - updates[i]));

    // SIGTERM
    await add();
    await sleep(3_000);
    const termAt = Date.now();
    await replicas.get(second)!.stop('SIGTERM');
    await until(
      async () => {
        const now = await holder();
        return now && now !== second && (await lastUpdate()) > termAt ? true : undefined;
      },
      20_000,
      50,
    );
    const gracefulMs = Date.now() - termAt;

    // API server away 20 s
    const alive = [...replicas.values()].filter((p) => p.child.exitCode === null && p.child.signalCode === null);
    await controlPlane.stopApiServer();
    await sleep(20_000);
    await controlPlane.startApiServer();
    const upAt = Date.now();
    await until(async () => ((await lastUpdate()) > upAt ? true : undefined), 60_000, 100);
    const outageMs = Date.now() - upAt;
    const exited = alive.filter((p) => p.child.exitCode !== null || p.child.signalCode !== null).length;
    return { takeoverMs, gapMs, gracefulMs, outageMs, exited };
  } finally {
    for (const replica of replicas.values()) await replica.stop('SIGKILL').catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const controlPlane = await startControlPlane({ withControllerManager: false });
  try {
    const results: Awaited<ReturnType<typeof run>>[] = [];
    for (let i = 0; i < RUNS; i += 1) {
      const result = await run(controlPlane, i);
      results.push(result);
      console.log(
        `run ${i + 1}: SIGKILL takeover ${result.takeoverMs} ms, largest lastUpdate gap ${result.gapMs} ms; ` +
          `SIGTERM -> successor's write ${result.gracefulMs} ms; API server back -> status ${result.outageMs} ms; exited during outage ${result.exited}`,
      );
    }
    const m = (key: 'takeoverMs' | 'gapMs' | 'gracefulMs' | 'outageMs') => median(results.map((r) => r[key]));
    console.log(
      `medians over ${RUNS} runs (lease 15 s, retry 2 s, interval ${INTERVAL_SECONDS} s): SIGKILL takeover ${m('takeoverMs')} ms, ` +
        `largest lastUpdate gap ${m('gapMs')} ms; SIGTERM -> successor's write ${m('gracefulMs')} ms; ` +
        `API server back -> status ${m('outageMs')} ms; replicas exited during outages ${results.reduce((n, r) => n + r.exited, 0)}`,
    );
  } finally {
    await controlPlane.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
