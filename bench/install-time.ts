/*
 * The time until the extension sees the tier (issue 20), as a user meets it,
 * on the real worker node: the chart installed from the test registry
 * (`helm install oci://…/kube9-operator --version …`, with its credentials and
 * CA), the operator image pulled from that registry by the kubelet with a pull
 * Secret. Each run measures two installs, each from nothing (`helm uninstall
 * --wait`, the ConfigMaps gone):
 *   - image pulled: the operator image first taken off the node (`ctr images
 *     rm --sync` of every image name the node did not have before the first
 *     install: the tag, the digest reference and the runtime's image ID, so
 *     that containerd's GC drops the content too), so the kubelet pulls it;
 *   - image on the node: the image the first install pulled (IfNotPresent);
 * each from `helm install` returning (no --wait) to the status ConfigMap saying
 * operated/free; after the second, from `helm upgrade --reuse-values --set
 * apiKey=…` returning to it saying enabled/pro (registered). Medians of --runs,
 * the kubelet's own pull time (its Pulled event), and where the install's time
 * goes, from the pod's own record (1 s resolution): created -> scheduled
 * (kube-scheduler) -> sandbox ready (kubelet + containerd: cgroups, pause
 * container, CNI) -> container started (containerd + runc, and the pull) ->
 * first status write (the operator's start-up) -> Ready (the kubelet's probes).
 *
 * Then the kube9 extension's path (its "Install operator" button): the chart
 * from the classic chart repository (`helm repo add kube9 … --ca-file`), no
 * values at all, the image pulled anonymously from the ghcr.io stand-in:
 * `helm install kube9-operator kube9/kube9-operator -n kube9-system
 * --create-namespace --wait --timeout 5m`, from its start to its return and to
 * the status ConfigMap saying operated/free; image pulled and already on the
 * node, and on the node with the CPU limit of before (200m) for comparison,
 * with a 5 s burst of GET /api/v1/status from 8 clients for each CPU setting.
 *   npm run bench:install [-- --runs 5] [--extension-only]
 * Prints figures; asserts nothing. The figures are in bench/README.md.
 */
import type { V1Pod } from '@kubernetes/client-node';
import * as path from 'node:path';
import { runHelm } from '../test/support/kube';
import {
  apiKeyUpgradeArgs,
  createNodeNamespace,
  helmOk,
  isReady,
  nodeInstallValues,
  RELEASE,
  RELEASE_SELECTOR,
  releasedChart,
  startRealNode,
  statusBurst,
  stopRealNode,
} from '../test/support/real-node';
import { readConfigMap, STATUS_CONFIGMAP } from '../test/support/status';

const NAMESPACE = 'kube9-bench-install';
/** helm's time here, each command. */
const HELM_TIMEOUT_MS = 300_000;
const at = process.argv.indexOf('--runs');
const RUNS = at > 0 ? Number(process.argv[at + 1]) : 5;
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs must be a whole number of 1 or more`);
/** --extension-only: only the extension's path (below), not the oci:// installs. */
const ONLY_EXTENSION = process.argv.includes('--extension-only');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const node = await startRealNode({ intervalSeconds: 60, stopOnSignal: true, publicRegistry: true });
  const { cp, core, simulator } = node;
  // runHelm (test/support/kube.ts) finds helm and its home through these, as under Jest.
  process.env.KUBE9_TEST_HELM = cp.helmPath;
  process.env.KUBE9_TEST_CP_DIR = cp.dir;
  try {
    await createNodeNamespace(core, cp, NAMESPACE, { restricted: false });
    const helm = (args: string[]) => helmOk(cp, args, HELM_TIMEOUT_MS);
    const status = async (namespace = NAMESPACE) => {
      const cm = await readConfigMap(namespace, STATUS_CONFIGMAP, core).catch(() => undefined);
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
    /** The status document, waiting out a read that fails while the API server is busy. */
    const statusNow = async (namespace = NAMESPACE) => {
      let seen: Awaited<ReturnType<typeof status>>;
      await until('the status document', async () => (seen = await status(namespace)) !== undefined);
      return seen!;
    };
    const operatorPod = async (namespace = NAMESPACE): Promise<V1Pod> => {
      const list = await core.listNamespacedPod({ namespace, labelSelector: RELEASE_SELECTOR });
      return list.items.find((p) => !p.metadata?.deletionTimestamp)!;
    };

    // What is on the node before the operator ever ran there (the stand-in pause and busybox
    // images): every other image name, after an install, is the operator's (its tag, its digest
    // reference, and the image ID the kubelet's runtime adds as a name of its own).
    const imageNames = async () => (await cp.node!.ctr(['images', 'ls', '-q'])).split('\n').filter(Boolean);
    const baseline = new Set(await imageNames());
    /** Takes the operator image off the node (every name it has there, so that containerd's GC drops its content). */
    const forgetImage = async () => {
      // Its unpacked layers go only once no container of an earlier pod uses them: the kubelet's
      // container GC removes those of deleted pods within about a minute.
      const deadline = Date.now() + 180_000;
      // `ctr containers ls`: a header, then CONTAINER IMAGE RUNTIME per line.
      const operatorContainers = async () =>
        (await cp.node!.ctr(['containers', 'ls']))
          .split('\n')
          .slice(1)
          .map((line) => line.split(/\s+/)[1])
          .filter((image) => image && !baseline.has(image));
      while ((await operatorContainers()).length) {
        if (Date.now() > deadline) throw new Error('the containers of the last pod were not removed within 180 s');
        await sleep(1_000);
      }
      const names = (await imageNames()).filter((name) => !baseline.has(name));
      if (names.length) await cp.node!.ctr(['images', 'rm', '--sync', ...names]);
      const left = (await imageNames()).filter((name) => !baseline.has(name));
      if (left.length) throw new Error(`the operator image is still on the node as ${left.join(', ')}`);
    };
    /** The kubelet's own account of the pull: "Successfully pulled image … in 1.234s (…)", in ms. */
    const pullMs = async (pod: V1Pod) => {
      const events = await core.listNamespacedEvent({
        namespace: NAMESPACE,
        fieldSelector: `involvedObject.uid=${pod.metadata!.uid},reason=Pulled`,
      });
      const said = /in ([\d.]+)(m?s) /.exec(events.items.map((e) => e.message ?? '').join(' '));
      return said ? Number(said[1]) * (said[2] === 'ms' ? 1 : 1000) : undefined;
    };

    type Case = 'pulled' | 'on the node';
    const installs: Record<Case, number[]> = { pulled: [], 'on the node': [] };
    const upgrades: number[] = [];
    const pulls: number[] = [];
    const steps: Record<string, number[]> = {};
    const took = (name: string, ms: number) => (steps[name] ??= []).push(ms);
    const once = async (run: number, image: Case) => {
      if (image === 'pulled') await forgetImage();
      const t0 = Date.now();
      await helm(['install', RELEASE, ...releasedChart(cp), '-n', NAMESPACE, ...nodeInstallValues(cp, simulator.url)]);
      const returned = Date.now();
      await until('operated/free', async () => {
        const s = await status();
        return s?.mode === 'operated' && s.tier === 'free';
      });
      installs[image].push(Date.now() - returned);
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
      const firstWrite = Date.parse((await statusNow()).lastUpdate);
      const step = (name: string, ms: number) => took(`${image}: ${name}`, ms);
      step('helm install (the command, the chart pulled from oci://)', returned - t0);
      step('helm install returned -> pod created', created - returned);
      step('pod created -> scheduled', when('PodScheduled') - created);
      step('scheduled -> sandbox ready', when('PodReadyToStartContainers') - when('PodScheduled'));
      step('sandbox ready -> container started (pull included)', started - when('PodReadyToStartContainers'));
      step('container started -> first status write', firstWrite - started);
      step('container started -> Ready', when('Ready') - started);
      let pulled: number | undefined;
      if (image === 'pulled') {
        pulled = await pullMs(pod);
        if (pulled === undefined) throw new Error('the kubelet reported no pull of the operator image');
        pulls.push(pulled);
      }

      let upgraded = '';
      if (image === 'on the node') {
        const u0 = Date.now();
        await helm(apiKeyUpgradeArgs(NAMESPACE, releasedChart(cp)));
        const returnedAt = Date.now();
        await until('enabled/pro', async () => {
          const s = await status();
          return s?.mode === 'enabled' && s.tier === 'pro' && s.registered;
        });
        upgrades.push(Date.now() - returnedAt);
        took('helm upgrade (the command)', returnedAt - u0);
        upgraded = `, upgrade --set apiKey -> enabled/pro ${seconds(upgrades.at(-1)!)}`;
      }

      await helm(['uninstall', RELEASE, '-n', NAMESPACE, '--wait', '--timeout', '120s']);
      await until('the status ConfigMap gone', async () => (await status()) === undefined);
      const pullNote = pulled === undefined ? '' : ` (the kubelet's pull ${seconds(pulled)})`;
      console.log(
        `run ${run + 1}, image ${image}: install -> operated/free ${seconds(installs[image].at(-1)!)}${pullNote}${upgraded}`,
      );
    };
    for (let run = 0; run < (ONLY_EXTENSION ? 0 : RUNS); run++) {
      await once(run, 'pulled');
      await once(run, 'on the node');
    }
    const list = (values: number[]) => values.map(seconds).join(', ');
    if (!ONLY_EXTENSION) {
      console.log(`median of ${RUNS}, helm install (oci://) returned -> status ConfigMap operated/free:`);
      console.log(
        `  image pulled from the test registry: ${seconds(median(installs.pulled))} (${list(installs.pulled)}); ` +
          `of which the kubelet's pull ${seconds(median(pulls))} (${list(pulls)})`,
      );
      console.log(
        `  image already on the node: ${seconds(median(installs['on the node']))} (${list(installs['on the node'])})`,
      );
      console.log(
        `median of ${RUNS}, helm upgrade --set apiKey returned -> enabled/pro: ${seconds(median(upgrades))} (${list(upgrades)})`,
      );
      for (const [name, values] of Object.entries(steps)) console.log(`  ${name}: median ${seconds(median(values))}`);
    }

    // The extension's path: its helm (a home of its own), the chart repository, no values.
    const pub = cp.publicRegistry!;
    const home = path.join(cp.dir, 'extension-helm');
    const userHelm = async (args: string[]) => {
      const result = await runHelm(args, {
        kubeconfig: cp.kubeconfigPath,
        timeoutMs: HELM_TIMEOUT_MS + 60_000,
        env: {
          HELM_CONFIG_HOME: path.join(home, 'config'),
          HELM_CACHE_HOME: path.join(home, 'cache'),
          HELM_DATA_HOME: path.join(home, 'data'),
        },
      });
      if (result.code !== 0) throw new Error(`helm ${args.slice(0, 2).join(' ')} failed: ${result.stderr}`);
    };
    await userHelm(['repo', 'add', 'kube9', pub.chartRepoUrl, '--ca-file', pub.caPath]);
    await userHelm(['repo', 'update', 'kube9']);
    const EXT_NS = 'kube9-system';
    type ExtCase = 'pulled' | 'on the node' | 'on the node, limits.cpu 200m';
    const ext: Record<ExtCase, { wait: number[]; status: number[]; startup: number[] }> = {
      pulled: { wait: [], status: [], startup: [] },
      'on the node': { wait: [], status: [], startup: [] },
      'on the node, limits.cpu 200m': { wait: [], status: [], startup: [] },
    };
    const bursts: string[] = [];
    const extOnce = async (run: number, which: ExtCase) => {
      if (which === 'pulled') await forgetImage();
      const extra = which === 'on the node, limits.cpu 200m' ? ['--set', 'resources.limits.cpu=200m'] : [];
      const t0 = Date.now();
      let seen = 0;
      let polling = true;
      // The status ConfigMap, polled from the click on, while helm waits.
      const poller = (async () => {
        while (polling && !seen) {
          const s = await status(EXT_NS);
          if (s?.mode === 'operated' && s.tier === 'free') seen = Date.now();
          else await sleep(50);
        }
      })();
      await userHelm([
        'install',
        RELEASE,
        'kube9/kube9-operator',
        '--namespace',
        EXT_NS,
        '--create-namespace',
        '--wait',
        '--timeout',
        '5m',
        ...extra,
      ]);
      const returned = Date.now();
      await until('operated/free', async () => seen > 0);
      polling = false;
      await poller;
      const pod = await operatorPod(EXT_NS);
      const started = Date.parse(String(pod.status!.containerStatuses![0].state!.running!.startedAt));
      const firstWrite = Date.parse((await statusNow(EXT_NS)).lastUpdate);
      ext[which].wait.push(returned - t0);
      ext[which].status.push(seen - t0);
      ext[which].startup.push(firstWrite - started);
      if (run === RUNS - 1 && which !== 'pulled') {
        const burst = await statusBurst(pod, 8, 5);
        bursts.push(`${which}: ${(burst.requests / 5).toFixed(0)} requests/s, ${burst.failures} failures`);
      }
      await userHelm(['uninstall', RELEASE, '--namespace', EXT_NS, '--wait', '--timeout', '120s']);
      await until('the status ConfigMap gone', async () => (await status(EXT_NS)) === undefined);
      console.log(
        `extension run ${run + 1}, ${which}: helm install --wait returned ${seconds(returned - t0)}, operated/free ${seconds(seen - t0)} after the start`,
      );
    };
    for (let run = 0; run < RUNS; run++) {
      await extOnce(run, 'pulled');
      await extOnce(run, 'on the node');
      await extOnce(run, 'on the node, limits.cpu 200m');
    }
    console.log(
      `median of ${RUNS}, the extension's path (kube9/kube9-operator, no values, ghcr.io stand-in), from the start of helm install --wait:`,
    );
    for (const [which, m] of Object.entries(ext)) {
      console.log(
        `  ${which}: --wait returned ${seconds(median(m.wait))} (${list(m.wait)}); operated/free ${seconds(median(m.status))}; ` +
          `container started -> first status write ${seconds(median(m.startup))} (startedAt has 1 s resolution)`,
      );
    }
    for (const burst of bursts) console.log(`  burst of GET /api/v1/status, 8 clients for 5 s, ${burst}`);
  } finally {
    await stopRealNode(node);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
