import { Module } from '@nestjs/common';
import { LeaderStatusWatch } from './leader-status.watch';
import { StatusController } from './status.controller';
import { StatusService } from './status.service';

@Module({
  controllers: [StatusController],
  providers: [StatusService, LeaderStatusWatch],
  exports: [StatusService],
})
export class StatusModule {}
