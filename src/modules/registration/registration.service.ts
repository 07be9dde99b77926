import { Injectable, OnModuleInit } from '@nestjs/common';
import { OperatorConfig } from '../config/operator-config';
import { ClusterFactsService } from '../kubernetes/cluster-facts.service';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import { ApiKeyReading, ApiKeySource } from './api-key.source';
import { RegistrationAttemptLoop } from './registration-attempt.loop';
import { narrateKeyChange, narrateServerChange } from './registration-narration';
import { initialState, RegistrationState } from './registration-state';
import { RegistrationStateStore } from './registration-state.store';
import { RegistrationReporter } from './registration.reporter';

const NO_KEY: ApiKeyReading = { problem: null, configured: false };

/**
 * Owns the registration with kube9-server: follows the API key (ApiKeySource) and leadership,
 * and on each change of either decides which key and state the RegistrationAttemptLoop works
 * from: a fresh state for a new key, the saved one (RegistrationStateStore) for the key and
 * kube9-server it was saved for, none without a key. The change is told by the RegistrationReporter.
 */
@Injectable()
export class RegistrationService implements OnModuleInit {
  private keysStarted = false;

  constructor(
    private readonly keys: ApiKeySource,
    private readonly store: RegistrationStateStore,
    private readonly facts: ClusterFactsService,
    private readonly leadership: LeaderElectionService,
    private readonly attempts: RegistrationAttemptLoop,
    private readonly reporter: RegistrationReporter,
    private readonly config: OperatorConfig,
  ) {}

  /**
   * Runs before the first status write, so the first document already knows about the key. With
   * leader election, only the leader registers: it resumes from the state its predecessor saved.
   */
  async onModuleInit(): Promise<void> {
    if (!this.leadership.enabled) return this.readKeyAndState();
    this.leadership.register({
      prepare: () => this.readKeyAndState(),
      started: () => this.attempts.resume(),
      stopped: () => this.attempts.pause(),
    });
  }

  /** Reads the key and the saved state afresh (on start-up, and each time this replica starts leading). */
  private async readKeyAndState(): Promise<void> {
    const reading = this.keysStarted ? this.attempts.key : await this.keys.start((next) => this.onKey(next));
    this.keysStarted = true;
    const saved = reading.key ? await this.store.load() : undefined;
    this.follow(NO_KEY, undefined, reading, saved);
  }

  private onKey(reading: ApiKeyReading): void {
    this.follow(this.attempts.key, this.attempts.state, reading);
  }

  /**
   * From the key before (`previous`, with its state `current`) to `reading`: without a key, no
   * state but the recent attempts (the hourly limit outlives keys); the same key as the state's,
   * nothing changes; another key, the state saved for it (and for this kube9-server) or a fresh one.
   */
  private follow(
    previous: ApiKeyReading,
    current: RegistrationState | undefined,
    reading: ApiKeyReading,
    saved?: RegistrationState,
  ): void {
    if (!reading.key) {
      this.attempts.use(reading, current ? { ...initialState(''), recentAttempts: current.recentAttempts } : undefined);
      return this.reporter.narrate(narrateKeyChange(previous, reading));
    }
    const fingerprint = this.store.fingerprint(reading.key, this.facts.clusterIdentifier());
    if (current?.keyFingerprint === fingerprint) return;
    const { serverUrl } = this.config;
    const forKey = saved?.keyFingerprint === fingerprint ? saved : undefined;
    const otherServer = forKey?.serverUrl !== undefined && forKey.serverUrl !== serverUrl;
    const resumed = forKey && !otherServer ? { ...forKey, serverUrl } : undefined;
    const recentAttempts = current?.recentAttempts ?? saved?.recentAttempts ?? [];
    this.reporter.narrate(otherServer ? narrateServerChange() : narrateKeyChange(previous, reading, resumed));
    this.attempts.use(reading, resumed ?? { ...initialState(fingerprint, serverUrl), recentAttempts });
  }
}
