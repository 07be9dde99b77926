import { Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import { StatusService } from '../status/status.service';

/** Down while the latest status write to the Kubernetes API failed; the reason is the API's. */
@Injectable()
export class KubeApiHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly status: StatusService,
    private readonly leadership: LeaderElectionService,
  ) {}

  check(key: string) {
    const indicator = this.indicators.check(key);
    if (!this.leadership.isLeader()) return indicator.up({ role: 'follower' });
    const { error } = this.status.writeRecord;
    return error === null ? indicator.up() : indicator.down({ reason: error });
  }
}
