import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { StatusModule } from '../status/status.module';
import { HealthController } from './health.controller';
import { KubeApiHealthIndicator } from './kube-api.health';
import { StatusWriteHealthIndicator } from './status-write.health';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), StatusModule],
  controllers: [HealthController],
  providers: [KubeApiHealthIndicator, StatusWriteHealthIndicator],
})
export class HealthModule {}
