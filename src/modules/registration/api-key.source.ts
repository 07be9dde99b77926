import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { V1Secret, Watch } from '@kubernetes/client-node';
import { backoffDelay } from '../../common/backoff';
import { NamedTimers } from '../../common/named-timers.service';
import { registerSecret } from '../../common/secret-redaction';
import { API_KEY_FORMAT, OperatorConfig } from '../config/operator-config';
import { describeKubeError, kubeStatusCode } from '../kubernetes/kube-errors';
import { KubernetesClients } from '../kubernetes/kubernetes-clients';
import { KUBERNETES_CLIENTS } from '../kubernetes/kubernetes.constants';
import { KEY_WATCH_BACKOFF, KEY_WATCH_TIMER } from './registration.constants';

/** The API key as last read: a valid key, no key, or why the key cannot be used. */
export interface ApiKeyReading {
  key?: string;
  /** Set when a key is present but unusable, or when it could not be read at all. */
  problem: string | null;
  /** Whether a key is configured (present, even if malformed). */
  configured: boolean;
}

/** The API server ends the watch after this long; it is then resumed from its resourceVersion. */
const WATCH_TIMEOUT_SECONDS = 1800;
/**
 * client-node's Watch aborts a watch that receives nothing for 30 s. A quiet Secret sends
 * nothing but bookmarks (about one a minute), so that would re-open the watch twice a minute.
 * Five minutes still finds a dead connection, without extra requests in the steady state.
 */
const WATCH_INACTIVITY_TIMEOUT_MS = 5 * 60_000;

/**
 * Reads the API key from the one Secret named in the configuration, through the Kubernetes
 * API, and watches that Secret (by name) so that adding, rotating or removing the key takes
 * effect within seconds. A watch that ends is re-established from the last resourceVersion,
 * or from a fresh read when the server has moved past it. API_KEY in the environment
 * replaces the Secret for local runs. The key is registered for redaction the moment it is read.
 */
@Injectable()
export class ApiKeySource implements OnApplicationShutdown {
  private readonly logger = new Logger(ApiKeySource.name);
  private reading: ApiKeyReading = { problem: null, configured: false };
  private listener: (reading: ApiKeyReading) => void = () => undefined;
  private resourceVersion?: string;
  /** The Secret has been read (or found absent) at least once. */
  private known = false;
  private watchAbort?: AbortController;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly config: OperatorConfig,
    @Inject(KUBERNETES_CLIENTS) private readonly kube: KubernetesClients,
    private readonly timers: NamedTimers,
  ) {}

  get secretRef(): string {
    return `${this.config.namespace}/${this.config.apiKeySecretName}`;
  }

  /** Reads the key once and, for a Secret, starts watching it; later changes go to onChange. */
  async start(onChange: (reading: ApiKeyReading) => void): Promise<ApiKeyReading> {
    if (this.config.apiKey !== undefined) {
      registerSecret(this.config.apiKey);
      this.reading = { key: this.config.apiKey, problem: null, configured: true };
      return this.reading;
    }
    try {
      await this.readSecret();
    } catch (error) {
      this.listener = onChange;
      this.onWatchEnd(error);
      return this.reading;
    }
    this.listener = onChange;
    if (!this.stopped) await this.watch();
    return this.reading;
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    this.watchAbort?.abort();
  }

  private async readSecret(): Promise<void> {
    try {
      const secret = await this.kube.core.readNamespacedSecret({ name: this.config.apiKeySecretName, namespace: this.config.namespace });
      this.resourceVersion = secret.metadata?.resourceVersion;
      this.update(this.readingOf(secret));
      this.known = true;
    } catch (error) {
      this.resourceVersion = undefined;
      const code = kubeStatusCode(error);
      if (code === 404) {
        this.known = true;
        this.update({ problem: null, configured: false });
        return;
      }
      // An API server that is briefly away does not change the key: keep the last reading and
      // retry. Refusals (403) and a key never read at all are reported.
      const transient = code === undefined || code >= 500;
      if (!(transient && this.known)) {
        this.update({ problem: `${describeKubeError(`read Secret ${this.secretRef}`, error)}; the tier cannot be determined`, configured: false });
      }
      throw error;
    }
  }

  private readingOf(secret: V1Secret | undefined): ApiKeyReading {
    const encoded = secret?.data?.[this.config.apiKeySecretKey];
    if (secret && encoded === undefined) {
      return { problem: `Secret ${this.secretRef} has no key "${this.config.apiKeySecretKey}"; set API_KEY_SECRET_KEY (existingSecretKey in the chart) to the key that holds the API key`, configured: false };
    }
    if (encoded === undefined) return { problem: null, configured: false };
    const key = Buffer.from(encoded, 'base64').toString('utf8').trim();
    registerSecret(key);
    if (key === '') return { problem: null, configured: false };
    if (!API_KEY_FORMAT.test(key)) {
      return { problem: `The API key in Secret ${this.secretRef} (key "${this.config.apiKeySecretKey}") is malformed: it must have the form kdy_prod_… or kdy_dev_… (lowercase letters and digits after the prefix)`, configured: true };
    }
    return { key, problem: null, configured: true };
  }

  private update(next: ApiKeyReading): void {
    const same = next.key === this.reading.key && next.problem === this.reading.problem && next.configured === this.reading.configured;
    this.reading = next;
    if (!same) this.listener(next);
  }

  private async watch(): Promise<void> {
    const path = `/api/v1/namespaces/${this.config.namespace}/secrets`;
    const query = {
      fieldSelector: `metadata.name=${this.config.apiKeySecretName}`,
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: WATCH_TIMEOUT_SECONDS,
    };
    try {
      const watch = new Watch(this.kube.kubeConfig);
      Object.assign(watch, { requestTimeoutMs: WATCH_INACTIVITY_TIMEOUT_MS });
      this.watchAbort = await watch.watch(
        path,
        query,
        (phase, object: V1Secret) => this.onWatchEvent(phase, object),
        (error: unknown) => this.onWatchEnd(error),
      );
    } catch (error) {
      this.onWatchEnd(error);
    }
  }

  private onWatchEvent(phase: string, object: V1Secret & { code?: number }): void {
    this.failures = 0;
    if (phase === 'ERROR') {
      this.resourceVersion = undefined;
      return;
    }
    if (object?.metadata?.resourceVersion) this.resourceVersion = object.metadata.resourceVersion;
    if (phase === 'BOOKMARK') this.logger.verbose(`Bookmark of the Secret watch at resourceVersion ${this.resourceVersion}`);
    if (phase === 'ADDED' || phase === 'MODIFIED') this.update(this.readingOf(object));
    if (phase === 'DELETED') this.update({ problem: null, configured: false });
  }

  /** Ends normally after WATCH_TIMEOUT_SECONDS or with an error; either way it comes back (after 1 s at least). */
  private onWatchEnd(error: unknown): void {
    if (this.stopped) return;
    if (error && !(error instanceof Error && error.name === 'AbortError')) {
      this.failures += 1;
      if (this.failures === 1) this.logger.warn(`Watch of Secret ${this.secretRef} ended: ${describeKubeError('watch the API key Secret', error)}`);
      this.resourceVersion = undefined;
    }
    const delay = error ? backoffDelay(Math.max(1, this.failures), KEY_WATCH_BACKOFF) : KEY_WATCH_BACKOFF.baseMs;
    this.timers.after(KEY_WATCH_TIMER, delay, () => this.restart());
  }

  private async restart(): Promise<void> {
    if (this.stopped) return;
    if (this.resourceVersion === undefined) {
      try {
        await this.readSecret();
      } catch (error) {
        this.onWatchEnd(error);
        return;
      }
    }
    await this.watch();
  }
}
