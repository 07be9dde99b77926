import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { KubernetesModule } from '../kubernetes/kubernetes.module';
import { LeaderElectionModule } from '../leader-election/leader-election.module';
import { MetricsModule } from '../metrics/metrics.module';
import { LeaderStatusWatch } from './leader-status.watch';
import { StatusComposer } from './status.composer';
import { StatusConfigMapWriter } from './status-configmap.writer';
import { StatusController } from './status.controller';
import { StatusLoopHealthIndicator } from './status-loop.health';
import { StatusLoopRecord } from './status-loop.record';
import { StatusSchedule } from './status.schedule';
import { StatusService } from './status.service';
import { StatusView } from './status.view';

/**
 * The status feature: StatusComposer builds the document, StatusService writes it on the
 * StatusSchedule through the StatusConfigMapWriter, StatusView says what REST serves. The
 * registration module tells the composer the registration and the schedule kube9-server's interval.
 */
@Module({
  imports: [TerminusModule, KubernetesModule, LeaderElectionModule, MetricsModule],
  controllers: [StatusController],
  providers: [
    StatusComposer,
    StatusSchedule,
    StatusConfigMapWriter,
    StatusService,
    StatusView,
    StatusLoopRecord,
    LeaderStatusWatch,
    StatusLoopHealthIndicator,
  ],
  exports: [StatusComposer, StatusSchedule, StatusLoopHealthIndicator],
})
export class StatusModule {}
