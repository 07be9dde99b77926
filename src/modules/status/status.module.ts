import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { LeaderStatusWatch } from './leader-status.watch';
import { StatusController } from './status.controller';
import { StatusLoopHealthIndicator } from './status-loop.health';
import { StatusLoopRecord } from './status-loop.record';
import { StatusService } from './status.service';

@Module({
  imports: [TerminusModule],
  controllers: [StatusController],
  providers: [StatusService, StatusLoopRecord, LeaderStatusWatch, StatusLoopHealthIndicator],
  exports: [StatusService, StatusLoopHealthIndicator],
})
export class StatusModule {}
