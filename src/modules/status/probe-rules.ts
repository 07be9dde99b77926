import { StatusLoopSnapshot } from './status-loop.record';

/** Liveness fails when the status loop has not run for this many intervals (SPEC section 4). */
export const ALIVE_WITHIN_INTERVALS = 3;

export type ProbeVerdict = { up: true; details: Record<string, string> } | { up: false; reason: string };

/**
 * Liveness: the status loop is alive, it ran within the last 3 intervals. A restart helps
 * only when it did not; the API server and kube9-server play no part.
 */
export function liveness(loop: StatusLoopSnapshot, now: number): ProbeVerdict {
  if (loop.startedAt === undefined) return { up: false, reason: 'the status loop has not started' };
  const last = loop.lastRunAt ?? loop.startedAt;
  const ageSeconds = Math.max(0, (now - last) / 1000);
  const limit = ALIVE_WITHIN_INTERVALS * loop.intervalSeconds;
  if (ageSeconds > limit)
    return { up: false, reason: `the status loop has not run for ${Math.round(ageSeconds)} s (limit ${limit} s)` };
  return { up: true, details: {} };
}

/**
 * Readiness: a status document has been computed at least once (its first write attempted),
 * so GET /api/v1/status has something to say, even when that is why writes fail.
 */
export function readiness(loop: StatusLoopSnapshot): ProbeVerdict {
  if (loop.firstRunAt === undefined) return { up: false, reason: 'no status computed yet' };
  return { up: true, details: { firstStatusAt: new Date(loop.firstRunAt).toISOString() } };
}
