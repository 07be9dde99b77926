import { Inject, Injectable } from '@nestjs/common';
import { Clock, CLOCK } from '../../common/clock';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import { OperatorMetrics } from '../metrics/operator-metrics.service';
import { OperatorStatusDto } from './dto/operator-status.dto';
import { followerView } from './follower-view';
import { LeaderStatusWatch } from './leader-status.watch';
import { StatusLoopRecord } from './status-loop.record';
import { StatusService } from './status.service';

/**
 * The document this replica serves on `GET /api/v1/status` (SPEC sections 2 and 9): the leader
 * its own (StatusService), a follower the leader's as its watch delivered it (follower-view.ts).
 * Tells the metrics which document it serves each time that can change.
 */
@Injectable()
export class StatusView {
  constructor(
    private readonly status: StatusService,
    private readonly leaderStatus: LeaderStatusWatch,
    private readonly leadership: LeaderElectionService,
    private readonly loop: StatusLoopRecord,
    private readonly metrics: OperatorMetrics,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {
    status.onChange(() => this.announce());
    leaderStatus.onChange(() => {
      if (!this.leadership.isLeader()) this.announce();
    });
  }

  /**
   * The document as readers see it now: the one last written, or the current one when writing
   * fails. A follower serves the leader's document as its watch delivered it, and nothing
   * (undefined: see unavailableReason) until the watch has delivered one: never its own
   * document, which would show this replica's mode as the cluster's.
   */
  current(): OperatorStatusDto | undefined {
    if (this.leadership.isLeader()) return this.status.ownDocument();
    return followerView({
      watched: this.leaderStatus.latest(),
      lost: this.leaderStatus.watchLost(),
      nowMs: this.clock.now(),
      graceMs: this.loop.read().intervalSeconds * 1000,
    });
  }

  /** Why current() has no document: a follower that has not seen the leader's yet. */
  unavailableReason(): string {
    return this.leaderStatus.problem();
  }

  /**
   * Tells the metrics which document this replica serves now: after each write (leader), when
   * the leader's document arrives and on each loop run (follower), and on losing the Lease.
   */
  private announce(): void {
    const served = this.current();
    if (served) this.metrics.statusServed(served);
  }
}
