export const REGISTER_PATH = '/v1/operator/register';
/** The clusterId kube9-server assigns (SPEC section 2): checked in its answer and in the saved state. */
export const CLUSTER_ID_FORMAT = /^cls_[A-Za-z0-9]{12,64}$/;
/** Transient failures in a row after which a keyed operator gives its registration up (free tier) until a retry succeeds. */
export const TRANSIENT_FAILURES_BEFORE_FREE = 5;
export const REGISTRATION_TIMEOUT_MS = 30_000;
/** Larger answers are not read: a registration response is a few hundred bytes. */
export const MAX_RESPONSE_BYTES = 64 * 1024;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/**
 * Transient failures (timeout, network, 5xx): 5, 10, 20 … minutes, capped at 1 hour, jittered.
 * The base comes from REGISTRATION_BACKOFF_BASE_SECONDS (300); the cap is 12 bases.
 */
export function transientBackoff(baseSeconds: number) {
  return { baseMs: baseSeconds * 1000, capMs: 12 * baseSeconds * 1000, jitter: 1 };
}
/** After a refusal (400, 401, 403) the same key is not tried again before this. */
export const REFUSED_RETRY_MS = 24 * HOUR;
/** A 429 without a usable Retry-After waits this long. */
export const DEFAULT_RETRY_AFTER_MS = 5 * MINUTE;
/** kube9-server accepts 10 registrations per hour per cluster; the operator never sends more. */
export const REGISTRATIONS_PER_HOUR = 10;
export const RATE_WINDOW_MS = HOUR;
/** Node timers overflow past 2^31-1 ms (~24.8 days); longer waits are taken in steps. */
export const MAX_TIMER_MS = 24 * HOUR;

export const STATE_CONFIGMAP_NAME = 'kube9-operator-state';
export const STATE_CONFIGMAP_KEY = 'state';
export const STATE_LABELS: Readonly<Record<string, string>> = {
  'app.kubernetes.io/name': 'kube9-operator',
  'app.kubernetes.io/component': 'state',
};

export const REGISTRATION_TIMER = 'registration-attempt';
