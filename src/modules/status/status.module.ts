import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { KubernetesModule } from '../kubernetes/kubernetes.module';
import { LeaderElectionModule } from '../leader-election/leader-election.module';
import { MetricsModule } from '../metrics/metrics.module';
import { LeaderStatusWatch } from './leader-status.watch';
import { StatusController } from './status.controller';
import { StatusLoopHealthIndicator } from './status-loop.health';
import { StatusLoopRecord } from './status-loop.record';
import { StatusService } from './status.service';

@Module({
  imports: [TerminusModule, KubernetesModule, LeaderElectionModule, MetricsModule],
  controllers: [StatusController],
  providers: [StatusService, StatusLoopRecord, LeaderStatusWatch, StatusLoopHealthIndicator],
  exports: [StatusService, StatusLoopHealthIndicator],
})
export class StatusModule {}
