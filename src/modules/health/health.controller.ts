import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { KubeApiHealthIndicator } from './kube-api.health';
import { StatusWriteHealthIndicator } from './status-write.health';

/** Kubernetes probes: 200 when up, 503 with the JSON reason when down. */
@Controller()
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly kubeApi: KubeApiHealthIndicator,
    private readonly statusWrite: StatusWriteHealthIndicator,
  ) {}

  @Get('healthz')
  @HealthCheck()
  liveness() {
    return this.health.check([() => this.statusWrite.isLooping('statusLoop')]);
  }

  /** The configuration is valid by construction: the process does not start otherwise. */
  @Get('readyz')
  @HealthCheck()
  readiness() {
    return this.health.check([() => this.kubeApi.check('kubernetesApi'), () => this.statusWrite.isFresh('statusWrite')]);
  }
}
