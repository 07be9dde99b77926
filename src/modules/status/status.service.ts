import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { EVENT_REASONS, EventRecorder } from '../kubernetes/event.recorder';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import { OperatorStatusDto } from './dto/operator-status.dto';
import { differsForReaders } from './status-document';
import { StatusComposer } from './status.composer';
import { StatusConfigMapWriter } from './status-configmap.writer';
import { StatusSchedule } from './status.schedule';
import { SHUTDOWN_WRITE_TIMEOUT_MS } from './status.constants';

/**
 * The status write loop: publish() writes the document the StatusComposer builds to its
 * ConfigMap on start-up, at each tick of the StatusSchedule and within a moment of any change a
 * reader would notice. Failures are kept (the document then says unhealthy, and why), logged
 * once and retried with backoff; they never escape to the process. A replica that does not lead
 * runs its loop (the probes watch it) but writes nothing. What REST serves is StatusView's.
 */
@Injectable()
export class StatusService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(StatusService.name);
  private published?: OperatorStatusDto;
  /** Why the latest status write failed; null when it succeeded (or none was attempted yet). */
  private writeError: string | null = null;
  private consecutiveWriteFailures = 0;
  private inFlight?: Promise<void>;
  private again = false;
  private stopped = false;
  private readonly listeners: Array<() => void> = [];

  constructor(
    private readonly composer: StatusComposer,
    private readonly schedule: StatusSchedule,
    private readonly writer: StatusConfigMapWriter,
    private readonly events: EventRecorder,
    private readonly leadership: LeaderElectionService,
  ) {
    schedule.runs(() => this.publish());
    leadership.register({
      started: () => void this.publish(),
      stopped: () => {
        this.schedule.cancelRetry();
        this.published = undefined;
        this.writeError = null;
        this.changed();
      },
    });
    composer.onChange(() => {
      if (differsForReaders(this.published, this.composer.compose(null))) void this.publish();
    });
  }

  onApplicationBootstrap(): void {
    this.changed();
    this.schedule.start();
    void this.publish();
  }

  /** Stops the schedule and writes a last status, within a bounded time. */
  async beforeApplicationShutdown(): Promise<void> {
    this.schedule.stop();
    const last = this.publish().finally(() => (this.stopped = true));
    await Promise.race([last, new Promise((resolve) => setTimeout(resolve, SHUTDOWN_WRITE_TIMEOUT_MS).unref())]);
  }

  /**
   * This replica's own document: the one last written, or the current one while writing fails
   * (unhealthy, saying why). A leader serves it; a follower serves the leader's (StatusView).
   */
  ownDocument(): OperatorStatusDto {
    if (this.published && this.writeError === null) return this.published;
    return this.composer.compose(this.writeError);
  }

  /**
   * Called each time what this replica serves may have changed: at bootstrap, after each run of
   * the loop (a write, or a follower's run, whose served document can change with time alone),
   * and on losing the Lease.
   */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
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

  /** The document written assumes the write succeeds; if it fails, readers learn why through REST. */
  private async writeOnce(): Promise<void> {
    this.schedule.ran();
    // A follower keeps its loop alive (liveness and readiness) but writes nothing; the leader's document is served.
    if (!this.leadership.isLeader()) {
      this.changed();
      return;
    }
    const document = this.composer.compose(null);
    const failure = await this.writer.write(document);
    if (failure === null) this.written(document);
    else this.writeFailed(failure);
    this.changed();
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  private written(document: OperatorStatusDto): void {
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
    this.schedule.cancelRetry();
    if (recovered) this.logger.log('Status writes to the Kubernetes API work again');
    if (changed || recovered) this.logStatus(document);
  }

  private writeFailed(reason: string): void {
    const firstFailure = this.writeError === null;
    this.writeError = reason;
    this.consecutiveWriteFailures += 1;
    if (firstFailure) {
      this.logger.error(reason);
      this.logStatus(this.composer.compose(reason));
    } else {
      this.logger.debug(`Status write failed again (${this.consecutiveWriteFailures} in a row): ${reason}`);
    }
    this.schedule.retryAfter(this.consecutiveWriteFailures);
  }

  private logStatus(document: OperatorStatusDto): void {
    const error = document.error ? `: ${document.error}` : '';
    this.logger.log(
      `Status: mode=${document.mode} tier=${document.tier} health=${document.health} registered=${document.registered}${error}`,
    );
  }
}
