/**
 * The leader-election rules of SPEC section 9 as pure functions, with client-go's semantics:
 * a candidate may take the Lease when nobody holds it or when the holder has not renewed it for
 * a whole lease duration, measured on the candidate's own clock from the moment it first saw
 * the holder's latest record (so clock skew between nodes does not matter); the holder renews
 * every retry period and gives up when no renewal succeeded within the renew deadline, which is
 * shorter than the lease duration, so it stops writing before anyone else may start.
 */

export interface LeaseTiming {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

/** lease 15 s, renew deadline 10 s, retry 2 s (SPEC section 9; client-go's defaults). */
export const LEASE_TIMING: LeaseTiming = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

/** The Lease's spec as the election reads and writes it; times in epoch milliseconds. */
export interface LeaseRecord {
  /** Empty when nobody holds the Lease (released). */
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: number;
  renewTime: number;
  leaseTransitions: number;
}

/** What this replica last learnt about the Lease. */
export type LeaseObservation =
  | { exists: false }
  | {
      exists: true;
      record: LeaseRecord;
      resourceVersion: string;
      /** Local time at which this record (this resourceVersion) was first seen. */
      observedAtMs: number;
    };

export type LeaseDecision =
  | { action: 'create'; record: LeaseRecord }
  | { action: 'acquire' | 'renew'; record: LeaseRecord; resourceVersion: string }
  | { action: 'wait'; holder: string; expiresAtMs: number };

/** A fresh read merged with the previous observation: the observed time moves only when the record changed. */
export function observe(
  previous: LeaseObservation | undefined,
  read: { record: LeaseRecord; resourceVersion: string } | undefined,
  nowMs: number,
): LeaseObservation {
  if (!read) return { exists: false };
  if (previous?.exists && previous.resourceVersion === read.resourceVersion) return previous;
  return { exists: true, record: read.record, resourceVersion: read.resourceVersion, observedAtMs: nowMs };
}

/** One round of "try to acquire or renew" (client-go's tryAcquireOrRenew, without the API calls). */
export function decideLeaseAttempt(input: {
  identity: string;
  nowMs: number;
  observation: LeaseObservation;
  timing: LeaseTiming;
}): LeaseDecision {
  const { identity, nowMs, observation, timing } = input;
  const leaseDurationSeconds = Math.round(timing.leaseDurationMs / 1000);
  if (!observation.exists) {
    return {
      action: 'create',
      record: {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: nowMs,
        renewTime: nowMs,
        leaseTransitions: 0,
      },
    };
  }
  const { record, resourceVersion, observedAtMs } = observation;
  if (record.holderIdentity === identity) {
    return { action: 'renew', resourceVersion, record: { ...record, leaseDurationSeconds, renewTime: nowMs } };
  }
  const expiresAtMs = observedAtMs + record.leaseDurationSeconds * 1000;
  if (record.holderIdentity !== '' && expiresAtMs > nowMs) {
    return { action: 'wait', holder: record.holderIdentity, expiresAtMs };
  }
  return {
    action: 'acquire',
    resourceVersion,
    record: {
      holderIdentity: identity,
      leaseDurationSeconds,
      acquireTime: nowMs,
      renewTime: nowMs,
      leaseTransitions: record.leaseTransitions + 1,
    },
  };
}

/**
 * When the holder stops leading: the renew deadline after its last successful renewal, timed
 * from when that request was sent (undefined before any). A candidate may take the Lease only a
 * whole lease duration after it saw that renewal, so this leaves lease - renew deadline (5 s)
 * between the end of this replica's writes and the first moment a successor could start.
 */
export function leadershipEndsAt(lastRenewSentAtMs: number | undefined, timing: LeaseTiming): number | undefined {
  return lastRenewSentAtMs === undefined ? undefined : lastRenewSentAtMs + timing.renewDeadlineMs;
}

/** Whether the holder still leads (see leadershipEndsAt). Asked before every write. */
export function stillLeading(input: {
  nowMs: number;
  lastRenewSentAtMs: number | undefined;
  timing: LeaseTiming;
}): boolean {
  const endsAt = leadershipEndsAt(input.lastRenewSentAtMs, input.timing);
  return endsAt !== undefined && input.nowMs < endsAt;
}

/**
 * The record that hands the Lease back on a graceful exit: no holder, so a candidate takes it at
 * its next retry instead of waiting out the lease (client-go's ReleaseOnCancel).
 */
export function releasedRecord(record: LeaseRecord, nowMs: number): LeaseRecord {
  return { ...record, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: nowMs, renewTime: nowMs };
}
