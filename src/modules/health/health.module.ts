import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { StatusModule } from '../status/status.module';
import { HealthController } from './health.controller';

/** The probes' controller; the status feature owns and exports the indicator it asks. */
@Module({
  imports: [TerminusModule.forRoot({ logger: false }), StatusModule],
  controllers: [HealthController],
})
export class HealthModule {}
