import { Module } from '@nestjs/common';
import { KubernetesModule } from '../kubernetes/kubernetes.module';
import { LeaderElectionService } from './leader-election.service';

/** The Lease election; every feature that writes asks LeaderElectionService.isLeader() first. */
@Module({
  imports: [KubernetesModule],
  providers: [LeaderElectionService],
  exports: [LeaderElectionService],
})
export class LeaderElectionModule {}
