import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { V1ConfigMap } from '@kubernetes/client-node';
import { backoffDelay } from '../../common/backoff';
import { Clock, CLOCK } from '../../common/clock';
import { NamedTimers } from '../../common/named-timers';
import { OperatorConfig } from '../config/operator-config';
import { describeKubeError } from '../kubernetes/kube-errors';
import { KubernetesClients } from '../kubernetes/kubernetes-clients';
import { KUBERNETES_CLIENTS } from '../kubernetes/kubernetes.constants';
import { OperatorStatusDto } from './dto/operator-status.dto';
import { WatchLoss } from './follower-view';
import { STATUS_CONFIGMAP_KEY, STATUS_CONFIGMAP_NAME } from './status.constants';

const WATCH_TIMER = 'leader-status-watch';
const WATCH_BACKOFF = { baseMs: 1_000, capMs: 30_000, jitter: 0.2 };
/** The status changes at least every 240 s; a watch silent for longer than this is re-opened. */
const WATCH_INACTIVITY_TIMEOUT_MS = 5 * 60_000;

/**
 * With leader election on, every replica watches the status ConfigMap so that a follower serves
 * the leader's document from memory (no API request per GET). A watch opened without a
 * resourceVersion starts with the current object, so a re-opened watch needs no separate read.
 */
@Injectable()
export class LeaderStatusWatch implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(LeaderStatusWatch.name);
  private document?: OperatorStatusDto;
  private readonly listeners: Array<() => void> = [];
  private lastProblem = "This replica is a follower and has not seen the leader's status yet";
  private abort?: AbortController;
  private failures = 0;
  private stopped = false;
  private lost?: WatchLoss;

  constructor(
    private readonly config: OperatorConfig,
    private readonly timers: NamedTimers,
    @Inject(KUBERNETES_CLIENTS) private readonly kube: KubernetesClients,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** The document the leader wrote last, as this replica saw it. */
  latest(): OperatorStatusDto | undefined {
    return this.document;
  }

  /** Called after each change of latest() or problem(). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Why there is no document, for a follower's answer before it has seen one (with why the watch fails, if it does). */
  problem(): string {
    return this.lost ? `${this.lastProblem}: ${this.lost.reason}` : this.lastProblem;
  }

  /** Since when, and why, the watch has failed without an event since; undefined while it works. */
  watchLost(): WatchLoss | undefined {
    return this.lost;
  }

  onApplicationBootstrap(): void {
    if (this.config.leaderElection) void this.watch();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    this.timers.clear(WATCH_TIMER);
    this.abort?.abort();
  }

  private async watch(): Promise<void> {
    const path = `/api/v1/namespaces/${this.config.namespace}/configmaps`;
    const query = { fieldSelector: `metadata.name=${STATUS_CONFIGMAP_NAME}`, allowWatchBookmarks: true };
    try {
      const watch = this.kube.watch();
      Object.assign(watch, { requestTimeoutMs: WATCH_INACTIVITY_TIMEOUT_MS });
      this.abort = await watch.watch(
        path,
        query,
        (phase: string, object: V1ConfigMap) => this.onEvent(phase, object),
        (error: unknown) => this.onEnd(error),
      );
    } catch (error) {
      this.onEnd(error);
    }
  }

  private onEvent(phase: string, object: V1ConfigMap): void {
    this.failures = 0;
    this.lost = undefined;
    if (phase === 'DELETED') this.document = undefined;
    else if (phase === 'ADDED' || phase === 'MODIFIED') this.document = this.documentIn(object);
    else return;
    for (const listener of this.listeners) listener();
  }

  private documentIn(object: V1ConfigMap): OperatorStatusDto | undefined {
    try {
      return JSON.parse(object.data?.[STATUS_CONFIGMAP_KEY] ?? '') as OperatorStatusDto;
    } catch {
      this.lastProblem = `ConfigMap ${this.config.namespace}/${STATUS_CONFIGMAP_NAME} holds no status document`;
      return undefined;
    }
  }

  private onEnd(error: unknown): void {
    if (this.stopped) return;
    if (error && !(error instanceof Error && error.name === 'AbortError')) {
      this.failures += 1;
      const reason = describeKubeError(`watch ConfigMap ${this.config.namespace}/${STATUS_CONFIGMAP_NAME}`, error);
      this.lost ??= { sinceMs: this.clock.now(), reason };
      if (this.failures === 1) this.logger.warn(reason);
    }
    const delay = error ? backoffDelay(Math.max(1, this.failures), WATCH_BACKOFF) : WATCH_BACKOFF.baseMs;
    this.timers.after(WATCH_TIMER, delay, () => this.watch());
  }
}
