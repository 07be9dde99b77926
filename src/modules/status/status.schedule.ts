import { Inject, Injectable, Logger } from '@nestjs/common';
import { backoffDelay } from '../../common/backoff';
import { Clock, CLOCK } from '../../common/clock';
import { NamedTimers } from '../../common/named-timers';
import { OperatorConfig } from '../config/operator-config';
import { OperatorMetrics } from '../metrics/operator-metrics.service';
import { StatusLoopRecord } from './status-loop.record';
import { STATUS_PUBLISH_TIMER, STATUS_RETRY_TIMER, WRITE_RETRY_BASE_MS } from './status.constants';

/**
 * When the status loop runs: every interval (the configuration's, then kube9-server's), and
 * after a failed write, with backoff up to one interval. It keeps the StatusLoopRecord the probes
 * read (the interval's one holder, and each run) and tells the metrics the interval.
 */
@Injectable()
export class StatusSchedule {
  private readonly logger = new Logger(StatusSchedule.name);
  private work?: () => Promise<void>;
  private stopped = false;

  constructor(
    config: OperatorConfig,
    private readonly timers: NamedTimers,
    private readonly loop: StatusLoopRecord,
    private readonly metrics: OperatorMetrics,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    loop.intervalChanged(config.statusUpdateIntervalSeconds);
    metrics.statusIntervalChanged(this.intervalSeconds);
  }

  /** The interval the loop runs at now; the StatusLoopRecord is its one holder. */
  get intervalSeconds(): number {
    return this.loop.read().intervalSeconds;
  }

  /** What each run does (StatusService.publish); given once, before start(). */
  runs(work: () => Promise<void>): void {
    this.work = work;
  }

  /** Runs the work every interval from now on (application bootstrap). */
  start(): void {
    this.loop.started(this.clock.now());
    this.every(this.intervalSeconds);
  }

  /** Notes a run of the loop (a document computed and its write attempted) for the probes. */
  ran(): void {
    this.loop.ran(this.clock.now());
  }

  /** A new interval (kube9-server's configuration) takes effect at once, without a restart. */
  setIntervalSeconds(seconds: number): void {
    if (seconds === this.intervalSeconds) return;
    this.logger.log(`Status interval changed from ${this.intervalSeconds} s to ${seconds} s`);
    this.loop.intervalChanged(seconds);
    this.metrics.statusIntervalChanged(seconds);
    this.every(seconds);
  }

  /** Runs the work again after the `failures`-th write failure in a row, with backoff capped at the interval. */
  retryAfter(failures: number): void {
    const work = this.work;
    if (this.stopped || !work) return;
    const delay = backoffDelay(failures, {
      baseMs: WRITE_RETRY_BASE_MS,
      capMs: this.intervalSeconds * 1000,
      jitter: 0.5,
    });
    this.timers.after(STATUS_RETRY_TIMER, delay, work);
  }

  /** A write succeeded, or this replica no longer writes: no retry pending. */
  cancelRetry(): void {
    this.timers.clear(STATUS_RETRY_TIMER);
  }

  /** Shutdown: nothing scheduled any more, and nothing scheduled again. */
  stop(): void {
    this.stopped = true;
    this.timers.clear(STATUS_PUBLISH_TIMER);
    this.timers.clear(STATUS_RETRY_TIMER);
  }

  private every(seconds: number): void {
    const work = this.work;
    if (this.stopped || !work) return;
    this.timers.every(STATUS_PUBLISH_TIMER, seconds * 1000, work);
  }
}
