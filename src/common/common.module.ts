import { Global, Module } from '@nestjs/common';
import { CLOCK, SYSTEM_CLOCK } from './clock';
import { NamedTimers } from './named-timers';

@Global()
@Module({
  providers: [NamedTimers, { provide: CLOCK, useValue: SYSTEM_CLOCK }],
  exports: [NamedTimers, CLOCK],
})
export class CommonModule {}
