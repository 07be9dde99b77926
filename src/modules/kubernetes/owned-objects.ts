import { ConfigurationOptions, V1ConfigMap, V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import { kubeStatusCode } from './kube-errors';
import { KubernetesClients } from './kubernetes-clients';

/*
 * Writes of the objects the operator owns in its namespace, with no policy of their own (who
 * may write, when): ConfigMapWriter, the Lease and the invalid-configuration status use them.
 */

/**
 * One whole-object write of a ConfigMap: a PUT without a resourceVersion; a 404 creates it, and a
 * create that races with another writer (409) is followed by one more PUT.
 */
export async function putConfigMap(
  kube: Pick<KubernetesClients, 'core'>,
  body: V1ConfigMap & { metadata: V1ObjectMeta & { name: string; namespace: string } },
  options?: ConfigurationOptions,
): Promise<void> {
  const { name, namespace } = body.metadata;
  try {
    await kube.core.replaceNamespacedConfigMap({ name, namespace, body }, options);
  } catch (error) {
    if (kubeStatusCode(error) !== 404) throw error;
    try {
      await kube.core.createNamespacedConfigMap({ namespace, body }, options);
    } catch (createError) {
      if (kubeStatusCode(createError) !== 409) throw createError;
      await kube.core.replaceNamespacedConfigMap({ name, namespace, body }, options);
    }
  }
}

/** The owner reference to the operator's Deployment `name`, so that deleting it deletes what it owns. */
export async function deploymentOwnerReference(
  kube: Pick<KubernetesClients, 'apps'>,
  namespace: string,
  name: string,
): Promise<V1OwnerReference | undefined> {
  const deployment = await kube.apps.readNamespacedDeployment({ name, namespace });
  const uid = deployment.metadata?.uid;
  return uid ? { apiVersion: 'apps/v1', kind: 'Deployment', name, uid } : undefined;
}
