import { Module } from '@nestjs/common';
import { OperatorConfig } from '../config/operator-config';
import { ClusterFactsService } from './cluster-facts.service';
import { ConfigMapWriter } from './configmap.writer';
import { EventRecorder } from './event.recorder';
import { createKubernetesClients, loadKubeConfig } from './kubernetes-clients';
import { KUBERNETES_CLIENTS } from './kubernetes.constants';
import { SecretWatcher } from './secret.watcher';
import { WriteFence } from './write-fence';

/**
 * Provides the one set of Kubernetes clients (a test swaps KUBERNETES_CLIENTS), the cluster
 * facts, idempotent ConfigMap writes, Events and Secret watches.
 */
@Module({
  providers: [
    {
      provide: KUBERNETES_CLIENTS,
      inject: [OperatorConfig],
      useFactory: (config: OperatorConfig) =>
        createKubernetesClients(loadKubeConfig({ inCluster: config.inCluster, kubeconfigPath: config.kubeconfigPath })),
    },
    ClusterFactsService,
    ConfigMapWriter,
    EventRecorder,
    SecretWatcher,
    WriteFence,
  ],
  exports: [KUBERNETES_CLIENTS, ClusterFactsService, ConfigMapWriter, EventRecorder, SecretWatcher, WriteFence],
})
export class KubernetesModule {}
