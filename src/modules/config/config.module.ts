import { DynamicModule, Global, Module } from '@nestjs/common';
import { OperatorConfig } from './operator-config';

/**
 * Provides the validated OperatorConfig to every module. main.ts loads it before the
 * application is created, so an invalid value stops the boot with one clear line.
 */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: OperatorConfig): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: OperatorConfig, useValue: config }],
      exports: [OperatorConfig],
    };
  }
}
