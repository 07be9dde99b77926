/**
 * Capped exponential backoff with "full jitter" on the upper half: attempt n (1-based) waits
 * between half and all of min(cap, base * 2^(n-1)). Spreading retries this way keeps many
 * clients that failed together from coming back in lockstep.
 */
export interface BackoffPolicy {
  baseMs: number;
  capMs: number;
  /** 0 = no jitter (lockstep), 1 = wait anywhere in [delay/2, delay]. */
  jitter: number;
}

export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 30));
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** exponent);
  const spread = (ceiling / 2) * policy.jitter;
  return Math.round(ceiling - spread * random());
}
