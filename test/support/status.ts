/* Reading the operator's status the way the extension does: the ConfigMap's JSON. */
import { ApiException, CoreV1Api, V1ConfigMap } from '@kubernetes/client-node';
import { STATE_CONFIGMAP_NAME } from '../../src/modules/registration/registration.constants';
import { STATUS_CONFIGMAP_NAME } from '../../src/modules/status/status.constants';
import { adminKubeConfig } from './kube';
import { waitFor } from './operator-process';

export const STATUS_CONFIGMAP = STATUS_CONFIGMAP_NAME;
export const STATE_CONFIGMAP = STATE_CONFIGMAP_NAME;

/** The ConfigMap, or undefined while there is none; read with `core` (default: the shared control plane's admin). */
export async function readConfigMap(
  namespace: string,
  name: string,
  core: CoreV1Api = adminKubeConfig().makeApiClient(CoreV1Api),
): Promise<V1ConfigMap | undefined> {
  try {
    return await core.readNamespacedConfigMap({ name, namespace });
  } catch (error) {
    if (error instanceof ApiException && error.code === 404) return undefined;
    throw error;
  }
}

/** The parsed status document, or undefined while there is none; read with `core` as readConfigMap does. */
export async function readStatus(namespace: string, core?: CoreV1Api): Promise<Record<string, any> | undefined> {
  const configMap = await readConfigMap(namespace, STATUS_CONFIGMAP, core);
  const text = configMap?.data?.status;
  return text ? (JSON.parse(text) as Record<string, any>) : undefined;
}

/** The operator's saved registration state, or undefined while there is none. */
export async function readState(namespace: string): Promise<Record<string, any> | undefined> {
  const configMap = await readConfigMap(namespace, STATE_CONFIGMAP);
  const text = configMap?.data?.state;
  return text ? (JSON.parse(text) as Record<string, any>) : undefined;
}

/** Waits for a status document in `namespace` of which `predicate` holds, and returns it. */
export function statusWhere(
  namespace: string,
  what: string,
  predicate: (status: Record<string, any>) => boolean,
  timeoutMs = 10_000,
): Promise<Record<string, any>> {
  return waitFor(
    what,
    async () => {
      const status = await readStatus(namespace);
      return status && predicate(status) ? status : undefined;
    },
    timeoutMs,
    100,
  );
}
