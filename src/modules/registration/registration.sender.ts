import { Injectable } from '@nestjs/common';
import { OPERATOR_VERSION } from '../../common/operator-version';
import { OperatorConfig } from '../config/operator-config';
import { ClusterFactsService } from '../kubernetes/cluster-facts.service';
import { describeKubeError } from '../kubernetes/kube-errors';
import { OperatorMetrics } from '../metrics/operator-metrics.service';
import { RegistrationRequestDto } from './dto/registration-request.dto';
import { RegistrationClient } from './registration.client';
import { attemptOutcomeLabel, RegistrationOutcome } from './registration-outcome';
import { requestFingerprint } from './registration-state';

/** One registration request and its answer. */
export interface SentRegistration {
  outcome: RegistrationOutcome;
  /** requestFingerprint of the request sent; undefined when none left (the cluster facts were unreadable). */
  request?: string;
}

/**
 * What a registration sends (SPEC section 3): the body from the cluster facts, posted by the
 * RegistrationClient; each attempt that left counted in the metrics by its outcome.
 */
@Injectable()
export class RegistrationSender {
  constructor(
    private readonly config: OperatorConfig,
    private readonly facts: ClusterFactsService,
    private readonly client: RegistrationClient,
    private readonly metrics: OperatorMetrics,
  ) {}

  /** Registers with `key` now. Never throws. */
  async send(key: string): Promise<SentRegistration> {
    const sent = await this.sendRequest(key);
    const label = attemptOutcomeLabel(sent.outcome);
    if (label) this.metrics.registrationAttempted(label);
    return sent;
  }

  /** requestFingerprint of the request that would be sent now; undefined when the cluster facts cannot be read. */
  async currentRequest(): Promise<string | undefined> {
    const body = await this.requestBody().catch(() => undefined);
    return body && requestFingerprint(this.config.serverUrl, body);
  }

  private async sendRequest(key: string): Promise<SentRegistration> {
    let body: RegistrationRequestDto;
    try {
      body = await this.requestBody();
    } catch (error) {
      const reason = `${describeKubeError('read the cluster facts for registration', error)}; retrying with backoff`;
      return { outcome: { kind: 'transient', failure: 'not_sent', reason } };
    }
    const request = requestFingerprint(this.config.serverUrl, body);
    return { outcome: await this.client.register(key, body), request };
  }

  private async requestBody(): Promise<RegistrationRequestDto> {
    return {
      operatorVersion: OPERATOR_VERSION,
      clusterIdentifier: this.facts.clusterIdentifier(),
      kubernetesVersion: await this.facts.kubernetesVersion(),
      approximateNodeCount: await this.facts.approximateNodeCount(),
    };
  }
}
