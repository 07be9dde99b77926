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
import { CoreV1Api, KubeConfig, V1Pod } from '@kubernetes/client-node';
import { CHART_DIR } from '../test/support/chart';
import { startControlPlane } from '../test/support/control-plane';
import { runHelm } from '../test/support/kube';
import { TEST_KEYS } from '../test/support/keys';
import { ServerSimulator } from '../test/support/server-simulator';
import { STATUS_CONFIGMAP } from '../test/support/status';
import { createPullSecret, registryImageArgs } from '../test/support/registry-install';

const RELEASE = 'kube9-operator';
const NAMESPACE = 'kube9-bench-install';
const SELECTOR = `app.kubernetes.io/name=kube9-operator,app.kubernetes.io/instance=${RELEASE}`;
const at = process.argv.indexOf('--runs');
const RUNS = at > 0 ? Number(process.argv[at + 1]) : 5;
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs must be a whole number of 1 or more`);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const cp = await startControlPlane({ withNode: true, startTimeoutMs: 1_500_000 });
  // runHelm (test/support/kube.ts) finds helm and its home through these, as under Jest.
  process.env.KUBE9_TEST_HELM = cp.helmPath;
  process.env.KUBE9_TEST_CP_DIR = cp.dir;
  const simulator = new ServerSimulator({
    host: cp.node!.network.hostIp,
    validKeys: [TEST_KEYS.chart],
    configuration: { statusUpdateIntervalSeconds: 60, reregistrationIntervalHours: 24 },
  });
  try {
    await simulator.start();
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    await createPullSecret(core, cp, NAMESPACE);
    const helm = async (args: string[]) => {
      const result = await runHelm(args, { kubeconfig: cp.kubeconfigPath, timeoutMs: 300_000 });
      if (result.code !== 0) throw new Error(`helm ${args.slice(0, 2).join(' ')} failed: ${result.stderr}`);
    };
    const status = async () => {
      const cm = await core
        .readNamespacedConfigMap({ name: STATUS_CONFIGMAP, namespace: NAMESPACE })
        .catch(() => undefined);
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
      const list = await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: SELECTOR });
      return list.items.find((p) => !p.metadata?.deletionTimestamp)!;
    };

    const installs: number[] = [];
    const upgrades: number[] = [];
    const steps: Record<string, number[]> = {};
    for (let run = 0; run < RUNS; run++) {
      const t0 = Date.now();
      await helm([
        'install',
        RELEASE,
        CHART_DIR,
        '-n',
        NAMESPACE,
        ...registryImageArgs(cp),
        '--set',
        `serverUrl=${simulator.url}`,
        '--set',
        'allowInsecureServerUrl=true',
      ]);
      const returned = Date.now();
      await until('operated/free', async () => {
        const s = await status();
        return s?.mode === 'operated' && s.tier === 'free';
      });
      installs.push(Date.now() - returned);
      // Where the time went, from the pod's record (whole seconds) and the document's lastUpdate (ms).
      await until('the pod Ready', async () => {
        const p = await operatorPod();
        return !!p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
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
      await helm([
        'upgrade',
        RELEASE,
        CHART_DIR,
        '-n',
        NAMESPACE,
        '--reuse-values',
        '--set',
        `apiKey=${TEST_KEYS.chart}`,
      ]);
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
    await simulator.stop();
    await cp.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
