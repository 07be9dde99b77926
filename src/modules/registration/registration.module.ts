import { Module } from '@nestjs/common';
import { StatusModule } from '../status/status.module';
import { ApiKeySource } from './api-key.source';
import { RegistrationClient, registrationHttpModule } from './registration.client';
import { RegistrationStateStore } from './registration-state.store';
import { RegistrationService } from './registration.service';

@Module({
  imports: [StatusModule, registrationHttpModule()],
  providers: [ApiKeySource, RegistrationClient, RegistrationStateStore, RegistrationService],
  exports: [RegistrationService],
})
export class RegistrationModule {}
