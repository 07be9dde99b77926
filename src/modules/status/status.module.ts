import { Module } from '@nestjs/common';
import { LeaderStatusWatch } from './leader-status.watch';
import { StatusController } from './status.controller';
import { StatusLoopRecord } from './status-loop.record';
import { StatusService } from './status.service';

@Module({
  controllers: [StatusController],
  providers: [StatusService, StatusLoopRecord, LeaderStatusWatch],
  exports: [StatusService, StatusLoopRecord],
})
export class StatusModule {}
