import { Inject, Injectable, Logger } from '@nestjs/common';
import { CoreV1Event } from '@kubernetes/client-node';
import { hostname } from 'node:os';
import { cleanError } from '../../common/error-text';
import { OperatorConfig } from '../config/operator-config';
import { STATUS_CONFIGMAP_NAME } from '../config/config.constants';
import { describeKubeError } from './kube-errors';
import { KubernetesClients } from './kubernetes-clients';
import { KUBERNETES_CLIENTS } from './kubernetes.constants';
import { WriteFence } from './write-fence';

export const EVENT_REASONS = {
  Registered: 'Registered',
  RegistrationFailed: 'RegistrationFailed',
  ApiKeyRejected: 'ApiKeyRejected',
  ApiKeyChanged: 'ApiKeyChanged',
  TierChanged: 'TierChanged',
} as const;
export type EventReason = (typeof EVENT_REASONS)[keyof typeof EVENT_REASONS];

const REPORTING_CONTROLLER = 'kube9.dev/kube9-operator';

/**
 * Kubernetes Events in the operator's namespace, so `kubectl get events` tells the story of
 * its registration. They regard the operator's Deployment when its name is known, else the
 * status ConfigMap. A failed event (one of a replica that does not lead is not sent: WriteFence)
 * is logged at debug and otherwise ignored: events are best-effort by nature and must not
 * disturb the operator.
 */
@Injectable()
export class EventRecorder {
  private readonly logger = new Logger(EventRecorder.name);
  private readonly instance = hostname();

  constructor(
    private readonly config: OperatorConfig,
    @Inject(KUBERNETES_CLIENTS) private readonly kube: KubernetesClients,
    private readonly fence: WriteFence,
  ) {}

  async record(type: 'Normal' | 'Warning', reason: EventReason, note: string): Promise<void> {
    const namespace = this.config.namespace;
    const involvedObject = this.config.deploymentName
      ? { apiVersion: 'apps/v1', kind: 'Deployment', name: this.config.deploymentName, namespace }
      : { apiVersion: 'v1', kind: 'ConfigMap', name: STATUS_CONFIGMAP_NAME, namespace };
    const now = new Date();
    // A core/v1 Event: its timestamps are plain RFC 3339 times. (events.k8s.io/v1 wants an
    // eventTime in microseconds, which client-node serialises with milliseconds: refused.)
    const body: CoreV1Event = {
      metadata: { generateName: 'kube9-operator.', namespace },
      involvedObject,
      reason,
      message: cleanError(note),
      type,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component: REPORTING_CONTROLLER },
      reportingComponent: REPORTING_CONTROLLER,
      reportingInstance: this.instance.slice(0, 128),
    };
    try {
      await this.kube.core.createNamespacedEvent({ namespace, body }, this.fence.options());
    } catch (error) {
      this.logger.debug(describeKubeError(`record event ${reason}`, error));
    }
  }
}
