import { Global, Module } from '@nestjs/common';
import { NamedTimers } from './named-timers.service';

@Global()
@Module({ providers: [NamedTimers], exports: [NamedTimers] })
export class CommonModule {}
