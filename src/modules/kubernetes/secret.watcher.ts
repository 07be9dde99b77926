import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { V1Secret } from '@kubernetes/client-node';
import { NamedTimers } from '../../common/named-timers';
import { describeKubeError, kubeStatusCode } from './kube-errors';
import { KubernetesClients } from './kubernetes-clients';
import { KUBERNETES_CLIENTS, SECRET_WATCH_TIMEOUT_SECONDS } from './kubernetes.constants';
import { WatchLoop } from './watch-loop';

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
  private readonly loop: WatchLoop<V1Secret>;
  private state?: SecretState;
  private resourceVersion?: string;
  private stopped = false;

  constructor(
    private readonly ref: SecretRef,
    private readonly kube: KubernetesClients,
    timers: NamedTimers,
    private readonly onChange: (state: SecretState) => void,
  ) {
    this.loop = new WatchLoop<V1Secret>(kube, timers, {
      timer: `secret-watch:${ref.namespace}/${ref.name}`,
      path: `/api/v1/namespaces/${ref.namespace}/secrets`,
      query: () => ({
        fieldSelector: `metadata.name=${ref.name}`,
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds: SECRET_WATCH_TIMEOUT_SECONDS,
      }),
      onEvent: (phase, object) => this.onEvent(phase, object),
      onFailure: (error, failures) => {
        if (failures === 1)
          this.logger.warn(
            `Watch of Secret ${this.description} ended: ${describeKubeError(`watch Secret ${this.description}`, error)}`,
          );
        this.resourceVersion = undefined;
      },
      // Resumed from the last resourceVersion; re-read when the server has moved past it.
      beforeReopen: () => (this.resourceVersion === undefined ? this.read() : Promise.resolve()),
    });
  }

  private get description(): string {
    return `${this.ref.namespace}/${this.ref.name}`;
  }

  async start(): Promise<SecretState> {
    try {
      await this.read();
    } catch (error) {
      this.loop.ended(error);
      return this.state!;
    }
    if (!this.stopped) await this.loop.open();
    return this.state!;
  }

  stop(): void {
    this.stopped = true;
    this.loop.stop();
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

  private onEvent(phase: string, object: V1Secret): void {
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
}
