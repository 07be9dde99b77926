/*
 * Jest global setup for the end-to-end tests: builds what is missing, starts
 * one control plane for the whole run and hands it to the tests through the
 * environment (see kube.ts). global-teardown.ts stops it.
 *
 * With KUBE9_TEST_SHARED_CONTROL_PLANE=1, the control plane is already running
 * (scripts/test.sh starts one, `npm run cluster -- --audit-log`, for the groups
 * it runs side by side) and given by KUBE9_TEST_KUBECONFIG, KUBE9_TEST_HELM and
 * KUBE9_TEST_CP_DIR: nothing is started, nor stopped.
 */
import { ensureBinaries } from './binaries';
import { type ControlPlane, startControlPlane } from './control-plane';

declare global {
  var __KUBE9_CONTROL_PLANE__: ControlPlane | undefined;
}

export default async function globalSetup(): Promise<void> {
  const binaries = await ensureBinaries();
  const { versions } = binaries;
  console.log(
    `\n[e2e] Node ${process.version}, Kubernetes ${versions.kubernetes} (${binaries.kubernetes} control plane; ` +
      `controller-manager ${versions.kubeControllerManager}), ` +
      `etcd ${versions.etcd}, helm ${versions.helm}`,
  );
  if (process.env.KUBE9_TEST_SHARED_CONTROL_PLANE === '1') {
    const missing = ['KUBE9_TEST_KUBECONFIG', 'KUBE9_TEST_HELM', 'KUBE9_TEST_CP_DIR'].filter(
      (name) => !process.env[name],
    );
    if (missing.length) throw new Error(`KUBE9_TEST_SHARED_CONTROL_PLANE=1 needs ${missing.join(', ')} set`);
    console.log(`[e2e] the run's shared control plane, in ${process.env.KUBE9_TEST_CP_DIR}`);
    // The shared control plane runs the binaries chosen here (cluster-cli starts it from them).
    process.env.KUBE9_TEST_KUBERNETES_VERSION = versions.kubernetes;
    return;
  }
  // The audit log lets the no-leak check (run last) read every ConfigMap and Event write of the run.
  const cp = await startControlPlane({ binaries, auditLog: true });
  globalThis.__KUBE9_CONTROL_PLANE__ = cp;
  process.env.KUBE9_TEST_KUBECONFIG = cp.kubeconfigPath;
  process.env.KUBE9_TEST_HELM = cp.helmPath;
  process.env.KUBE9_TEST_CP_DIR = cp.dir;
  // The version kube-apiserver was built as (`v1.37.2`): the registration body carries it.
  process.env.KUBE9_TEST_KUBERNETES_VERSION = cp.kubernetesVersion;
}
