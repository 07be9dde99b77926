/*
 * The operator image as a user's cluster gets it: pulled by the kubelet from
 * the test registry (scripts/release.sh pushed it there when the node started)
 * with a kubernetes.io/dockerconfigjson pull Secret. For the specs and benches
 * that install the chart from its folder but run the released image.
 */
import type { CoreV1Api } from '@kubernetes/client-node';
import * as fs from 'node:fs';
import type { ControlPlane } from './control-plane';
import { chartImage } from './worker-node';

/** The name of the image pull Secret these helpers create. */
export const PULL_SECRET = 'kube9-registry';

/** Creates the pull Secret in `namespace` with the credentials of `authFile` (default: the test registry's). */
export async function createPullSecret(
  core: CoreV1Api,
  cp: ControlPlane,
  namespace: string,
  name = PULL_SECRET,
  authFile = cp.registry!.authFile,
): Promise<void> {
  await core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name },
      type: 'kubernetes.io/dockerconfigjson',
      data: { '.dockerconfigjson': fs.readFileSync(authFile).toString('base64') },
    },
  });
}

/** The chart values that run the released image, pulled with the pull Secret (created by createPullSecret). */
export function registryImageValues(cp: ControlPlane): Record<string, string> {
  const image = chartImage(cp.node!.images.operator);
  return {
    'image.repository': image.repository,
    'image.tag': image.tag,
    'image.pullPolicy': 'IfNotPresent',
    'imagePullSecrets[0].name': PULL_SECRET,
  };
}

/** registryImageValues as helm arguments (`--set k=v` pairs). */
export function registryImageArgs(cp: ControlPlane): string[] {
  return Object.entries(registryImageValues(cp)).flatMap(([key, value]) => ['--set', `${key}=${value}`]);
}
