import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { V1Secret } from '@kubernetes/client-node';
import { backoffDelay } from '../../common/backoff';
import { NamedTimers } from '../../common/named-timers';
import { describeKubeError, kubeStatusCode } from './kube-errors';
import { KubernetesClients } from './kubernetes-clients';
import {
  KUBERNETES_CLIENTS,
  SECRET_WATCH_BACKOFF,
  SECRET_WATCH_INACTIVITY_TIMEOUT_MS,
  SECRET_WATCH_TIMEOUT_SECONDS,
} from './kubernetes.constants';

/** What is known of a watched Secret. */
export type SecretState =
  | { kind: 'present'; secret: V1Secret }
  | { kind: 'absent' }
  /** It could not be read: refused (403 …), or unreachable before it was ever read. */
  | { kind: 'unreadable'; reason: string };

export interface SecretRef {
  namespace: string;
  name: string;
}

/**
 * Follows one Secret by name: a read, then a watch (field selector on its name, bookmarks,
 * resumed from the last resourceVersion; re-read when the server has moved past it), with a
 * backoff while it keeps failing. Every change goes to onChange. A briefly unreachable API
 * server does not change what is known of the Secret: the last state is kept and the watch
 * retried; a refusal, or a Secret never read at all, is reported as unreadable.
 */
@Injectable()
export class SecretWatcher implements OnApplicationShutdown {
  private readonly watches = new Set<SecretWatch>();

  constructor(
    @Inject(KUBERNETES_CLIENTS) private readonly kube: KubernetesClients,
    private readonly timers: NamedTimers,
  ) {}

  /** Resolves with the first state once the Secret has been read (or found unreadable). */
  async watch(ref: SecretRef, onChange: (state: SecretState) => void): Promise<SecretState> {
    const watch = new SecretWatch(ref, this.kube, this.timers, onChange);
    this.watches.add(watch);
    return watch.start();
  }

  onApplicationShutdown(): void {
    for (const watch of this.watches) watch.stop();
    this.watches.clear();
  }
}

class SecretWatch {
  private readonly logger = new Logger(SecretWatcher.name);
  private readonly timer: string;
  private state?: SecretState;
  private resourceVersion?: string;
  private abort?: AbortController;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly ref: SecretRef,
    private readonly kube: KubernetesClients,
    private readonly timers: NamedTimers,
    private readonly onChange: (state: SecretState) => void,
  ) {
    this.timer = `secret-watch:${ref.namespace}/${ref.name}`;
  }

  private get description(): string {
    return `${this.ref.namespace}/${this.ref.name}`;
  }

  async start(): Promise<SecretState> {
    try {
      await this.read();
    } catch (error) {
      this.onEnd(error);
      return this.state!;
    }
    if (!this.stopped) await this.open();
    return this.state!;
  }

  stop(): void {
    this.stopped = true;
    this.timers.clear(this.timer);
    this.abort?.abort();
  }

  private async read(): Promise<void> {
    try {
      const secret = await this.kube.core.readNamespacedSecret({ name: this.ref.name, namespace: this.ref.namespace });
      this.resourceVersion = secret.metadata?.resourceVersion;
      this.update({ kind: 'present', secret });
    } catch (error) {
      this.resourceVersion = undefined;
      const code = kubeStatusCode(error);
      if (code === 404) return this.update({ kind: 'absent' });
      const transient = code === undefined || code >= 500;
      if (!(transient && this.state && this.state.kind !== 'unreadable')) {
        this.update({ kind: 'unreadable', reason: describeKubeError(`read Secret ${this.description}`, error) });
      }
      throw error;
    }
  }

  private update(next: SecretState): void {
    this.state = next;
    this.onChange(next);
  }

  private async open(): Promise<void> {
    const path = `/api/v1/namespaces/${this.ref.namespace}/secrets`;
    const query = {
      fieldSelector: `metadata.name=${this.ref.name}`,
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: true,
      timeoutSeconds: SECRET_WATCH_TIMEOUT_SECONDS,
    };
    try {
      const watch = this.kube.watch();
      Object.assign(watch, { requestTimeoutMs: SECRET_WATCH_INACTIVITY_TIMEOUT_MS });
      this.abort = await watch.watch(
        path,
        query,
        (phase: string, object: V1Secret) => this.onEvent(phase, object),
        (error: unknown) => this.onEnd(error),
      );
    } catch (error) {
      this.onEnd(error);
    }
  }

  private onEvent(phase: string, object: V1Secret): void {
    this.failures = 0;
    if (phase === 'ERROR') {
      this.resourceVersion = undefined;
      return;
    }
    if (object?.metadata?.resourceVersion) this.resourceVersion = object.metadata.resourceVersion;
    if (phase === 'BOOKMARK')
      this.logger.verbose(
        `Bookmark of the watch of Secret ${this.description} at resourceVersion ${this.resourceVersion}`,
      );
    if (phase === 'ADDED' || phase === 'MODIFIED') this.update({ kind: 'present', secret: object });
    if (phase === 'DELETED') this.update({ kind: 'absent' });
  }

  /** Ends normally after SECRET_WATCH_TIMEOUT_SECONDS or with an error; either way it comes back (after 1 s at least). */
  private onEnd(error: unknown): void {
    if (this.stopped) return;
    if (error && !(error instanceof Error && error.name === 'AbortError')) {
      this.failures += 1;
      if (this.failures === 1)
        this.logger.warn(
          `Watch of Secret ${this.description} ended: ${describeKubeError(`watch Secret ${this.description}`, error)}`,
        );
      this.resourceVersion = undefined;
    }
    const delay = error ? backoffDelay(Math.max(1, this.failures), SECRET_WATCH_BACKOFF) : SECRET_WATCH_BACKOFF.baseMs;
    this.timers.after(this.timer, delay, () => this.restart());
  }

  private async restart(): Promise<void> {
    if (this.stopped) return;
    if (this.resourceVersion === undefined) {
      try {
        await this.read();
      } catch (error) {
        this.onEnd(error);
        return;
      }
    }
    await this.open();
  }
}
