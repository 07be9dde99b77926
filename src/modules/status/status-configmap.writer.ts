import { Inject, Injectable } from '@nestjs/common';
import { Clock, CLOCK } from '../../common/clock';
import { OperatorConfig } from '../config/operator-config';
import { ConfigMapWriter, OwnedConfigMap } from '../kubernetes/configmap.writer';
import { describeKubeError } from '../kubernetes/kube-errors';
import { OperatorMetrics } from '../metrics/operator-metrics.service';
import { OperatorStatusDto } from './dto/operator-status.dto';
import { STATUS_CONFIGMAP_KEY, STATUS_CONFIGMAP_NAME, STATUS_LABELS } from './status.constants';

/**
 * One write of the status document to its ConfigMap: one PUT of the whole object
 * (ConfigMapWriter), counted in the metrics. Never throws: a failure comes back as the sentence
 * that says why (kube-errors.ts), for the status to show.
 */
@Injectable()
export class StatusConfigMapWriter {
  constructor(
    private readonly config: OperatorConfig,
    private readonly writer: ConfigMapWriter,
    private readonly metrics: OperatorMetrics,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** Null once the document is written; otherwise why it is not. */
  async write(document: OperatorStatusDto): Promise<string | null> {
    try {
      await this.writer.put(this.configMapFor(document));
      this.metrics.statusWritten('success', this.clock.now());
      return null;
    } catch (error) {
      this.metrics.statusWritten('error', this.clock.now());
      return describeKubeError(`write ConfigMap ${this.config.namespace}/${STATUS_CONFIGMAP_NAME}`, error);
    }
  }

  private configMapFor(document: OperatorStatusDto): OwnedConfigMap {
    return {
      metadata: { name: STATUS_CONFIGMAP_NAME, namespace: this.config.namespace, labels: { ...STATUS_LABELS } },
      data: { [STATUS_CONFIGMAP_KEY]: JSON.stringify(document) },
    };
  }
}
