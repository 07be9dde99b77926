import { EVENT_REASONS, EventReason } from '../kubernetes/event.recorder';
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
