import { Injectable } from '@nestjs/common';
import { V1Secret } from '@kubernetes/client-node';
import { registerSecret } from '../../common/secret-redaction';
import { API_KEY_FORMAT, API_KEY_FORMAT_RULE } from '../config/config.constants';
import { OperatorConfig } from '../config/operator-config';
import { SecretState, SecretWatcher } from '../kubernetes/secret.watcher';

/** The API key as last read: a valid key, no key, or why the key cannot be used. */
export interface ApiKeyReading {
  key?: string;
  /** Set when a key is present but unusable, or when it could not be read at all. */
  problem: string | null;
  /** Whether a key is configured (present, even if malformed). */
  configured: boolean;
}

/**
 * The API key: from the one Secret named in the configuration, followed through the
 * kubernetes module's SecretWatcher so that adding, rotating or removing the key takes effect
 * within seconds; or from API_KEY in the environment for local runs. This class reads the key
 * out of the Secret and judges it; the key is registered for redaction the moment it is read.
 */
@Injectable()
export class ApiKeySource {
  private reading: ApiKeyReading = { problem: null, configured: false };

  constructor(
    private readonly config: OperatorConfig,
    private readonly secrets: SecretWatcher,
  ) {}

  get secretRef(): string {
    return `${this.config.namespace}/${this.config.apiKeySecretName}`;
  }

  /** Reads the key once and, for a Secret, keeps following it; later changes go to onChange. */
  async start(onChange: (reading: ApiKeyReading) => void): Promise<ApiKeyReading> {
    if (this.config.apiKey !== undefined) {
      registerSecret(this.config.apiKey);
      this.reading = { key: this.config.apiKey, problem: null, configured: true };
      return this.reading;
    }
    let first = true;
    await this.secrets.watch({ namespace: this.config.namespace, name: this.config.apiKeySecretName }, (state) => {
      const next = this.readingOf(state);
      const same =
        next.key === this.reading.key &&
        next.problem === this.reading.problem &&
        next.configured === this.reading.configured;
      this.reading = next;
      if (!first && !same) onChange(next);
      first = false;
    });
    return this.reading;
  }

  private readingOf(state: SecretState): ApiKeyReading {
    if (state.kind === 'absent') return { problem: null, configured: false };
    if (state.kind === 'unreadable')
      return { problem: `${state.reason}; the tier cannot be determined`, configured: false };
    return this.keyOf(state.secret);
  }

  private keyOf(secret: V1Secret): ApiKeyReading {
    const encoded = secret.data?.[this.config.apiKeySecretKey];
    if (encoded === undefined) {
      return {
        problem: `Secret ${this.secretRef} has no key "${this.config.apiKeySecretKey}"; set API_KEY_SECRET_KEY (existingSecretKey in the chart) to the key that holds the API key`,
        configured: false,
      };
    }
    const key = Buffer.from(encoded, 'base64').toString('utf8').trim();
    registerSecret(key);
    if (key === '') return { problem: null, configured: false };
    if (!API_KEY_FORMAT.test(key)) {
      return {
        problem: `The API key in Secret ${this.secretRef} (key "${this.config.apiKeySecretKey}") is malformed: it ${API_KEY_FORMAT_RULE}`,
        configured: true,
      };
    }
    return { key, problem: null, configured: true };
  }
}
