import { Module } from '@nestjs/common';
import { KubernetesModule } from '../kubernetes/kubernetes.module';
import { LeaderElectionModule } from '../leader-election/leader-election.module';
import { MetricsModule } from '../metrics/metrics.module';
import { StatusModule } from '../status/status.module';
import { ApiKeySource } from './api-key.source';
import { RegistrationAttemptLoop } from './registration-attempt.loop';
import { RegistrationClient, registrationHttpModule } from './registration.client';
import { RegistrationReporter } from './registration.reporter';
import { RegistrationSchedule } from './registration.schedule';
import { RegistrationSender } from './registration.sender';
import { RegistrationStateStore } from './registration-state.store';
import { RegistrationService } from './registration.service';

/**
 * The registration feature: RegistrationService follows the key and leadership, the
 * RegistrationAttemptLoop makes the attempts (RegistrationSender) on the RegistrationSchedule,
 * and the RegistrationReporter tells the status, the log and the Events.
 */
@Module({
  imports: [StatusModule, KubernetesModule, LeaderElectionModule, MetricsModule, registrationHttpModule()],
  providers: [
    ApiKeySource,
    RegistrationClient,
    RegistrationStateStore,
    RegistrationSender,
    RegistrationSchedule,
    RegistrationReporter,
    RegistrationAttemptLoop,
    RegistrationService,
  ],
  exports: [RegistrationService],
})
export class RegistrationModule {}
