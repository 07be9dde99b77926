import { Inject, Injectable, Logger } from '@nestjs/common';
import { V1OwnerReference } from '@kubernetes/client-node';
import { OperatorConfig } from '../config/operator-config';
import { describeKubeError, kubeStatusCode } from './kube-errors';
import { deploymentOwnerReference, putConfigMap } from './owned-objects';
import { WriteFence } from './write-fence';
import { KubernetesClients } from './kubernetes-clients';
import { KUBERNETES_CLIENTS } from './kubernetes.constants';

export interface OwnedConfigMap {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  data: Record<string, string>;
}

/**
 * Idempotent whole-object writes of the operator's own ConfigMaps: one PUT without a
 * resourceVersion in the steady state (no read first, so no 409 from a stale version);
 * a 404 creates the object, and a create that races with another writer (409) is
 * followed by one more PUT. Each carries an owner reference to the operator's Deployment,
 * so deleting the Deployment (helm uninstall) garbage-collects them. Each request goes through the
 * WriteFence: only the leader's are sent (LeaseTimeUpError otherwise).
 */
@Injectable()
export class ConfigMapWriter {
  private readonly logger = new Logger(ConfigMapWriter.name);
  private ownerReference?: V1OwnerReference;
  private ownerLookupDone = false;

  constructor(
    private readonly config: OperatorConfig,
    @Inject(KUBERNETES_CLIENTS) private readonly kube: KubernetesClients,
    private readonly fence: WriteFence,
  ) {}

  async put(object: OwnedConfigMap): Promise<void> {
    const ownerReference = await this.deploymentOwnerReference();
    const body = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { ...object.metadata, ...(ownerReference ? { ownerReferences: [ownerReference] } : {}) },
      data: object.data,
    };
    await putConfigMap(this.kube, body, this.fence.options());
  }

  /** The ConfigMap's data, or undefined when it does not exist. */
  async read(namespace: string, name: string): Promise<Record<string, string> | undefined> {
    try {
      const configMap = await this.kube.core.readNamespacedConfigMap({ name, namespace });
      return configMap.data ?? {};
    } catch (error) {
      if (kubeStatusCode(error) === 404) return undefined;
      throw error;
    }
  }

  /**
   * Looked up once (OPERATOR_DEPLOYMENT_NAME); a transient failure is retried on the next
   * write, a 403 or 404 is reported once and given up.
   */
  private async deploymentOwnerReference(): Promise<V1OwnerReference | undefined> {
    const name = this.config.deploymentName;
    if (!name || this.ownerLookupDone) return this.ownerReference;
    try {
      this.ownerReference = await deploymentOwnerReference(this.kube, this.config.namespace, name);
      this.ownerLookupDone = true;
    } catch (error) {
      const code = kubeStatusCode(error);
      if (code !== 403 && code !== 404) return undefined;
      this.ownerLookupDone = true;
      this.logger.warn(
        `${describeKubeError(`read Deployment ${this.config.namespace}/${name}`, error)}; the operator's ConfigMaps will not be removed with the Deployment`,
      );
    }
    return this.ownerReference;
  }
}
