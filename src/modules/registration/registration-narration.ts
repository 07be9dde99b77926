import { EVENT_REASONS, EventReason } from '../kubernetes/event.recorder';
import { ApiKeyReading } from './api-key.source';
import { RegistrationOutcome } from './registration-outcome';
import { RegistrationState } from './registration-state';

/** What an answer of kube9-server is told as: one log line, and the Event, if any. */
export interface Narration {
  level: 'log' | 'warn' | 'error';
  line: string;
  event?: { type: 'Normal' | 'Warning'; reason: EventReason; note: string };
}

/**
 * The story of one registration attempt, from the state before it, the state after it and its
 * outcome: a pure function, so that each row is tested without a logger or an API server. A
 * renewed registration is told in the log only; the Event says when the tier changes.
 */
export function narrateAttempt(
  before: RegistrationState,
  after: RegistrationState,
  outcome: RegistrationOutcome,
): Narration {
  const next = after.nextAttemptAt ? new Date(after.nextAttemptAt).toISOString() : 'never';
  switch (outcome.kind) {
    case 'registered': {
      const line = `Registered with kube9-server as ${after.clusterId} (${outcome.response.status}); next re-registration at ${next}`;
      if (before.registered && before.error === null) return { level: 'log', line };
      const note = `Registered with kube9-server as ${after.clusterId}; tier pro`;
      return { level: 'log', line, event: { type: 'Normal', reason: EVENT_REASONS.Registered, note } };
    }
    case 'refused':
    case 'rejected': {
      const details = outcome.kind === 'rejected' && outcome.details ? `; details: ${outcome.details}` : '';
      return {
        level: 'error',
        line: `${outcome.reason}; next attempt at ${next}${details}`,
        event: { type: 'Warning', reason: EVENT_REASONS.ApiKeyRejected, note: outcome.reason },
      };
    }
    default: {
      const line = `${after.error}; next attempt at ${next}`;
      return { level: 'warn', line, event: { type: 'Warning', reason: EVENT_REASONS.RegistrationFailed, note: line } };
    }
  }
}

/**
 * The story of a change of the API key, from the reading before and after it; `resumed` is the
 * saved state taken up for the new key, if any. Undefined when there is nothing to tell (no key
 * before, none after). An Event says that a configured key was rejected or changed.
 */
export function narrateKeyChange(
  previous: ApiKeyReading,
  next: ApiKeyReading,
  resumed?: RegistrationState,
): Narration | undefined {
  if (!next.key) {
    if (next.problem) {
      const event = next.configured
        ? { type: 'Warning' as const, reason: EVENT_REASONS.ApiKeyRejected, note: next.problem }
        : undefined;
      return { level: 'warn', line: next.problem, event };
    }
    if (!previous.configured) return undefined;
    const note = 'API key removed; the operator runs in the free tier';
    return {
      level: 'log',
      line: 'API key removed: free tier',
      event: { type: 'Normal', reason: EVENT_REASONS.ApiKeyChanged, note },
    };
  }
  if (resumed)
    return { level: 'log', line: `Resuming the saved registration state (registered=${resumed.registered})` };
  const note = 'API key changed; registering with kube9-server';
  return {
    level: 'log',
    line: 'API key configured: registering with kube9-server',
    event: previous.configured ? { type: 'Normal', reason: EVENT_REASONS.ApiKeyChanged, note } : undefined,
  };
}

/**
 * The saved registration was with another kube9-server (SERVER_URL changed since): it is not
 * resumed, and the operator registers with the new one. Neither URL is told: the state ConfigMap
 * names the one it is about.
 */
export function narrateServerChange(): Narration {
  return {
    level: 'log',
    line: 'The saved registration state is for another kube9-server (the server URL has changed): registering with this one',
  };
}
