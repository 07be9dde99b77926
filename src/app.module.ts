import { DynamicModule, Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { CommonModule } from './common/common.module';
import { ConfigModule } from './modules/config/config.module';
import { OperatorConfig } from './modules/config/operator-config';
import { HealthModule } from './modules/health/health.module';
import { KubernetesModule } from './modules/kubernetes/kubernetes.module';
import { LeaderElectionModule } from './modules/leader-election/leader-election.module';
import { MetricsModule } from './modules/metrics/metrics.module';
import { RegistrationModule } from './modules/registration/registration.module';
import { StatusModule } from './modules/status/status.module';

@Module({})
export class AppModule {
  static forRoot(config: OperatorConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        ScheduleModule.forRoot(),
        CommonModule,
        KubernetesModule,
        LeaderElectionModule,
        MetricsModule,
        StatusModule,
        RegistrationModule,
        HealthModule,
      ],
    };
  }
}
