/*
 * `npm run cluster`: starts the test control plane on its own, prints
 * `KUBECONFIG=<path>` on one line of stdout once it is ready, and stays up
 * until SIGINT or SIGTERM (or until its parent dies), then stops everything
 * and exits 0. Build output and logs go to stderr.
 *
 * `npm run cluster -- --node` also starts a worker node that runs pods, with
 * the operator image built from the Dockerfile loaded into it, and prints
 * `IMAGE=<repository>:<tag>` before `KUBECONFIG=<path>` once the node is Ready.
 */
import { type ControlPlane, startControlPlane } from './control-plane';
import { chartImage } from './worker-node';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--node');
  if (unknown.length) throw new Error(`unknown argument ${unknown.join(' ')} (allowed: --node)`);
  const withNode = args.includes('--node');
  let cp: ControlPlane | undefined;
  let stopping: Promise<void> | undefined;
  const shutdown = (why: string): Promise<void> => {
    stopping ??= (async () => {
      console.error(`[cluster] ${why}: stopping the control plane`);
      await cp?.stop();
      console.error('[cluster] stopped');
    })();
    return stopping;
  };

  // A signal during start-up is answered once start-up has finished (or failed).
  let signalled: string | undefined;
  let wake: () => void = () => undefined;
  const stopRequested = new Promise<void>((resolve) => (wake = resolve));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      signalled ??= signal;
      wake();
    });
  }
  // When run as `npm run cluster`, a signal may kill the shell between npm
  // and this process; do not outlive the parent that started us.
  const parent = process.ppid;
  const orphanCheck = setInterval(() => {
    if (process.ppid !== parent) {
      signalled ??= 'parent exited';
      wake();
    }
  }, 1000);
  orphanCheck.unref();

  cp = await startControlPlane({ withNode });
  if (signalled === undefined) {
    if (cp.node) process.stdout.write(`IMAGE=${cp.node.images.operator}\n`);
    process.stdout.write(`KUBECONFIG=${cp.kubeconfigPath}\n`);
    console.error(
      `[cluster] Kubernetes ${cp.kubernetesVersion} at ${cp.server}, helm ${cp.helmVersion} at ${cp.helmPath}; Ctrl-C or SIGTERM to stop`,
    );
    if (cp.node) {
      const image = chartImage(cp.node.images.operator);
      console.error(
        `[cluster] node ${cp.node.network.nodeName} Ready; run the operator as a pod with\n` +
          `  helm install kube9-operator ./helm/kube9-operator -n kube9-system --create-namespace ` +
          `--set image.repository=${image.repository},image.tag=${image.tag},image.pullPolicy=Never`,
      );
    }
    await stopRequested;
  }
  clearInterval(orphanCheck);
  await shutdown(signalled ?? 'stop');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);
