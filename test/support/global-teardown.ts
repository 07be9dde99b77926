/* Jest global teardown for the end-to-end tests: stops the control plane global-setup.ts started. */
export default async function globalTeardown(): Promise<void> {
  const cp = globalThis.__KUBE9_CONTROL_PLANE__;
  globalThis.__KUBE9_CONTROL_PLANE__ = undefined;
  if (!cp) return;
  const start = performance.now();
  await cp.stop();
  console.log(`[e2e] control plane stopped in ${((performance.now() - start) / 1000).toFixed(1)}s`);
}
