import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { StatusLoopHealthIndicator } from '../status/status-loop.health';

/**
 * Kubernetes probes (SPEC section 4): 200 when up, 503 with the JSON reason when down. Neither
 * depends on the API server or kube9-server; the status document says how the cluster is.
 */
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly statusLoop: StatusLoopHealthIndicator,
  ) {}

  /** Answered at all: the event loop turns. Up: the status loop ran within 3 intervals. */
  @Get('healthz')
  @HealthCheck()
  liveness() {
    return this.health.check([() => this.statusLoop.isAlive('statusLoop')]);
  }

  /** Up once a first status has been computed; stays up while writes fail, so REST can say why. */
  @Get('readyz')
  @HealthCheck()
  readiness() {
    return this.health.check([() => this.statusLoop.isReady('status')]);
  }
}
