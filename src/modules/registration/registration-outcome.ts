import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { RegistrationErrorBody, RegistrationResponseDto } from './dto/registration-response.dto';
import { RegistrationAttemptOutcome } from '../metrics/metrics.constants';
import { DEFAULT_RETRY_AFTER_MS } from './registration.constants';

/**
 * Why a transient outcome happened. `not_sent`: the request never left (the cluster facts for
 * its body could not be read), so kube9-server saw no attempt.
 */
export type TransientFailure = 'server_error' | 'timeout' | 'network_error' | 'invalid_response' | 'not_sent';

/** What one registration attempt came to, as the state machine needs it (SPEC section 3). */
export type RegistrationOutcome =
  | { kind: 'registered'; response: RegistrationResponseDto }
  /** 400: the request was rejected; free tier, no retry until something changes or 24 h pass. */
  | { kind: 'rejected'; reason: string; details?: string }
  /** 401, 403: the key was refused; free tier, registration cleared. */
  | { kind: 'refused'; reason: string }
  /** 429: wait Retry-After; the mode stays as it is. */
  | { kind: 'rateLimited'; retryAfterMs: number; reason: string }
  /** 5xx, timeout, network error, or an answer that cannot be trusted. */
  | { kind: 'transient'; failure: TransientFailure; reason: string };

/** Maps an HTTP answer of kube9-server to an outcome; the body is untrusted text. */
export function outcomeFromAnswer(
  status: number,
  retryAfter: string | undefined,
  body: string,
  now: number,
): RegistrationOutcome {
  if (status === 200) return outcomeFromSuccess(body);
  const explained = explain(body);
  if (status === 400) {
    const reason = `kube9-server rejected the registration request (400${explained}); it is retried after 24 h or when the key changes`;
    const details = detailsOf(body);
    return details ? { kind: 'rejected', reason, details } : { kind: 'rejected', reason };
  }
  if (status === 401 || status === 403) {
    return {
      kind: 'refused',
      reason: `kube9-server refused the API key (${status}${explained}); set a valid key in the operator's Secret`,
    };
  }
  if (status === 429) {
    const retryAfterMs = retryAfterDelay(retryAfter, now) ?? DEFAULT_RETRY_AFTER_MS;
    return {
      kind: 'rateLimited',
      retryAfterMs,
      reason: `kube9-server is rate limiting registrations (429); next try in ${Math.ceil(retryAfterMs / 1000)} s`,
    };
  }
  return {
    kind: 'transient',
    failure: 'server_error',
    reason: `kube9-server answered ${status}${explained}; retrying with backoff`,
  };
}

/** The `outcome` label of kube9_operator_registration_attempts_total; undefined when nothing was sent. */
export function attemptOutcomeLabel(outcome: RegistrationOutcome): RegistrationAttemptOutcome | undefined {
  switch (outcome.kind) {
    case 'registered':
      return 'registered';
    case 'refused':
    case 'rejected':
      return 'refused';
    case 'rateLimited':
      return 'rate_limited';
    case 'transient':
      return outcome.failure === 'not_sent' ? undefined : outcome.failure;
  }
}

function outcomeFromSuccess(body: string): RegistrationOutcome {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return {
      kind: 'transient',
      failure: 'invalid_response',
      reason: 'kube9-server answered 200 with a body that is not JSON; treated as a server error',
    };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return {
      kind: 'transient',
      failure: 'invalid_response',
      reason: 'kube9-server answered 200 with a body that is not a JSON object; treated as a server error',
    };
  }
  const response = plainToInstance(RegistrationResponseDto, parsed);
  const problems = validateSync(response, { forbidUnknownValues: false }).flatMap(messagesOf);
  if (problems.length > 0) {
    return {
      kind: 'transient',
      failure: 'invalid_response',
      reason: `kube9-server answered 200 with an invalid body (${problems.slice(0, 3).join('; ')}); treated as a server error`,
    };
  }
  return { kind: 'registered', response };
}

function messagesOf(error: { constraints?: Record<string, string>; children?: unknown[] }): string[] {
  const own = Object.values(error.constraints ?? {});
  const nested = (error.children ?? []).flatMap((child) => messagesOf(child as typeof error));
  return [...own, ...nested];
}

/** ": CODE: message" from an error body, bounded; nothing when the body is not the SPEC's shape. */
function explain(body: string): string {
  let parsed: RegistrationErrorBody;
  try {
    parsed = JSON.parse(body) as RegistrationErrorBody;
  } catch {
    return '';
  }
  if (!parsed || typeof parsed !== 'object') return '';
  const code = typeof parsed.code === 'string' ? parsed.code.slice(0, 64) : undefined;
  const message = typeof parsed.message === 'string' ? parsed.message.slice(0, 200) : undefined;
  const parts = [code, message].filter(Boolean);
  return parts.length > 0 ? ` ${parts.join(': ')}` : '';
}

/** A 400's `details`, as compact JSON for the log (bounded); the status keeps only the reason. */
function detailsOf(body: string): string | undefined {
  try {
    const details = (JSON.parse(body) as RegistrationErrorBody).details;
    return details === undefined ? undefined : JSON.stringify(details).slice(0, 1000);
  } catch {
    return undefined;
  }
}

/** Retry-After as seconds or as an HTTP date; undefined when absent or unreadable. */
export function retryAfterDelay(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
