import { Injectable, Logger } from '@nestjs/common';
import { scryptSync } from 'node:crypto';
import { OperatorConfig } from '../config/operator-config';
import { ConfigMapWriter } from '../kubernetes/configmap.writer';
import { LeaseTimeUpError } from '../kubernetes/leader-write';
import { describeKubeError } from '../kubernetes/kube-errors';
import { RegistrationState } from './registration-state';
import { parseSavedState, toJson } from './saved-state';
import { STATE_CONFIGMAP_KEY, STATE_CONFIGMAP_NAME, STATE_LABELS } from './registration.constants';

/**
 * Keeps the registration state in the ConfigMap `kube9-operator-state` (its format:
 * saved-state.ts). Written only when the state changes, so it adds nothing to the
 * steady-state request rate.
 */
@Injectable()
export class RegistrationStateStore {
  private readonly logger = new Logger(RegistrationStateStore.name);

  constructor(
    private readonly config: OperatorConfig,
    private readonly writer: ConfigMapWriter,
  ) {}

  /** A slow, salted one-way fingerprint: enough to tell keys apart, useless to recover one. */
  fingerprint(key: string, clusterIdentifier: string): string {
    return `scrypt:${scryptSync(key, `kube9-operator:${clusterIdentifier}`, 16).toString('hex')}`;
  }

  async load(): Promise<RegistrationState | undefined> {
    try {
      const data = await this.writer.read(this.config.namespace, STATE_CONFIGMAP_NAME);
      if (!data) return undefined;
      const text = data[STATE_CONFIGMAP_KEY];
      const reading =
        text === undefined ? { problem: `it has no key "${STATE_CONFIGMAP_KEY}"` } : parseSavedState(text);
      if ('state' in reading) return reading.state;
      // Said once, at start-up; the next save replaces the ConfigMap with a fresh state.
      this.logger.warn(
        `ConfigMap ${this.config.namespace}/${STATE_CONFIGMAP_NAME} holds no usable registration state (${reading.problem}); starting from a fresh state, which replaces it`,
      );
      return undefined;
    } catch (error) {
      this.logger.warn(
        `${describeKubeError(`read ConfigMap ${this.config.namespace}/${STATE_CONFIGMAP_NAME}`, error)}; starting without the saved registration state`,
      );
      return undefined;
    }
  }

  async save(state: RegistrationState): Promise<void> {
    try {
      await this.writer.put({
        metadata: { name: STATE_CONFIGMAP_NAME, namespace: this.config.namespace, labels: { ...STATE_LABELS } },
        data: { [STATE_CONFIGMAP_KEY]: toJson(state) },
      });
    } catch (error) {
      // The Lease was lost meanwhile: the successor saves its own state (WriteFence).
      if (error instanceof LeaseTimeUpError) return this.logger.debug(`state not saved: ${error.message}`);
      this.logger.warn(
        `${describeKubeError(`write ConfigMap ${this.config.namespace}/${STATE_CONFIGMAP_NAME}`, error)}; a restart would not resume this registration state`,
      );
    }
  }
}
