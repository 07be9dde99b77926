/*
 * The time until the extension sees the tier (issue 20), as a user meets it,
 * on the real worker node, the operator image pulled from the test registry
 * with a pull Secret (the first run pulls it; later runs find it on the node,
 * pullPolicy IfNotPresent): from `helm install` returning (no --wait) to the status ConfigMap
 * saying operated/free, and from `helm upgrade --reuse-values --set apiKey=…`
 * returning to it saying enabled/pro (registered). Each run starts from
 * nothing (`helm uninstall --wait`, the ConfigMaps gone). Medians of --runs,
 * and where the install's time goes, from the pod's own record (1 s
 * resolution): created -> scheduled (kube-scheduler) -> sandbox ready
 * (kubelet + containerd: cgroups, pause container, CNI) -> container started
 * (containerd + runc) -> first status write (the operator's start-up) -> Ready
 * (the kubelet's readiness probe).
 *   npm run bench:install [-- --runs 5]
 * Prints figures; asserts nothing.
 *
 * Measured 2026-12-04 on the shared 2-core machine: install -> operated/free
 * median 2.41 s of 5 (2.18 to 2.69 s), upgrade --set apiKey -> enabled/pro 0.33 s
 * (0.20 to 0.41 s); of the install, about 1 s is the sandbox (kubelet, containerd,
 * CNI) and the rest the operator's start-up to its first write; the pod turns
 * Ready about 11 s after its start (the readiness probe's initial delay of 5 s and
 * period of 10 s), which the ConfigMap the extension reads does not wait for.
 */
import type { V1Pod } from '@kubernetes/client-node';
import {
  apiKeyUpgradeArgs,
  createNodeNamespace,
  helmOk,
  isReady,
  nodeInstallArgs,
  RELEASE,
  RELEASE_SELECTOR,
  startRealNode,
  stopRealNode,
} from '../test/support/real-node';
import { readConfigMap, STATUS_CONFIGMAP } from '../test/support/status';

const NAMESPACE = 'kube9-bench-install';
/** helm's time here, each command. */
const HELM_TIMEOUT_MS = 300_000;
const at = process.argv.indexOf('--runs');
const RUNS = at > 0 ? Number(process.argv[at + 1]) : 5;
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs must be a whole number of 1 or more`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const node = await startRealNode({ intervalSeconds: 60 });
  const { cp, core, simulator } = node;
  // runHelm (test/support/kube.ts) finds helm and its home through these, as under Jest.
  process.env.KUBE9_TEST_HELM = cp.helmPath;
  process.env.KUBE9_TEST_CP_DIR = cp.dir;
  try {
    await createNodeNamespace(core, cp, NAMESPACE, { restricted: false });
    const helm = (args: string[]) => helmOk(cp, args, HELM_TIMEOUT_MS);
    const status = async () => {
      const cm = await readConfigMap(NAMESPACE, STATUS_CONFIGMAP, core).catch(() => undefined);
      return cm?.data?.status
        ? (JSON.parse(cm.data.status) as { mode: string; tier: string; registered: boolean; lastUpdate: string })
        : undefined;
    };
    const until = async (what: string, ok: () => Promise<boolean>) => {
      const deadline = Date.now() + 180_000;
      while (!(await ok())) {
        if (Date.now() > deadline) throw new Error(`${what} not within 180 s`);
        await sleep(50);
      }
    };
    const operatorPod = async (): Promise<V1Pod> => {
      const list = await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: RELEASE_SELECTOR });
      return list.items.find((p) => !p.metadata?.deletionTimestamp)!;
    };

    const installs: number[] = [];
    const upgrades: number[] = [];
    const steps: Record<string, number[]> = {};
    for (let run = 0; run < RUNS; run++) {
      const t0 = Date.now();
      await helm(nodeInstallArgs(cp, NAMESPACE, simulator.url));
      const returned = Date.now();
      await until('operated/free', async () => {
        const s = await status();
        return s?.mode === 'operated' && s.tier === 'free';
      });
      installs.push(Date.now() - returned);
      // Where the time went, from the pod's record (whole seconds) and the document's lastUpdate (ms).
      await until('the pod Ready', async () => {
        const p = await operatorPod();
        return !!p && isReady(p);
      });
      const pod = await operatorPod();
      const when = (type: string) =>
        Date.parse(String(pod.status!.conditions!.find((c) => c.type === type)!.lastTransitionTime));
      const created = Date.parse(String(pod.metadata!.creationTimestamp));
      const started = Date.parse(String(pod.status!.containerStatuses![0].state!.running!.startedAt));
      const firstWrite = Date.parse((await status())!.lastUpdate);
      const took = (name: string, ms: number) => (steps[name] ??= []).push(ms);
      took('helm install returned -> pod created', created - returned);
      took('pod created -> scheduled', when('PodScheduled') - created);
      took('scheduled -> sandbox ready', when('PodReadyToStartContainers') - when('PodScheduled'));
      took('sandbox ready -> container started', started - when('PodReadyToStartContainers'));
      took('container started -> first status write', firstWrite - started);
      took('container started -> Ready', when('Ready') - started);
      took('helm install (the command)', returned - t0);

      const u0 = Date.now();
      await helm(apiKeyUpgradeArgs(NAMESPACE));
      const upgraded = Date.now();
      await until('enabled/pro', async () => {
        const s = await status();
        return s?.mode === 'enabled' && s.tier === 'pro' && s.registered;
      });
      upgrades.push(Date.now() - upgraded);
      took('helm upgrade (the command)', upgraded - u0);

      await helm(['uninstall', RELEASE, '-n', NAMESPACE, '--wait', '--timeout', '120s']);
      await until('the status ConfigMap gone', async () => (await status()) === undefined);
      console.log(
        `run ${run + 1}: install -> operated/free ${seconds(installs.at(-1)!)}, upgrade --set apiKey -> enabled/pro ${seconds(upgrades.at(-1)!)}`,
      );
    }
    console.log(
      `median of ${RUNS}, image on the node: helm install returned -> operated/free ${seconds(median(installs))} ` +
        `(${installs.map(seconds).join(', ')}); helm upgrade --set apiKey returned -> enabled/pro ${seconds(median(upgrades))} ` +
        `(${upgrades.map(seconds).join(', ')})`,
    );
    for (const [name, values] of Object.entries(steps)) console.log(`  ${name}: median ${seconds(median(values))}`);
  } finally {
    await stopRealNode(node);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
