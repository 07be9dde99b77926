import { Injectable, Logger } from '@nestjs/common';
import { OperatorConfig } from '../config/operator-config';
import { EventRecorder } from '../kubernetes/event.recorder';
import { StatusComposer } from '../status/status.composer';
import { StatusSchedule } from '../status/status.schedule';
import { ApiKeyReading } from './api-key.source';
import { Narration } from './registration-narration';
import { registrationPolicy, RegistrationState, viewOf } from './registration-state';
import { effectiveSettings } from './server-settings';

/**
 * Tells the rest of the operator what became of the registration: the status feature what its
 * document shows and the interval to write it at (kube9-server's while its registration holds),
 * and people a story (registration-narration.ts) as one log line and, if any, one Event.
 */
@Injectable()
export class RegistrationReporter {
  private readonly logger = new Logger(RegistrationReporter.name);
  /** Clamped server settings already warned about: each is logged once, not on every answer. */
  private readonly warned = new Set<string>();

  constructor(
    private readonly config: OperatorConfig,
    private readonly composer: StatusComposer,
    private readonly schedule: StatusSchedule,
    private readonly events: EventRecorder,
  ) {}

  /**
   * The server's settings while its registration holds (registered or resumed), each clamped
   * into range and warned about once; the operator's own for any it left out, and otherwise.
   * Then the registration as the status document shows it.
   */
  tellStatus(state: RegistrationState | undefined, key: ApiKeyReading): void {
    const server = state?.registered ? state.serverConfiguration : undefined;
    const settings = effectiveSettings(server, registrationPolicy(this.config).own);
    for (const clamped of settings.clamped) {
      if (this.warned.has(clamped)) continue;
      this.warned.add(clamped);
      this.logger.warn(clamped);
    }
    this.schedule.setIntervalSeconds(settings.statusUpdateIntervalSeconds);
    this.composer.setRegistration(viewOf(state, key.configured, key.problem));
  }

  /** Logs the story's line at its level and records its Event, if it has one. */
  narrate(narration: Narration | undefined): void {
    if (!narration) return;
    this.logger[narration.level](narration.line);
    const { event } = narration;
    if (event) void this.events.record(event.type, event.reason, event.note);
  }
}
