import { OPERATOR_VERSION } from '../../common/operator-version';
import { ConfigError, StatusTarget } from '../config/load-operator-config';
import { deploymentOwnerReference, putConfigMap } from '../kubernetes/owned-objects';
import { describeKubeError } from '../kubernetes/kube-errors';
import { createKubernetesClients, KubernetesClients, loadKubeConfig } from '../kubernetes/kubernetes-clients';
import { NO_REGISTRATION } from './dto/registration-view.dto';
import { buildStatusDocument } from './status-document';
import { STATUS_CONFIGMAP_KEY, STATUS_CONFIGMAP_NAME, STATUS_LABELS } from './status.constants';

/** SPEC section 2: with an invalid configuration, the status is written within this long, or not at all. */
export const INVALID_CONFIGURATION_DEADLINE_MS = 5_000;

/**
 * Marks the status ConfigMap `unhealthy` with the configuration error (SPEC section 2), so that
 * the extension says why instead of showing a stale or missing status; the caller then exits 1.
 * Never throws: the sentence returned says what became of the write, for the one log line.
 */
export async function publishInvalidConfiguration(
  error: ConfigError,
  deadlineMs = INVALID_CONFIGURATION_DEADLINE_MS,
): Promise<string> {
  const target = error.statusTarget;
  if (!target) return 'the status ConfigMap was not written (the variables that say where it goes are invalid)';
  const where = `${target.namespace}/${STATUS_CONFIGMAP_NAME}`;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<string>((resolve) => {
    timer = setTimeout(
      () => resolve(`the status ConfigMap ${where} could not be written within ${deadlineMs / 1000} s`),
      deadlineMs,
    );
  });
  try {
    return await Promise.race([
      write(error, target).then(() => `status ConfigMap ${where} set to unhealthy`),
      deadline,
    ]);
  } catch (writeError) {
    return `the status ConfigMap could not be set to unhealthy: ${describeKubeError(`write ConfigMap ${where}`, writeError)}`;
  } finally {
    clearTimeout(timer);
  }
}

async function write(error: ConfigError, target: StatusTarget): Promise<void> {
  const kube = createKubernetesClients(loadKubeConfig(target));
  const document = buildStatusDocument({
    registration: NO_REGISTRATION,
    kubernetesError: null,
    configurationError: `Invalid configuration: ${error.message}`,
    version: OPERATOR_VERSION,
    namespace: target.namespace,
    now: new Date(),
  });
  const owner = await ownerOf(kube, target);
  await putConfigMap(kube, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: STATUS_CONFIGMAP_NAME,
      namespace: target.namespace,
      labels: { ...STATUS_LABELS },
      ...(owner ? { ownerReferences: [owner] } : {}),
    },
    data: { [STATUS_CONFIGMAP_KEY]: JSON.stringify(document) },
  });
}

/** The Deployment's owner reference, as every write of the ConfigMap carries it; none if it cannot be read. */
async function ownerOf(kube: KubernetesClients, target: StatusTarget) {
  if (!target.deploymentName) return undefined;
  return deploymentOwnerReference(kube, target.namespace, target.deploymentName).catch(() => undefined);
}
