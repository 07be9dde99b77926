/*
 * Collaborators for the unit specs (src/**\/*.spec.ts): a clock the test sets, named timers the
 * test fires by hand, and a Kubernetes API error like the ones client-node throws.
 */
import { ApiException } from '@kubernetes/client-node';
import { Clock } from '../../src/common/clock';
import { NamedTimers } from '../../src/common/named-timers';
import { OperatorStatusDto } from '../../src/modules/status/dto/operator-status.dto';
import { WatchLoss } from '../../src/modules/status/follower-view';
import { LeaderStatusWatch } from '../../src/modules/status/leader-status.watch';
import { LeaderElectionService, LeadershipHooks } from '../../src/modules/leader-election/leader-election.service';
import { OperatorMetrics } from '../../src/modules/metrics/operator-metrics.service';
import { WriteFence } from '../../src/modules/kubernetes/write-fence';

/** A healthy operated/free status document, as written at FakeClock's start in namespace `ops`. */
export const FREE_DOCUMENT: OperatorStatusDto = {
  mode: 'operated',
  tier: 'free',
  version: '0.2.0',
  health: 'healthy',
  lastUpdate: '2026-11-27T12:00:00.000Z',
  registered: false,
  error: null,
  apiKeyConfigured: false,
  namespace: 'ops',
};

export class FakeClock implements Clock {
  constructor(private at = Date.parse('2026-11-27T12:00:00.000Z')) {}

  now(): number {
    return this.at;
  }

  advance(ms: number): void {
    this.at += ms;
  }
}

interface Scheduled {
  kind: 'every' | 'after';
  ms: number;
  work: () => unknown;
}

/** NamedTimers' surface; nothing runs until the test fires it. */
export class FakeTimers implements Pick<NamedTimers, 'every' | 'after' | 'clear' | 'clearAll'> {
  readonly scheduled = new Map<string, Scheduled>();

  every(name: string, ms: number, work: () => unknown): void {
    this.scheduled.set(name, { kind: 'every', ms, work });
  }

  after(name: string, ms: number, work: () => unknown): void {
    this.scheduled.set(name, { kind: 'after', ms, work });
  }

  clear(name: string): void {
    this.scheduled.delete(name);
  }

  clearAll(): void {
    this.scheduled.clear();
  }

  /** Runs the work scheduled under `name` as its timer would (a timeout runs once). */
  async fire(name: string): Promise<void> {
    const entry = this.scheduled.get(name);
    if (!entry) throw new Error(`nothing scheduled as ${name}`);
    if (entry.kind === 'after') this.scheduled.delete(name);
    await entry.work();
  }
}

/**
 * LeaderElectionService with leader election off (LEADER_ELECTION=false): this replica always
 * leads, and hooks are kept (for a test to call) but never run on their own.
 */
export class FakeLeadership implements Pick<LeaderElectionService, 'enabled' | 'isLeader' | 'leadsUntil' | 'register'> {
  enabled = false;
  leading = true;
  readonly hooks: LeadershipHooks[] = [];

  isLeader(): boolean {
    return this.leading;
  }

  leadsUntil(): number | undefined {
    return this.leading ? Number.POSITIVE_INFINITY : undefined;
  }

  register(hooks: LeadershipHooks): void {
    this.hooks.push(hooks);
  }
}

/** The WriteFence as leader election sets it, from a FakeLeadership. */
export function fenceOf(leadership: FakeLeadership): WriteFence {
  const fence = new WriteFence();
  fence.holdsUntil(() => leadership.leadsUntil());
  return fence;
}

/** LeaderStatusWatch with nothing watched yet (only a follower would serve it). */
export class FakeLeaderStatus implements Pick<LeaderStatusWatch, 'latest' | 'problem' | 'watchLost' | 'onChange'> {
  document?: OperatorStatusDto;
  lost?: WatchLoss;
  readonly listeners: Array<() => void> = [];

  latest(): OperatorStatusDto | undefined {
    return this.document;
  }

  watchLost(): WatchLoss | undefined {
    return this.lost;
  }

  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  problem(): string {
    return 'no status document of the leader watched yet';
  }
}

export function apiError(code: number, message = `HTTP ${code}`): ApiException<string> {
  return new ApiException(code, message, JSON.stringify({ kind: 'Status', message }), {});
}

/** A network failure of the kind undici reports (no HTTP answer). */
export function networkError(code = 'ECONNREFUSED'): Error {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });
}

/** Lets pending promise callbacks run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** OperatorMetrics' surface, each report kept in order for a test to read. */
export class FakeMetrics implements Pick<
  OperatorMetrics,
  'statusServed' | 'statusWritten' | 'statusIntervalChanged' | 'registrationAttempted' | 'nextRegistrationAt'
> {
  readonly calls: Array<[string, ...unknown[]]> = [];

  statusServed(...args: Parameters<OperatorMetrics['statusServed']>): void {
    this.calls.push(['statusServed', ...args]);
  }

  statusWritten(...args: Parameters<OperatorMetrics['statusWritten']>): void {
    this.calls.push(['statusWritten', ...args]);
  }

  statusIntervalChanged(...args: Parameters<OperatorMetrics['statusIntervalChanged']>): void {
    this.calls.push(['statusIntervalChanged', ...args]);
  }

  registrationAttempted(...args: Parameters<OperatorMetrics['registrationAttempted']>): void {
    this.calls.push(['registrationAttempted', ...args]);
  }

  nextRegistrationAt(...args: Parameters<OperatorMetrics['nextRegistrationAt']>): void {
    this.calls.push(['nextRegistrationAt', ...args]);
  }

  /** The arguments of every call of `method`. */
  of(method: string): unknown[][] {
    return this.calls.filter(([name]) => name === method).map(([, ...args]) => args);
  }
}
