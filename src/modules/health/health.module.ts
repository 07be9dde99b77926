import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { StatusModule } from '../status/status.module';
import { HealthController } from './health.controller';
import { StatusLoopHealthIndicator } from './status-loop.health';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), StatusModule],
  controllers: [HealthController],
  providers: [StatusLoopHealthIndicator],
})
export class HealthModule {}
