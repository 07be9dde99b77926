/*
 * Jest global setup for the end-to-end tests: builds what is missing, starts
 * one control plane for the whole run and hands it to the tests through the
 * environment (see kube.ts). global-teardown.ts stops it.
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
  // The audit log lets the no-leak check (run last) read every ConfigMap and Event write of the run.
  const cp = await startControlPlane({ binaries, auditLog: true });
  globalThis.__KUBE9_CONTROL_PLANE__ = cp;
  process.env.KUBE9_TEST_KUBECONFIG = cp.kubeconfigPath;
  process.env.KUBE9_TEST_HELM = cp.helmPath;
  process.env.KUBE9_TEST_CP_DIR = cp.dir;
  // The version kube-apiserver was built as (`v1.37.2`): the registration body carries it.
  process.env.KUBE9_TEST_KUBERNETES_VERSION = cp.kubernetesVersion;
}
