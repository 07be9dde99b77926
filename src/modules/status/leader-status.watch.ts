import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { V1ConfigMap } from '@kubernetes/client-node';
import { Clock, CLOCK } from '../../common/clock';
import { NamedTimers } from '../../common/named-timers';
import { OperatorConfig } from '../config/operator-config';
import { describeKubeError } from '../kubernetes/kube-errors';
import { KubernetesClients } from '../kubernetes/kubernetes-clients';
import { KUBERNETES_CLIENTS } from '../kubernetes/kubernetes.constants';
import { WatchLoop } from '../kubernetes/watch-loop';
import { OperatorStatusDto } from './dto/operator-status.dto';
import { WatchLoss } from './follower-view';
import { STATUS_CONFIGMAP_KEY, STATUS_CONFIGMAP_NAME } from './status.constants';

const WATCH_TIMER = 'leader-status-watch';

/**
 * With leader election on, every replica watches the status ConfigMap so that a follower serves
 * the leader's document from memory (no API request per GET), through the operator's one
 * WatchLoop. A watch opened without a resourceVersion starts with the current object, so a
 * re-opened watch needs no separate read.
 */
@Injectable()
export class LeaderStatusWatch implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(LeaderStatusWatch.name);
  private document?: OperatorStatusDto;
  private readonly listeners: Array<() => void> = [];
  private lastProblem = "This replica is a follower and has not seen the leader's status yet";
  private lost?: WatchLoss;
  private readonly loop: WatchLoop<V1ConfigMap>;

  constructor(
    private readonly config: OperatorConfig,
    timers: NamedTimers,
    @Inject(KUBERNETES_CLIENTS) kube: KubernetesClients,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    this.loop = new WatchLoop<V1ConfigMap>(kube, timers, {
      timer: WATCH_TIMER,
      path: `/api/v1/namespaces/${config.namespace}/configmaps`,
      query: () => ({ fieldSelector: `metadata.name=${STATUS_CONFIGMAP_NAME}`, allowWatchBookmarks: true }),
      onEvent: (phase, object) => this.onEvent(phase, object),
      onFailure: (error, failures) => {
        const reason = describeKubeError(`watch ConfigMap ${config.namespace}/${STATUS_CONFIGMAP_NAME}`, error);
        this.lost ??= { sinceMs: this.clock.now(), reason };
        if (failures === 1) this.logger.warn(reason);
      },
    });
  }

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
    if (this.config.leaderElection) void this.loop.open();
  }

  onApplicationShutdown(): void {
    this.loop.stop();
  }

  private onEvent(phase: string, object: V1ConfigMap): void {
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
}
