import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { NamedTimers } from '../../common/named-timers.service';
import { OPERATOR_VERSION } from '../../common/operator-version';
import { OperatorConfig } from '../config/operator-config';
import { ClusterFactsService } from '../kubernetes/cluster-facts.service';
import { EVENT_REASONS, EventRecorder } from '../kubernetes/event-recorder.service';
import { describeKubeError } from '../kubernetes/kube-errors';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import { StatusService } from '../status/status.service';
import { ApiKeyReading, ApiKeySource } from './api-key.source';
import { RegistrationRequestDto } from './dto/registration-request.dto';
import { RegistrationClient } from './registration.client';
import { RegistrationOutcome } from './registration-outcome';
import { applyOutcome, delayUntilAllowed, initialState, RegistrationState, viewOf, withAttempt } from './registration-state';
import { RegistrationStateStore } from './registration-state.store';
import { MAX_TIMER_MS, REGISTRATION_TIMER } from './registration.constants';

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
  private keysStarted = false;

  constructor(
    private readonly config: OperatorConfig,
    private readonly keys: ApiKeySource,
    private readonly client: RegistrationClient,
    private readonly store: RegistrationStateStore,
    private readonly facts: ClusterFactsService,
    private readonly status: StatusService,
    private readonly events: EventRecorder,
    private readonly timers: NamedTimers,
    private readonly leadership: LeaderElectionService,
  ) {}

  /**
   * Runs before the first status write, so the first document already knows about the key. With
   * leader election, only the leader registers: it resumes from the state its predecessor saved.
   */
  async onModuleInit(): Promise<void> {
    if (!this.leadership.enabled) return this.resume();
    this.leadership.register({
      prepare: () => this.resume(),
      started: () => this.state && this.key.key && this.scheduleAt(this.state.nextAttemptAt ?? Date.now()),
      stopped: () => {
        this.generation += 1;
        this.timers.clear(REGISTRATION_TIMER);
      },
    });
  }

  /** Reads the key and the saved state afresh (on start-up, and each time this replica starts leading). */
  private async resume(): Promise<void> {
    const reading = this.keysStarted ? this.key : await this.keys.start((next) => void this.onKey(next));
    this.keysStarted = true;
    const saved = reading.key ? await this.store.load() : undefined;
    this.key = { problem: null, configured: false };
    this.state = undefined;
    await this.onKey(reading, saved);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
    this.timers.clear(REGISTRATION_TIMER);
  }

  private async onKey(reading: ApiKeyReading, saved?: RegistrationState): Promise<void> {
    const previous = this.key;
    this.key = reading;
    if (!reading.key) {
      this.generation += 1;
      this.timers.clear(REGISTRATION_TIMER);
      const hadKey = previous.configured;
      this.state = this.state ? { ...initialState(''), recentAttempts: this.state.recentAttempts } : undefined;
      this.applyServerConfiguration();
      this.publish();
      if (reading.problem) {
        this.logger.warn(reading.problem);
        if (reading.configured) void this.events.record('Warning', EVENT_REASONS.ApiKeyRejected, reading.problem);
      } else if (hadKey) {
        this.logger.log('API key removed: free tier');
        void this.events.record('Normal', EVENT_REASONS.ApiKeyChanged, 'API key removed; the operator runs in the free tier');
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
      if (previous.configured) void this.events.record('Normal', EVENT_REASONS.ApiKeyChanged, 'API key changed; registering with kube9-server');
      this.logger.log('API key configured: registering with kube9-server');
    }
    this.applyServerConfiguration();
    this.publish();
    this.scheduleAt(this.state.nextAttemptAt ?? Date.now());
  }

  private scheduleAt(at: number): void {
    if (this.stopped) return;
    const delay = Math.min(Math.max(0, at - Date.now()), MAX_TIMER_MS);
    this.timers.after(REGISTRATION_TIMER, delay, () => this.attemptIfDue());
  }

  private async attemptIfDue(): Promise<void> {
    const state = this.state;
    if (!state || !this.key.key || this.stopped || !this.leadership.isLeader()) return;
    // Due while an attempt for an earlier key is still out: look again when it is back.
    if (this.attempting) return this.scheduleAt(Date.now() + 1_000);
    const now = Date.now();
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
      if (generation !== this.generation || this.stopped) return;
      this.record(outcome);
    } finally {
      this.attempting = false;
    }
    await this.store.save(this.state!);
    this.scheduleAt(this.state!.nextAttemptAt!);
  }

  private async register(key: string): Promise<RegistrationOutcome> {
    let body: RegistrationRequestDto;
    try {
      body = {
        operatorVersion: OPERATOR_VERSION,
        clusterIdentifier: this.facts.clusterIdentifier(),
        kubernetesVersion: await this.facts.kubernetesVersion(),
        approximateNodeCount: await this.facts.approximateNodeCount(),
      };
    } catch (error) {
      return { kind: 'transient', reason: `${describeKubeError('read the cluster facts for registration', error)}; retrying with backoff` };
    }
    return this.client.register(key, body);
  }

  private record(outcome: RegistrationOutcome): void {
    const before = this.state!;
    const after = applyOutcome(before, outcome, Date.now(), this.config.registrationBackoffBaseSeconds);
    this.state = after;
    this.applyServerConfiguration();
    this.publish();
    const next = after.nextAttemptAt ? new Date(after.nextAttemptAt).toISOString() : 'never';
    switch (outcome.kind) {
      case 'registered':
        this.logger.log(`Registered with kube9-server as ${after.clusterId} (${outcome.response.status}); next re-registration at ${next}`);
        if (!before.registered || before.error !== null) {
          void this.events.record('Normal', EVENT_REASONS.Registered, `Registered with kube9-server as ${after.clusterId}; tier pro`);
        }
        return;
      case 'refused':
      case 'rejected':
        this.logger.error(`${outcome.reason}; next attempt at ${next}${outcome.kind === 'rejected' && outcome.details ? `; details: ${outcome.details}` : ''}`);
        void this.events.record('Warning', EVENT_REASONS.ApiKeyRejected, outcome.reason);
        return;
      default:
        this.logger.warn(`${after.error}; next attempt at ${next}`);
        void this.events.record('Warning', EVENT_REASONS.RegistrationFailed, `${after.error}; next attempt at ${next}`);
    }
  }

  /** The server's configuration while it holds (registered or resumed); the operator's own otherwise. */
  private applyServerConfiguration(): void {
    const server = this.state?.registered ? this.state.serverConfiguration : undefined;
    this.status.setInterval(server?.statusUpdateIntervalSeconds ?? this.config.statusUpdateIntervalSeconds);
  }

  private publish(): void {
    this.status.setRegistration(viewOf(this.state, this.key.configured, this.key.problem));
  }
}
