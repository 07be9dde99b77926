import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService } from '@nestjs/terminus';
import { Clock, CLOCK } from '../../common/clock';
import { StatusLoopRecord } from './status-loop.record';
import { liveness, ProbeVerdict, readiness } from './probe-rules';

/** The probes' one dependency: the status loop, read through its record (no API call). */
@Injectable()
export class StatusLoopHealthIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly loop: StatusLoopRecord,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  isAlive(key: string) {
    return this.report(key, liveness(this.loop.read(), this.clock.now()));
  }

  isReady(key: string) {
    return this.report(key, readiness(this.loop.read()));
  }

  private report(key: string, verdict: ProbeVerdict) {
    const indicator = this.indicators.check(key);
    return verdict.up ? indicator.up(verdict.details) : indicator.down({ reason: verdict.reason });
  }
}
