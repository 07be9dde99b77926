import { Global, Module } from '@nestjs/common';
import { LeaderElectionService } from './leader-election.service';

/** The Lease election; every feature that writes asks LeaderElectionService.isLeader() first. */
@Global()
@Module({
  providers: [LeaderElectionService],
  exports: [LeaderElectionService],
})
export class LeaderElectionModule {}
