import { Global, Module } from '@nestjs/common';
import { OperatorConfig } from '../config/operator-config';
import { ClusterFactsService } from './cluster-facts.service';
import { createKubernetesClients, loadKubeConfig } from './kubernetes-clients';
import { KUBERNETES_CLIENTS } from './kubernetes.constants';

/** Provides the one set of Kubernetes clients (swap KUBERNETES_CLIENTS in a test) and the cluster facts. */
@Global()
@Module({
  providers: [
    {
      provide: KUBERNETES_CLIENTS,
      inject: [OperatorConfig],
      useFactory: (config: OperatorConfig) =>
        createKubernetesClients(
          loadKubeConfig({ inCluster: config.inCluster, kubeconfigPath: config.kubeconfigPath }),
        ),
    },
    ClusterFactsService,
  ],
  exports: [KUBERNETES_CLIENTS, ClusterFactsService],
})
export class KubernetesModule {}
