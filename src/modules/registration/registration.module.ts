import { Module } from '@nestjs/common';
import { KubernetesModule } from '../kubernetes/kubernetes.module';
import { LeaderElectionModule } from '../leader-election/leader-election.module';
import { MetricsModule } from '../metrics/metrics.module';
import { StatusModule } from '../status/status.module';
import { ApiKeySource } from './api-key.source';
import { RegistrationClient, registrationHttpModule } from './registration.client';
import { RegistrationStateStore } from './registration-state.store';
import { RegistrationService } from './registration.service';

@Module({
  imports: [StatusModule, KubernetesModule, LeaderElectionModule, MetricsModule, registrationHttpModule()],
  providers: [ApiKeySource, RegistrationClient, RegistrationStateStore, RegistrationService],
  exports: [RegistrationService],
})
export class RegistrationModule {}
