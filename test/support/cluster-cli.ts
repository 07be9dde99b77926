/*
 * `npm run cluster`: starts the test control plane on its own, prints
 * `KUBECONFIG=<path>` on one line of stdout once it is ready, and stays up
 * until SIGINT or SIGTERM (or until its parent dies), then stops everything
 * and exits 0. Build output and logs go to stderr.
 */
import { type ControlPlane, startControlPlane } from './control-plane';

async function main(): Promise<void> {
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

  cp = await startControlPlane();
  if (signalled === undefined) {
    process.stdout.write(`KUBECONFIG=${cp.kubeconfigPath}\n`);
    console.error(
      `[cluster] Kubernetes ${cp.kubernetesVersion} at ${cp.server}, helm ${cp.helmVersion} at ${cp.helmPath}; Ctrl-C or SIGTERM to stop`,
    );
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
