import { Inject, Injectable } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { clampNodeCount, clusterIdentifierFrom, kubernetesVersionFrom } from './cluster-identity';
import { KubernetesClients } from './kubernetes-clients';
import { KUBERNETES_CLIENTS } from './kubernetes.constants';

/** What registration tells kube9-server about the cluster: an anonymous id, the version and a node count. */
@Injectable()
export class ClusterFactsService {
  private identifier?: string;

  constructor(@Inject(KUBERNETES_CLIENTS) private readonly clients: KubernetesClients) {}

  /** Stable for the process's life: the CA does not change under a running pod. */
  clusterIdentifier(): string {
    if (!this.identifier) {
      const cluster = this.clients.kubeConfig.getCurrentCluster();
      if (!cluster) throw new Error('No Kubernetes cluster configured');
      const ca = cluster.caData
        ? Buffer.from(cluster.caData, 'base64')
        : cluster.caFile
          ? readFileSync(cluster.caFile)
          : undefined;
      this.identifier = clusterIdentifierFrom(ca, cluster.server);
    }
    return this.identifier;
  }

  async kubernetesVersion(): Promise<string> {
    const info = await this.clients.version.getCode();
    return kubernetesVersionFrom(info.gitVersion);
  }

  /** One small list request: the page's items plus the server's count of the rest. */
  async approximateNodeCount(): Promise<number> {
    const page = await this.clients.core.listNode({ limit: 1 });
    const count = page.items.length + (page.metadata?.remainingItemCount ?? 0);
    return clampNodeCount(count);
  }
}
