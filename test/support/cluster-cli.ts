/*
 * `npm run cluster`: starts the test control plane on its own, prints
 * `KUBECONFIG=<path>` on one line of stdout once it is ready, and stays up
 * until SIGINT or SIGTERM (or until its parent dies), then stops everything
 * and exits 0. Build output and logs go to stderr.
 *
 * `npm run cluster -- --node` also starts a worker node that runs pods and a
 * test OCI registry (TLS with its own CA, basic auth) on the node's host-side
 * address, releases the operator there (scripts/release.sh: image, chart,
 * signature, SBOM) and prints, once the node is Ready, `IMAGE=<reference>`,
 * `CHART=oci://…`, `REGISTRY=host:port`, `REGISTRY_CA=<PEM>`,
 * `REGISTRY_AUTH_FILE=<config.json>` and `COSIGN_PUBLIC_KEY=<path>`, and for
 * the ghcr.io stand-in (the node pulls the chart's default image from it) and
 * the chart repository it serves (public-registry.ts) `CHART_REPO=https://…`,
 * `CHART_REPO_CA=<PEM>` and `CHART_KEYRING=<public GPG keyring>`, before
 * `KUBECONFIG=<path>`.
 *
 * `--audit-log` has the API server write its audit log into the control plane's directory, as
 * the e2e run's own does (scripts/test.sh starts the run's shared control plane this way), and
 * `CP_DIR=<directory>` and `HELM=<path>` are printed before `KUBECONFIG=<path>`.
 *
 * `npm run cluster -- --clean-cache` empties the per-machine cache of built tools and images
 * (test/support/machine-cache.sh) and exits.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { repoRoot } from './binaries';
import { type ControlPlane, startControlPlane } from './control-plane';
import { chartImage } from './worker-node';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => !['--node', '--audit-log', '--clean-cache'].includes(a));
  if (unknown.length) {
    throw new Error(`unknown argument ${unknown.join(' ')} (allowed: --node, --audit-log, --clean-cache)`);
  }
  if (args.includes('--clean-cache')) {
    if (args.length > 1) throw new Error('--clean-cache goes alone: it empties the machine cache and exits');
    // The script is the one place that knows where the cache is.
    const script = path.join(repoRoot(), 'test', 'support', 'machine-cache.sh');
    const cleaned = spawnSync('bash', [script, 'clean'], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (cleaned.status !== 0) throw new Error(`${script} clean failed (exit ${cleaned.status ?? cleaned.signal})`);
    return;
  }
  const withNode = args.includes('--node');
  const auditLog = args.includes('--audit-log');
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

  cp = await startControlPlane({ withNode, auditLog, publicRegistry: withNode });
  if (signalled === undefined) {
    if (cp.node && cp.registry && cp.release && cp.cosignKeys) {
      process.stdout.write(
        `IMAGE=${cp.node.images.operator}\nCHART=${cp.release.chartRef}\nREGISTRY=${cp.registry.address}\n` +
          `REGISTRY_CA=${cp.registry.caPath}\nREGISTRY_AUTH_FILE=${cp.registry.authFile}\n` +
          `COSIGN_PUBLIC_KEY=${cp.cosignKeys.publicKey}\n`,
      );
    }
    if (cp.publicRegistry && cp.chartKey) {
      process.stdout.write(
        `CHART_REPO=${cp.publicRegistry.chartRepoUrl}\nCHART_REPO_CA=${cp.publicRegistry.caPath}\n` +
          `CHART_KEYRING=${cp.chartKey.publicKeyring}\n`,
      );
    }
    process.stdout.write(`CP_DIR=${cp.dir}\nHELM=${cp.helmPath}\nKUBECONFIG=${cp.kubeconfigPath}\n`);
    console.error(
      `[cluster] Kubernetes ${cp.kubernetesVersion} at ${cp.server}, helm ${cp.helmVersion} at ${cp.helmPath}; Ctrl-C or SIGTERM to stop`,
    );
    if (cp.node && cp.release && cp.registry) {
      const image = chartImage(cp.node.images.operator);
      console.error(
        `[cluster] node ${cp.node.network.nodeName} Ready; run the operator as a pod, pulled from the registry, with\n` +
          `  kubectl create namespace kube9-system\n` +
          `  kubectl -n kube9-system create secret generic kube9-registry --type=kubernetes.io/dockerconfigjson ` +
          `--from-file=.dockerconfigjson=${cp.registry.authFile}\n` +
          `  helm install kube9-operator ${cp.release.chartRef} --version ${cp.release.version} -n kube9-system ` +
          `--registry-config ${cp.registry.authFile} --ca-file ${cp.registry.caPath} ` +
          `--set image.repository=${image.repository},imagePullSecrets[0].name=kube9-registry`,
      );
    }
    if (cp.publicRegistry) {
      console.error(
        `[cluster] or as the kube9 extension does, from the chart repository, with no values:\n` +
          `  helm repo add kube9 ${cp.publicRegistry.chartRepoUrl} --ca-file ${cp.publicRegistry.caPath}\n` +
          `  helm install kube9-operator kube9/kube9-operator -n kube9-system --create-namespace --wait --timeout 5m`,
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
