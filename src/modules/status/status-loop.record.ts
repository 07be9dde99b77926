import { Injectable } from '@nestjs/common';

/** What the probes may know of the status loop (SPEC section 4). Times are epoch milliseconds. */
export interface StatusLoopSnapshot {
  /** When the loop was scheduled (application bootstrap); undefined before. */
  startedAt?: number;
  /** When a status document was first computed and its write attempted. */
  firstRunAt?: number;
  /** When the loop last computed a document and attempted its write. */
  lastRunAt?: number;
  /** The interval the loop runs at now: set from the configuration, then from kube9-server's. The one holder of it. */
  intervalSeconds: number;
}

/**
 * The narrow read model between the status loop and the health probes: StatusSchedule writes
 * it, the probes read a snapshot. Nothing in it needs an API call.
 */
@Injectable()
export class StatusLoopRecord {
  private snapshot: StatusLoopSnapshot = { intervalSeconds: 0 };

  read(): Readonly<StatusLoopSnapshot> {
    return this.snapshot;
  }

  started(at: number): void {
    this.snapshot = { ...this.snapshot, startedAt: at };
  }

  ran(at: number): void {
    this.snapshot = { ...this.snapshot, firstRunAt: this.snapshot.firstRunAt ?? at, lastRunAt: at };
  }

  intervalChanged(intervalSeconds: number): void {
    this.snapshot = { ...this.snapshot, intervalSeconds };
  }
}
