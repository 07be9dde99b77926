import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Clock, CLOCK } from '../../common/clock';
import { OperatorConfig } from '../config/operator-config';
import { ApiKeyReading } from './api-key.source';
import { narrateAttempt } from './registration-narration';
import { RegistrationOutcome } from './registration-outcome';
import {
  applyOutcome,
  delayUntilAllowed,
  registrationPolicy,
  RegistrationState,
  withAttempt,
} from './registration-state';
import { RegistrationStateStore } from './registration-state.store';
import { RegistrationReporter } from './registration.reporter';
import { RegistrationSchedule } from './registration.schedule';
import { RegistrationSender } from './registration.sender';

/**
 * The registration attempts for the key in use: each when it is due, never more than 10 an hour,
 * every answer applied as the SPEC's answer table says (registration-state.ts), saved in the
 * state ConfigMap, told (RegistrationReporter) and followed by the next attempt's schedule.
 * RegistrationService says which key and state to work from.
 */
@Injectable()
export class RegistrationAttemptLoop implements OnApplicationShutdown {
  private readonly logger = new Logger(RegistrationAttemptLoop.name);
  private reading: ApiKeyReading = { problem: null, configured: false };
  private current?: RegistrationState;
  /** Bumped on every key change, so an answer to a request made with an older key is ignored. */
  private generation = 0;
  private attempting = false;
  private stopped = false;

  constructor(
    private readonly config: OperatorConfig,
    private readonly schedule: RegistrationSchedule,
    private readonly sender: RegistrationSender,
    private readonly store: RegistrationStateStore,
    private readonly reporter: RegistrationReporter,
    @Inject(CLOCK) private readonly clock: Clock,
  ) {}

  /** The key reading the attempts work from. */
  get key(): ApiKeyReading {
    return this.reading;
  }

  /** The registration state; undefined before a key was ever configured. */
  get state(): RegistrationState | undefined {
    return this.current;
  }

  /**
   * Works from this key and state from now on: an answer still out for the previous ones is
   * ignored, the status told, and the next attempt scheduled (none without a key).
   */
  use(reading: ApiKeyReading, state: RegistrationState | undefined): void {
    this.generation += 1;
    this.reading = reading;
    this.current = state;
    if (!reading.key) this.unschedule();
    this.reporter.tellStatus(state, reading);
    if (!reading.key || !state) return;
    this.scheduleAt(state.nextAttemptAt ?? this.clock.now());
    if (state.rejectedRequest) void this.retryIfRequestChanged(this.generation);
  }

  /** This replica leads (again): the next attempt is scheduled when it is due. */
  resume(): void {
    if (this.current && this.reading.key) this.scheduleAt(this.current.nextAttemptAt ?? this.clock.now());
  }

  /** This replica no longer leads: nothing scheduled, and an answer still out is ignored. */
  pause(): void {
    this.generation += 1;
    this.unschedule();
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    this.unschedule();
  }

  /**
   * SPEC section 3: a request rejected with a 400 is sent again as soon as what it depends on has
   * changed (the server URL, the operator version, the cluster's version or node count), not
   * only when the key does. Looked at when the saved state is resumed (a restart, an upgrade).
   */
  private async retryIfRequestChanged(generation: number): Promise<void> {
    const rejected = this.current?.rejectedRequest;
    const request = await this.sender.currentRequest();
    if (!request || !rejected || generation !== this.generation || this.current?.rejectedRequest !== rejected) return;
    if (request === rejected) return;
    this.logger.log(
      'The server URL or the request has changed since kube9-server rejected it (400): registering again',
    );
    this.current = { ...this.current, rejectedRequest: undefined, nextAttemptAt: this.clock.now() };
    this.scheduleAt(this.current.nextAttemptAt!);
  }

  private scheduleAt(at: number): void {
    if (this.stopped) return;
    this.schedule.at(at, () => this.attemptIfDue());
  }

  private unschedule(): void {
    this.schedule.clear();
  }

  private async attemptIfDue(): Promise<void> {
    const state = this.current;
    if (!state || !this.reading.key || this.stopped) return;
    // Due while an attempt for an earlier key is still out: look again when it is back.
    if (this.attempting) return this.scheduleAt(this.clock.now() + 1_000);
    const now = this.clock.now();
    if (state.nextAttemptAt !== undefined && state.nextAttemptAt > now) return this.scheduleAt(state.nextAttemptAt);
    const wait = delayUntilAllowed(state.recentAttempts, now);
    if (wait > 0) {
      this.current = { ...state, nextAttemptAt: now + wait };
      this.logger.log(`Registration deferred ${Math.ceil(wait / 1000)} s to stay within 10 registrations per hour`);
      await this.store.save(this.current);
      return this.scheduleAt(this.current.nextAttemptAt!);
    }
    await this.attempt(this.reading.key, now);
  }

  private async attempt(key: string, now: number): Promise<void> {
    const generation = this.generation;
    this.attempting = true;
    try {
      this.current = withAttempt(this.current!, now);
      const { outcome, request } = await this.sender.send(key);
      if (generation !== this.generation || this.stopped) return;
      this.settle(outcome, request);
    } finally {
      this.attempting = false;
    }
    await this.store.save(this.current);
    this.scheduleAt(this.current.nextAttemptAt!);
  }

  /** Applies an answer: the new state, the status told, the story logged and recorded as an Event. */
  private settle(outcome: RegistrationOutcome, request: string | undefined): void {
    const before = this.current!;
    const after = {
      ...applyOutcome(before, outcome, this.clock.now(), registrationPolicy(this.config)),
      rejectedRequest: outcome.kind === 'rejected' ? request : undefined,
    };
    this.current = after;
    this.reporter.tellStatus(after, this.reading);
    this.reporter.narrate(narrateAttempt(before, after, outcome));
  }
}
