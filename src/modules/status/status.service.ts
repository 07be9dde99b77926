import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { backoffDelay } from '../../common/backoff';
import { Clock, CLOCK } from '../../common/clock';
import { NamedTimers } from '../../common/named-timers';
import { OPERATOR_VERSION } from '../../common/operator-version';
import { OperatorConfig } from '../config/operator-config';
import { ConfigMapWriter } from '../kubernetes/configmap.writer';
import { EVENT_REASONS, EventRecorder } from '../kubernetes/event.recorder';
import { describeKubeError } from '../kubernetes/kube-errors';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import { OperatorMetrics } from '../metrics/operator-metrics.service';
import { OperatorStatusDto } from './dto/operator-status.dto';
import { NO_REGISTRATION, RegistrationView } from './dto/registration-view.dto';
import { followerView } from './follower-view';
import { LeaderStatusWatch } from './leader-status.watch';
import { buildStatusDocument, differsForReaders } from './status-document';
import { StatusLoopRecord } from './status-loop.record';
import {
  SHUTDOWN_WRITE_TIMEOUT_MS,
  STATUS_CONFIGMAP_KEY,
  STATUS_CONFIGMAP_NAME,
  STATUS_LABELS,
  STATUS_PUBLISH_TIMER,
  STATUS_RETRY_TIMER,
  WRITE_RETRY_BASE_MS,
} from './status.constants';

/**
 * Publishes the status document: to the ConfigMap on start-up, every interval and within a
 * moment of any change a reader would notice; and to REST (current()). A write is one PUT of
 * the whole object (ConfigMapWriter). Failures are reported in the status (unhealthy) and
 * retried with backoff; they never escape to the process. Each run of the loop is noted in
 * the StatusLoopRecord, which the probes read.
 */
@Injectable()
export class StatusService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(StatusService.name);
  private registration: RegistrationView = NO_REGISTRATION;
  private published?: OperatorStatusDto;
  /** Why the latest status write failed; null when it succeeded (or none was attempted yet). */
  private writeError: string | null = null;
  private consecutiveWriteFailures = 0;
  private inFlight?: Promise<void>;
  private again = false;
  private stopped = false;

  constructor(
    private readonly config: OperatorConfig,
    private readonly timers: NamedTimers,
    private readonly writer: ConfigMapWriter,
    private readonly events: EventRecorder,
    private readonly loop: StatusLoopRecord,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly leadership: LeaderElectionService,
    private readonly leaderStatus: LeaderStatusWatch,
    private readonly metrics: OperatorMetrics,
  ) {
    loop.intervalChanged(config.statusUpdateIntervalSeconds);
    metrics.statusIntervalChanged(this.intervalSeconds);
    leadership.register({
      started: () => void this.publish(),
      stopped: () => {
        this.timers.clear(STATUS_RETRY_TIMER);
        this.published = undefined;
        this.writeError = null;
        this.announce();
      },
    });
    leaderStatus.onChange(() => {
      if (!this.leadership.isLeader()) this.announce();
    });
  }

  /** The interval the loop runs at now; the StatusLoopRecord is its one holder. */
  private get intervalSeconds(): number {
    return this.loop.read().intervalSeconds;
  }

  onApplicationBootstrap(): void {
    this.announce();
    this.loop.started(this.clock.now());
    this.timers.every(STATUS_PUBLISH_TIMER, this.intervalSeconds * 1000, () => this.publish());
    void this.publish();
  }

  /** Stops the schedule and writes a last status, within a bounded time. */
  async beforeApplicationShutdown(): Promise<void> {
    this.timers.clear(STATUS_PUBLISH_TIMER);
    this.timers.clear(STATUS_RETRY_TIMER);
    const last = this.publish().finally(() => (this.stopped = true));
    await Promise.race([last, new Promise((resolve) => setTimeout(resolve, SHUTDOWN_WRITE_TIMEOUT_MS).unref())]);
  }

  /**
   * The document as readers see it now: the one last written, or the current one when writing
   * fails. A follower serves the leader's document as its watch delivered it (SPEC section 9),
   * and nothing (undefined: see unavailableReason) until the watch has delivered one: never its
   * own document, which would show this replica's mode as the cluster's.
   */
  current(): OperatorStatusDto | undefined {
    if (!this.leadership.isLeader()) {
      return followerView({
        watched: this.leaderStatus.latest(),
        lost: this.leaderStatus.watchLost(),
        nowMs: this.clock.now(),
        graceMs: this.intervalSeconds * 1000,
      });
    }
    if (this.published && this.writeError === null) return this.published;
    return this.compose(this.writeError);
  }

  /** Why current() has no document: a follower that has not seen the leader's yet. */
  unavailableReason(): string {
    return this.leaderStatus.problem();
  }

  /** Called by the registration module on every change of its state. */
  setRegistration(view: RegistrationView): void {
    this.registration = view;
    if (differsForReaders(this.published, this.compose(null))) void this.publish();
  }

  /** A new interval (kube9-server's configuration) takes effect at once, without a restart. */
  setPublishIntervalSeconds(seconds: number): void {
    if (seconds === this.intervalSeconds) return;
    this.logger.log(`Status interval changed from ${this.intervalSeconds} s to ${seconds} s`);
    this.loop.intervalChanged(seconds);
    this.metrics.statusIntervalChanged(seconds);
    if (!this.stopped) this.timers.every(STATUS_PUBLISH_TIMER, seconds * 1000, () => this.publish());
  }

  /** Writes now; concurrent calls collapse into at most one more write after the one in flight. */
  publish(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.inFlight) {
      this.again = true;
      return this.inFlight;
    }
    this.inFlight = this.writeLoop().finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  private async writeLoop(): Promise<void> {
    do {
      this.again = false;
      await this.writeOnce();
    } while (this.again && !this.stopped);
  }

  private compose(kubernetesError: string | null): OperatorStatusDto {
    return buildStatusDocument({
      registration: this.registration,
      kubernetesError,
      version: OPERATOR_VERSION,
      namespace: this.config.namespace,
      now: new Date(this.clock.now()),
    });
  }

  /** The document written assumes the write succeeds; if it fails, readers learn why through REST. */
  private async writeOnce(): Promise<void> {
    this.loop.ran(this.clock.now());
    // A follower keeps its loop alive (liveness and readiness) but writes nothing; the leader's document is
    // served. What it serves can still change with time alone (a watch lost for over an interval), so it is
    // announced on each run as well.
    if (!this.leadership.isLeader()) {
      this.announce();
      return;
    }
    const document = this.compose(null);
    try {
      await this.writer.put(this.configMapFor(document));
      this.metrics.statusWritten('success', this.clock.now());
      this.recordSuccess(document);
    } catch (error) {
      this.metrics.statusWritten('error', this.clock.now());
      this.recordFailure(describeKubeError(`write ConfigMap ${this.config.namespace}/${STATUS_CONFIGMAP_NAME}`, error));
    }
    this.announce();
  }

  /**
   * Tells the metrics which document this replica serves now, each time that can change: after
   * each write (leader), when the leader's document arrives and on each loop run (follower), and on
   * losing the Lease.
   */
  private announce(): void {
    const served = this.current();
    if (served) this.metrics.statusServed(served);
  }

  private configMapFor(document: OperatorStatusDto) {
    return {
      metadata: { name: STATUS_CONFIGMAP_NAME, namespace: this.config.namespace, labels: { ...STATUS_LABELS } },
      data: { [STATUS_CONFIGMAP_KEY]: JSON.stringify(document) },
    };
  }

  private recordSuccess(document: OperatorStatusDto): void {
    const changed = differsForReaders(this.published, document);
    const previousTier = this.published?.tier;
    if (previousTier && previousTier !== document.tier) {
      void this.events.record(
        'Normal',
        EVENT_REASONS.TierChanged,
        `Tier changed from ${previousTier} to ${document.tier} (mode ${document.mode})`,
      );
    }
    const recovered = this.writeError !== null;
    this.published = document;
    this.writeError = null;
    this.consecutiveWriteFailures = 0;
    this.timers.clear(STATUS_RETRY_TIMER);
    if (recovered) this.logger.log('Status writes to the Kubernetes API work again');
    if (changed || recovered) this.logStatus(document);
  }

  private recordFailure(reason: string): void {
    const firstFailure = this.writeError === null;
    this.writeError = reason;
    this.consecutiveWriteFailures += 1;
    if (firstFailure) {
      this.logger.error(reason);
      this.logStatus(this.compose(reason));
    } else {
      this.logger.debug(`Status write failed again (${this.consecutiveWriteFailures} in a row): ${reason}`);
    }
    if (this.stopped) return;
    const delay = backoffDelay(this.consecutiveWriteFailures, {
      baseMs: WRITE_RETRY_BASE_MS,
      capMs: this.intervalSeconds * 1000,
      jitter: 0.5,
    });
    this.timers.after(STATUS_RETRY_TIMER, delay, () => this.publish());
  }

  private logStatus(document: OperatorStatusDto): void {
    const error = document.error ? `: ${document.error}` : '';
    this.logger.log(
      `Status: mode=${document.mode} tier=${document.tier} health=${document.health} registered=${document.registered}${error}`,
    );
  }
}
