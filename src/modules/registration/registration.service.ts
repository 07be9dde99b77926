import { Inject, Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { Clock, CLOCK } from '../../common/clock';
import { NamedTimers } from '../../common/named-timers';
import { OPERATOR_VERSION } from '../../common/operator-version';
import { OperatorConfig } from '../config/operator-config';
import { ClusterFactsService } from '../kubernetes/cluster-facts.service';
import { EVENT_REASONS, EventRecorder } from '../kubernetes/event.recorder';
import { describeKubeError } from '../kubernetes/kube-errors';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import { OperatorMetrics } from '../metrics/operator-metrics.service';
import { StatusService } from '../status/status.service';
import { ApiKeyReading, ApiKeySource } from './api-key.source';
import { RegistrationRequestDto } from './dto/registration-request.dto';
import { RegistrationClient } from './registration.client';
import { narrateAttempt } from './registration-narration';
import { attemptOutcomeLabel, RegistrationOutcome } from './registration-outcome';
import {
  applyOutcome,
  delayUntilAllowed,
  initialState,
  RegistrationPolicy,
  registrationPolicy,
  RegistrationState,
  requestFingerprint,
  viewOf,
  withAttempt,
} from './registration-state';
import { RegistrationStateStore } from './registration-state.store';
import { MAX_TIMER_MS, REGISTRATION_TIMER } from './registration.constants';
import { effectiveSettings } from './server-settings';

/**
 * Owns the registration with kube9-server: follows the API key, registers, re-registers and
 * retries as the SPEC's answer table says, never more than 10 times an hour, keeps its state
 * in a ConfigMap, applies the server's configuration, tells the status and records Events.
 */
@Injectable()
export class RegistrationService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RegistrationService.name);
  private key: ApiKeyReading = { problem: null, configured: false };
  private state?: RegistrationState;
  /** Bumped on every key change, so an answer to a request made with an older key is ignored. */
  private generation = 0;
  private attempting = false;
  private stopped = false;
  /** Clamped server settings already warned about: each is logged once, not on every answer. */
  private readonly warned = new Set<string>();
  private keysStarted = false;
  /** requestFingerprint of the request last sent. */
  private sentRequest?: string;

  constructor(
    private readonly config: OperatorConfig,
    private readonly keys: ApiKeySource,
    private readonly client: RegistrationClient,
    private readonly store: RegistrationStateStore,
    private readonly facts: ClusterFactsService,
    private readonly status: StatusService,
    private readonly events: EventRecorder,
    private readonly timers: NamedTimers,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly leadership: LeaderElectionService,
    private readonly metrics: OperatorMetrics,
  ) {}

  private get policy(): RegistrationPolicy {
    return registrationPolicy(this.config);
  }

  /**
   * Runs before the first status write, so the first document already knows about the key. With
   * leader election, only the leader registers: it resumes from the state its predecessor saved.
   */
  async onModuleInit(): Promise<void> {
    if (!this.leadership.enabled) return this.resume();
    this.leadership.register({
      prepare: () => this.resume(),
      started: () => {
        if (this.state && this.key.key) this.scheduleAt(this.state.nextAttemptAt ?? this.clock.now());
      },
      stopped: () => {
        this.generation += 1;
        this.unschedule();
      },
    });
  }

  /** Reads the key and the saved state afresh (on start-up, and each time this replica starts leading). */
  private async resume(): Promise<void> {
    const reading = this.keysStarted ? this.key : await this.keys.start((next) => this.onKey(next));
    this.keysStarted = true;
    const saved = reading.key ? await this.store.load() : undefined;
    this.key = { problem: null, configured: false };
    this.state = undefined;
    this.onKey(reading, saved);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    this.unschedule();
  }

  private onKey(reading: ApiKeyReading, saved?: RegistrationState): void {
    const previous = this.key;
    this.key = reading;
    if (!reading.key) {
      this.generation += 1;
      this.unschedule();
      const hadKey = previous.configured;
      this.state = this.state ? { ...initialState(''), recentAttempts: this.state.recentAttempts } : undefined;
      this.applyServerConfiguration();
      this.tellStatus();
      if (reading.problem) {
        this.logger.warn(reading.problem);
        if (reading.configured) void this.events.record('Warning', EVENT_REASONS.ApiKeyRejected, reading.problem);
      } else if (hadKey) {
        this.logger.log('API key removed: free tier');
        void this.events.record(
          'Normal',
          EVENT_REASONS.ApiKeyChanged,
          'API key removed; the operator runs in the free tier',
        );
      }
      return;
    }
    const fingerprint = this.store.fingerprint(reading.key, this.facts.clusterIdentifier());
    if (this.state?.keyFingerprint === fingerprint) return;
    this.generation += 1;
    const recentAttempts = this.state?.recentAttempts ?? saved?.recentAttempts ?? [];
    if (saved?.keyFingerprint === fingerprint) {
      this.state = saved;
      this.logger.log(`Resuming the saved registration state (registered=${saved.registered})`);
    } else {
      this.state = { ...initialState(fingerprint), recentAttempts };
      if (previous.configured)
        void this.events.record(
          'Normal',
          EVENT_REASONS.ApiKeyChanged,
          'API key changed; registering with kube9-server',
        );
      this.logger.log('API key configured: registering with kube9-server');
    }
    this.applyServerConfiguration();
    this.tellStatus();
    this.scheduleAt(this.state.nextAttemptAt ?? this.clock.now());
    if (this.state.rejectedRequest) void this.retryIfRequestChanged(this.generation);
  }

  /**
   * SPEC section 3: a request rejected with a 400 is sent again as soon as what it depends on has
   * changed (the server URL, the operator version, the cluster's version or node count), not
   * only when the key does. Looked at when the saved state is resumed (a restart, an upgrade).
   */
  private async retryIfRequestChanged(generation: number): Promise<void> {
    const rejected = this.state?.rejectedRequest;
    const body = await this.requestBody().catch(() => undefined);
    if (!body || !rejected || generation !== this.generation || this.state?.rejectedRequest !== rejected) return;
    if (requestFingerprint(this.config.serverUrl, body) === rejected) return;
    this.logger.log(
      'The server URL or the request has changed since kube9-server rejected it (400): registering again',
    );
    this.state = { ...this.state, rejectedRequest: undefined, nextAttemptAt: this.clock.now() };
    this.scheduleAt(this.state.nextAttemptAt!);
  }

  /** The one place the next attempt is scheduled (and so the one that tells the metrics when). */
  private scheduleAt(at: number): void {
    if (this.stopped) return;
    const delay = Math.min(Math.max(0, at - this.clock.now()), MAX_TIMER_MS);
    this.timers.after(REGISTRATION_TIMER, delay, () => this.attemptIfDue());
    this.metrics.nextRegistrationAt(at);
  }

  private unschedule(): void {
    this.timers.clear(REGISTRATION_TIMER);
    this.metrics.nextRegistrationAt(undefined);
  }

  private async attemptIfDue(): Promise<void> {
    const state = this.state;
    if (!state || !this.key.key || this.stopped || !this.leadership.isLeader()) return;
    // Due while an attempt for an earlier key is still out: look again when it is back.
    if (this.attempting) return this.scheduleAt(this.clock.now() + 1_000);
    const now = this.clock.now();
    if (state.nextAttemptAt !== undefined && state.nextAttemptAt > now) return this.scheduleAt(state.nextAttemptAt);
    const wait = delayUntilAllowed(state.recentAttempts, now);
    if (wait > 0) {
      this.state = { ...state, nextAttemptAt: now + wait };
      this.logger.log(`Registration deferred ${Math.ceil(wait / 1000)} s to stay within 10 registrations per hour`);
      await this.store.save(this.state);
      return this.scheduleAt(this.state.nextAttemptAt!);
    }
    await this.attempt(this.key.key, now);
  }

  private async attempt(key: string, now: number): Promise<void> {
    const generation = this.generation;
    this.attempting = true;
    try {
      this.state = withAttempt(this.state!, now);
      const outcome = await this.register(key);
      const label = attemptOutcomeLabel(outcome);
      if (label) this.metrics.registrationAttempted(label);
      if (generation !== this.generation || this.stopped) return;
      this.settle(outcome);
    } finally {
      this.attempting = false;
    }
    await this.store.save(this.state);
    this.scheduleAt(this.state.nextAttemptAt!);
  }

  private async requestBody(): Promise<RegistrationRequestDto> {
    return {
      operatorVersion: OPERATOR_VERSION,
      clusterIdentifier: this.facts.clusterIdentifier(),
      kubernetesVersion: await this.facts.kubernetesVersion(),
      approximateNodeCount: await this.facts.approximateNodeCount(),
    };
  }

  private async register(key: string): Promise<RegistrationOutcome> {
    let body: RegistrationRequestDto;
    try {
      body = await this.requestBody();
      this.sentRequest = requestFingerprint(this.config.serverUrl, body);
    } catch (error) {
      return {
        kind: 'transient',
        failure: 'not_sent',
        reason: `${describeKubeError('read the cluster facts for registration', error)}; retrying with backoff`,
      };
    }
    return this.client.register(key, body);
  }

  /** Applies an answer: the new state, the status told, the story logged and recorded as an Event. */
  private settle(outcome: RegistrationOutcome): void {
    const before = this.state!;
    const after = {
      ...applyOutcome(before, outcome, this.clock.now(), this.policy),
      rejectedRequest: outcome.kind === 'rejected' ? this.sentRequest : undefined,
    };
    this.state = after;
    this.applyServerConfiguration();
    this.tellStatus();
    const { level, line, event } = narrateAttempt(before, after, outcome);
    this.logger[level](line);
    if (event) void this.events.record(event.type, event.reason, event.note);
  }

  /**
   * The server's settings while its registration holds (registered or resumed), each clamped
   * into range and warned about once; the operator's own for any it left out, and otherwise.
   */
  private applyServerConfiguration(): void {
    const server = this.state?.registered ? this.state.serverConfiguration : undefined;
    const settings = effectiveSettings(server, this.policy.own);
    for (const clamped of settings.clamped) {
      if (this.warned.has(clamped)) continue;
      this.warned.add(clamped);
      this.logger.warn(clamped);
    }
    this.status.setPublishIntervalSeconds(settings.statusUpdateIntervalSeconds);
  }

  /** Tells the status feature what it shows of the registration. */
  private tellStatus(): void {
    this.status.setRegistration(viewOf(this.state, this.key.configured, this.key.problem));
  }
}
