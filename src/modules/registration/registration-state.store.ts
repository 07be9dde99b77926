import { Injectable, Logger } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { scryptSync } from 'node:crypto';
import { OperatorConfig } from '../config/operator-config';
import { ConfigMapWriter } from '../kubernetes/configmap.writer';
import { describeKubeError } from '../kubernetes/kube-errors';
import { ServerConfigurationDto } from './dto/registration-response.dto';
import { RegistrationState } from './registration-state';
import { CLUSTER_ID_FORMAT, STATE_CONFIGMAP_KEY, STATE_CONFIGMAP_NAME, STATE_LABELS } from './registration.constants';

const TIME_FIELDS = ['lastAttemptAt', 'lastSuccessAt', 'nextAttemptAt'] as const;

/**
 * Keeps the registration state in the ConfigMap `kube9-operator-state`, with times as ISO
 * strings so an administrator can read when the next attempt is due. Written only when the
 * state changes, so it adds nothing to the steady-state request rate.
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
      const text = data?.[STATE_CONFIGMAP_KEY];
      return text ? fromJson(text) : undefined;
    } catch (error) {
      this.logger.warn(`${describeKubeError(`read ConfigMap ${this.config.namespace}/${STATE_CONFIGMAP_NAME}`, error)}; starting without the saved registration state`);
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
      this.logger.warn(`${describeKubeError(`write ConfigMap ${this.config.namespace}/${STATE_CONFIGMAP_NAME}`, error)}; a restart would not resume this registration state`);
    }
  }
}

export function toJson(state: RegistrationState): string {
  const plain: Record<string, unknown> = { ...state, recentAttempts: state.recentAttempts.map(iso) };
  for (const field of TIME_FIELDS) if (state[field] !== undefined) plain[field] = iso(state[field]);
  return JSON.stringify(plain);
}

/** A saved state, or undefined when it is not one this version can trust. */
export function fromJson(text: string): RegistrationState | undefined {
  try {
    const plain = JSON.parse(text) as Record<string, unknown>;
    if (typeof plain.keyFingerprint !== 'string' || typeof plain.registered !== 'boolean') return undefined;
    const state = {
      ...plain,
      recentAttempts: Array.isArray(plain.recentAttempts) ? plain.recentAttempts.map((at) => Date.parse(String(at))).filter(Number.isFinite) : [],
      consecutiveTransientFailures: Number(plain.consecutiveTransientFailures) || 0,
      refused: plain.refused === true,
      error: typeof plain.error === 'string' ? plain.error : null,
    } as unknown as RegistrationState;
    state.serverConfiguration = trustedConfiguration(plain.serverConfiguration);
    if (typeof state.clusterId !== 'string' || !CLUSTER_ID_FORMAT.test(state.clusterId)) {
      state.clusterId = undefined;
      state.registered = false;
    }
    for (const field of TIME_FIELDS) {
      const value = plain[field];
      state[field] = typeof value === 'string' && Number.isFinite(Date.parse(value)) ? Date.parse(value) : undefined;
    }
    return state;
  } catch {
    return undefined;
  }
}

/** The saved server configuration passes the same rules as a fresh answer, or is dropped. */
function trustedConfiguration(value: unknown): ServerConfigurationDto | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const configuration = plainToInstance(ServerConfigurationDto, value);
  return validateSync(configuration).length === 0 ? configuration : undefined;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
