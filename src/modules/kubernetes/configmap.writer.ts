import { Inject, Injectable, Logger } from '@nestjs/common';
import { V1ConfigMap, V1OwnerReference } from '@kubernetes/client-node';
import { OperatorConfig } from '../config/operator-config';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import { describeKubeError, kubeStatusCode } from './kube-errors';
import { KubernetesClients } from './kubernetes-clients';
import { KUBERNETES_CLIENTS } from './kubernetes.constants';
import { leaderWriteOptions } from './leader-write';

export interface OwnedConfigMap {
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  data: Record<string, string>;
}

/**
 * Idempotent whole-object writes of the operator's own ConfigMaps: one PUT without a
 * resourceVersion in the steady state (no read first, so no 409 from a stale version);
 * a 404 creates the object, and a create that races with another writer (409) is
 * followed by one more PUT. Each carries an owner reference to the operator's Deployment,
 * so deleting the Deployment (helm uninstall) garbage-collects them. Only the leader writes, and
 * each request must be answered within its time as leader (leader-write.ts): a request refused
 * for that is not sent, and one in flight is abandoned (LeaseTimeUpError).
 */
@Injectable()
export class ConfigMapWriter {
  private readonly logger = new Logger(ConfigMapWriter.name);
  private ownerReference?: V1OwnerReference;
  private ownerLookupDone = false;

  constructor(
    private readonly config: OperatorConfig,
    @Inject(KUBERNETES_CLIENTS) private readonly kube: KubernetesClients,
    private readonly leadership: LeaderElectionService,
  ) {}

  async put(object: OwnedConfigMap): Promise<void> {
    const { name, namespace } = object.metadata;
    const ownerReference = await this.deploymentOwnerReference();
    const body: V1ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { ...object.metadata, ...(ownerReference ? { ownerReferences: [ownerReference] } : {}) },
      data: object.data,
    };
    const asLeader = leaderWriteOptions(() => this.leadership.leadsUntil());
    try {
      await this.kube.core.replaceNamespacedConfigMap({ name, namespace, body }, asLeader);
    } catch (error) {
      if (kubeStatusCode(error) !== 404) throw error;
      try {
        await this.kube.core.createNamespacedConfigMap({ namespace, body }, asLeader);
      } catch (createError) {
        if (kubeStatusCode(createError) !== 409) throw createError;
        await this.kube.core.replaceNamespacedConfigMap({ name, namespace, body }, asLeader);
      }
    }
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
      const deployment = await this.kube.apps.readNamespacedDeployment({ name, namespace: this.config.namespace });
      const uid = deployment.metadata?.uid;
      if (uid) this.ownerReference = { apiVersion: 'apps/v1', kind: 'Deployment', name, uid };
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
