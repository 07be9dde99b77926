import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import { StatusService } from '../status/status.service';

/** How many status intervals may pass without a successful write before readiness is lost. */
const READY_WITHIN_INTERVALS = 2;
/** How many intervals may pass without any write attempt before the process counts as stuck. */
const ALIVE_WITHIN_INTERVALS = 3;

/**
 * Readiness: a status write succeeded within the last two intervals.
 * Liveness: the status loop still attempts writes (a stuck loop wants a restart).
 */
@Injectable()
export class StatusWriteHealthIndicator {
  private readonly startedAt = Date.now();

  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly status: StatusService,
    private readonly leadership: LeaderElectionService,
  ) {}

  isFresh(key: string) {
    const indicator = this.indicators.check(key);
    if (!this.leadership.isLeader()) return indicator.up({ role: 'follower' });
    const { lastSuccessAt } = this.status.writeRecord;
    if (!lastSuccessAt) return indicator.down({ reason: 'no status written yet' });
    const ageSeconds = (Date.now() - lastSuccessAt.getTime()) / 1000;
    const limit = READY_WITHIN_INTERVALS * this.status.interval;
    if (ageSeconds > limit) {
      return indicator.down({ reason: `last successful status write ${Math.round(ageSeconds)} s ago (limit ${limit} s)` });
    }
    return indicator.up({ lastWrite: lastSuccessAt.toISOString() });
  }

  isLooping(key: string) {
    const indicator = this.indicators.check(key);
    const last = this.status.writeRecord.lastAttemptAt?.getTime() ?? this.startedAt;
    const ageSeconds = (Date.now() - last) / 1000;
    const limit = ALIVE_WITHIN_INTERVALS * this.status.interval;
    if (ageSeconds > limit) return indicator.down({ reason: `no status write attempted for ${Math.round(ageSeconds)} s` });
    return indicator.up();
  }
}
