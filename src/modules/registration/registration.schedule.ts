import { Inject, Injectable } from '@nestjs/common';
import { Clock, CLOCK } from '../../common/clock';
import { NamedTimers } from '../../common/named-timers';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import { OperatorMetrics } from '../metrics/operator-metrics.service';
import { MAX_TIMER_MS, REGISTRATION_TIMER } from './registration.constants';

/**
 * The one place the next registration attempt is scheduled, and so the one that tells the
 * metrics when it is due. One timer; a wait longer than a Node timer can hold is taken in steps
 * (the work looks again when it runs). The work runs only while this replica leads.
 */
@Injectable()
export class RegistrationSchedule {
  constructor(
    private readonly timers: NamedTimers,
    private readonly metrics: OperatorMetrics,
    private readonly leadership: LeaderElectionService,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** Runs `work` at `atMs` (epoch ms; at once when past), replacing what was scheduled before. */
  at(atMs: number, work: () => Promise<void>): void {
    const delay = Math.min(Math.max(0, atMs - this.clock.now()), MAX_TIMER_MS);
    this.timers.after(REGISTRATION_TIMER, delay, () => (this.leadership.isLeader() ? work() : undefined));
    this.metrics.nextRegistrationAt(atMs);
  }

  /** No attempt is due any more. */
  clear(): void {
    this.timers.clear(REGISTRATION_TIMER);
    this.metrics.nextRegistrationAt(undefined);
  }
}
