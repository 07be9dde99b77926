import {
  decideLeaseAttempt,
  LEASE_TIMING,
  LeaseObservation,
  LeaseRecord,
  observe,
  releasedRecord,
  leadershipEndsAt,
  stillLeading,
} from './lease-decision';

const T0 = Date.parse('2026-11-27T04:00:00.000Z');
const held = (holder: string, overrides: Partial<LeaseRecord> = {}): LeaseRecord => ({
  holderIdentity: holder,
  leaseDurationSeconds: 15,
  acquireTime: T0 - 60_000,
  renewTime: T0,
  leaseTransitions: 3,
  ...overrides,
});
const seen = (record: LeaseRecord, observedAtMs = T0, resourceVersion = '42'): LeaseObservation => ({
  exists: true,
  record,
  resourceVersion,
  observedAtMs,
});

describe('decideLeaseAttempt', () => {
  const decide = (observation: LeaseObservation, nowMs: number, identity = 'pod-a') =>
    decideLeaseAttempt({ identity, nowMs, observation, timing: LEASE_TIMING });

  it.each<[string, LeaseObservation, number, string, Record<string, unknown>]>([
    [
      'no Lease: create it as holder, transitions 0',
      { exists: false },
      T0,
      'create',
      {
        record: {
          holderIdentity: 'pod-a',
          leaseDurationSeconds: 15,
          acquireTime: T0,
          renewTime: T0,
          leaseTransitions: 0,
        },
      },
    ],
    [
      'held by me: renew, keeping acquireTime and transitions, on the read resourceVersion',
      seen(held('pod-a')),
      T0 + 2_000,
      'renew',
      { resourceVersion: '42', record: { ...held('pod-a'), renewTime: T0 + 2_000 } },
    ],
    [
      'held by another, seen 14.999 s ago: wait until it expires',
      seen(held('pod-b')),
      T0 + 14_999,
      'wait',
      { holder: 'pod-b', expiresAtMs: T0 + 15_000 },
    ],
    [
      'held by another, seen exactly 15 s ago: acquire, transitions + 1',
      seen(held('pod-b')),
      T0 + 15_000,
      'acquire',
      {
        resourceVersion: '42',
        record: {
          holderIdentity: 'pod-a',
          leaseDurationSeconds: 15,
          acquireTime: T0 + 15_000,
          renewTime: T0 + 15_000,
          leaseTransitions: 4,
        },
      },
    ],
    [
      'held by another whose renewTime is old but was first seen just now (clock skew): wait',
      seen(held('pod-b', { renewTime: T0 - 3_600_000 }), T0),
      T0 + 1_000,
      'wait',
      { holder: 'pod-b', expiresAtMs: T0 + 15_000 },
    ],
    [
      'released (no holder): acquire at once',
      seen(releasedRecord(held('pod-b'), T0)),
      T0 + 1,
      'acquire',
      { record: expect.objectContaining({ holderIdentity: 'pod-a', leaseTransitions: 4 }) },
    ],
    [
      'held by another with a 60 s lease it wrote: its own duration counts',
      seen(held('pod-b', { leaseDurationSeconds: 60 })),
      T0 + 30_000,
      'wait',
      { holder: 'pod-b', expiresAtMs: T0 + 60_000 },
    ],
  ])('%s', (_name, observation, nowMs, action, expected) => {
    const decision = decide(observation, nowMs);

    expect(decision.action).toBe(action);
    expect(decision).toMatchObject(expected);
  });
});

describe('observe', () => {
  const record = held('pod-b');

  it('keeps the first observed time while the resourceVersion does not change', () => {
    const first = observe(undefined, { record, resourceVersion: '7' }, T0);

    const again = observe(first, { record, resourceVersion: '7' }, T0 + 10_000);

    expect(again).toEqual({ exists: true, record, resourceVersion: '7', observedAtMs: T0 });
  });

  it('restarts the clock when the holder renewed (a new resourceVersion)', () => {
    const first = observe(undefined, { record, resourceVersion: '7' }, T0);

    const renewed = observe(first, { record: { ...record, renewTime: T0 + 2_000 }, resourceVersion: '8' }, T0 + 4_000);

    expect(renewed).toMatchObject({ resourceVersion: '8', observedAtMs: T0 + 4_000 });
  });

  it('reports a Lease that was deleted as absent', () => {
    expect(observe(seen(record), undefined, T0)).toEqual({ exists: false });
  });
});

describe('stillLeading', () => {
  it.each<[string, number | undefined, number, boolean]>([
    ['never renewed', undefined, T0, false],
    ['renewed just now', T0, T0, true],
    ['renewed 9.999 s ago', T0 - 9_999, T0, true],
    ['renewed 10 s ago (renew deadline): gives up', T0 - 10_000, T0, false],
    ['renewed 14 s ago: given up before the lease (15 s) could be taken', T0 - 14_000, T0, false],
  ])('%s -> %s', (_name, lastRenewSentAtMs, nowMs, expected) => {
    expect(stillLeading({ nowMs, lastRenewSentAtMs, timing: LEASE_TIMING })).toBe(expected);
  });

  it('gives up strictly before a candidate may acquire (renew deadline < lease duration)', () => {
    expect(LEASE_TIMING.renewDeadlineMs).toBeLessThan(LEASE_TIMING.leaseDurationMs);
    expect(LEASE_TIMING.retryPeriodMs).toBeLessThan(LEASE_TIMING.renewDeadlineMs);
  });
});

describe('leadershipEndsAt', () => {
  it('is undefined before any successful renewal', () => {
    expect(leadershipEndsAt(undefined, LEASE_TIMING)).toBeUndefined();
  });

  it('is the renew deadline after the last renewal was sent', () => {
    expect(leadershipEndsAt(T0, LEASE_TIMING)).toBe(T0 + 10_000);
  });

  it('leaves the lease duration minus the renew deadline (5 s) before a candidate may acquire', () => {
    // A candidate counts the lease from when it saw the renewal, which is no earlier than when it was sent.
    const candidateMayAcquireAt = T0 + LEASE_TIMING.leaseDurationMs;
    expect(candidateMayAcquireAt - leadershipEndsAt(T0, LEASE_TIMING)!).toBe(5_000);
  });
});

describe('releasedRecord', () => {
  it('empties the holder and shortens the lease, keeping the transitions', () => {
    expect(releasedRecord(held('pod-a'), T0 + 5)).toEqual({
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: T0 + 5,
      renewTime: T0 + 5,
      leaseTransitions: 3,
    });
  });
});
