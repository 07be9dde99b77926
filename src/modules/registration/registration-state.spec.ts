import { RegistrationResponseDto } from './dto/registration-response.dto';
import { RegistrationOutcome } from './registration-outcome';
import {
  applyOutcome,
  delayUntilAllowed,
  initialState,
  registrationPolicy,
  RegistrationState,
  requestFingerprint,
  viewOf,
  withAttempt,
} from './registration-state';

const NOW = Date.parse('2026-11-26T12:00:00Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const noJitter = () => 0;

const registered: RegistrationOutcome = {
  kind: 'registered',
  response: Object.assign(new RegistrationResponseDto(), {
    status: 'registered',
    clusterId: 'cls_abcdef123456',
    tier: 'pro',
    configuration: { statusUpdateIntervalSeconds: 30, reregistrationIntervalHours: 12 },
  }),
};
const transient: RegistrationOutcome = {
  kind: 'transient',
  failure: 'server_error',
  reason: 'kube9-server answered 503',
};

function failTransiently(state: RegistrationState, times: number): RegistrationState {
  let current = state;
  for (let i = 0; i < times; i++) current = applyOutcome(current, transient, NOW, registrationPolicy(), noJitter);
  return current;
}

describe('applyOutcome: the SPEC answer table', () => {
  it('200: registered, clusterId kept, next re-registration after the server interval', () => {
    const state = applyOutcome(initialState('fp'), registered, NOW);

    expect(state).toMatchObject({
      registered: true,
      clusterId: 'cls_abcdef123456',
      error: null,
      consecutiveTransientFailures: 0,
      refused: false,
    });
    expect(state.nextAttemptAt).toBe(NOW + 12 * HOUR);
    expect(state.serverConfiguration?.statusUpdateIntervalSeconds).toBe(30);
  });

  it('200 without a re-registration interval: next re-registration after REREGISTRATION_INTERVAL_HOURS', () => {
    const withoutInterval: RegistrationOutcome = {
      kind: 'registered',
      response: Object.assign(new RegistrationResponseDto(), {
        status: 'registered',
        clusterId: 'cls_abcdef123456',
        tier: 'pro',
      }),
    };

    const state = applyOutcome(initialState('fp'), withoutInterval, NOW, {
      ...registrationPolicy(),
      own: { statusUpdateIntervalSeconds: 60, reregistrationIntervalHours: 7 },
    });

    expect(state).toMatchObject({ registered: true, nextAttemptAt: NOW + 7 * HOUR });
  });

  it('200 with a re-registration interval above 720 h: clamped to 720 h, still registered', () => {
    const tooLong: RegistrationOutcome = {
      kind: 'registered',
      response: Object.assign(new RegistrationResponseDto(), {
        status: 'registered',
        clusterId: 'cls_abcdef123456',
        tier: 'pro',
        configuration: { reregistrationIntervalHours: 10_000 },
      }),
    };

    expect(applyOutcome(initialState('fp'), tooLong, NOW)).toMatchObject({
      registered: true,
      error: null,
      nextAttemptAt: NOW + 720 * HOUR,
    });
  });

  it('400: refused (free), no retry for 24 hours', () => {
    const state = applyOutcome(initialState('fp'), { kind: 'rejected', reason: 'rejected' }, NOW);

    expect(state).toMatchObject({ registered: false, refused: true, error: 'rejected' });
    expect(state.nextAttemptAt).toBe(NOW + 24 * HOUR);
  });

  it('401/403 on a registered cluster: registration cleared at once', () => {
    const before = applyOutcome(initialState('fp'), registered, NOW);

    const state = applyOutcome(before, { kind: 'refused', reason: 'refused' }, NOW);

    expect(state).toMatchObject({
      registered: false,
      clusterId: undefined,
      refused: true,
      nextAttemptAt: NOW + 24 * HOUR,
    });
  });

  it('429: waits Retry-After and keeps the mode (no failure counted)', () => {
    const before = applyOutcome(initialState('fp'), registered, NOW);

    const state = applyOutcome(before, { kind: 'rateLimited', retryAfterMs: 90_000, reason: 'rate limited' }, NOW);

    expect(state).toMatchObject({
      registered: true,
      consecutiveTransientFailures: 0,
      error: 'rate limited',
      nextAttemptAt: NOW + 90_000,
    });
  });

  it.each([
    [1, 5],
    [2, 10],
    [3, 20],
    [4, 40],
    [5, 60],
    [6, 60],
  ])('transient failure %d in a row: next try after %d minutes (without jitter)', (failures, minutes) => {
    expect(failTransiently(initialState('fp'), failures).nextAttemptAt).toBe(NOW + minutes * MINUTE);
  });

  it('a registered cluster stays registered through 4 transient failures and loses it at the 5th', () => {
    const registeredState = applyOutcome(initialState('fp'), registered, NOW);

    expect(failTransiently(registeredState, 4)).toMatchObject({
      registered: true,
      clusterId: 'cls_abcdef123456',
      consecutiveTransientFailures: 4,
    });
    expect(failTransiently(registeredState, 5)).toMatchObject({
      registered: false,
      clusterId: undefined,
      consecutiveTransientFailures: 5,
    });
    expect(failTransiently(registeredState, 5).error).toContain('5 failures in a row: free tier');
  });

  it('a success after failures resets the count', () => {
    expect(applyOutcome(failTransiently(initialState('fp'), 7), registered, NOW).consecutiveTransientFailures).toBe(0);
  });
});

describe('delayUntilAllowed: at most 10 registrations per sliding hour', () => {
  it('allows the 10th attempt in an hour at once', () => {
    const nine = Array.from({ length: 9 }, (_, i) => NOW - i * MINUTE);

    expect(delayUntilAllowed(nine, NOW)).toBe(0);
  });

  it('defers the 11th until the oldest of the last 10 is an hour old', () => {
    const ten = Array.from({ length: 10 }, (_, i) => NOW - i * MINUTE);

    expect(delayUntilAllowed(ten, NOW)).toBe(HOUR - 9 * MINUTE);
  });

  it('forgets attempts older than an hour', () => {
    let state = initialState('fp');
    for (let i = 0; i < 10; i++) state = withAttempt(state, NOW - 2 * HOUR + i);

    expect(delayUntilAllowed(withAttempt(state, NOW).recentAttempts, NOW)).toBe(0);
    expect(withAttempt(state, NOW).recentAttempts).toEqual([NOW]);
  });
});

describe('viewOf', () => {
  it('a malformed key is configured but refused, with the reason', () => {
    expect(viewOf(undefined, true, 'malformed key')).toMatchObject({
      apiKeyConfigured: true,
      refused: true,
      error: 'malformed key',
    });
  });

  it('no key: not configured, no registration', () => {
    expect(viewOf(applyOutcome(initialState('fp'), registered, NOW), false, null)).toMatchObject({
      apiKeyConfigured: false,
      registered: false,
    });
  });
});

describe('requestFingerprint', () => {
  const body = {
    operatorVersion: '0.1.0',
    clusterIdentifier: `sha256:${'a'.repeat(64)}`,
    kubernetesVersion: '1.31.2',
    approximateNodeCount: 3,
  };

  it('changes with the server URL and with each value of the body, and only then', () => {
    const base = requestFingerprint('https://api.kube9.dev', body);

    expect(requestFingerprint('https://api.kube9.dev', { ...body })).toBe(base);
    expect(requestFingerprint('https://eu.kube9.dev', body)).not.toBe(base);
    expect(requestFingerprint('https://api.kube9.dev', { ...body, operatorVersion: '0.2.0' })).not.toBe(base);
    expect(requestFingerprint('https://api.kube9.dev', { ...body, kubernetesVersion: '1.32.0' })).not.toBe(base);
    expect(requestFingerprint('https://api.kube9.dev', { ...body, approximateNodeCount: 4 })).not.toBe(base);
  });
});
