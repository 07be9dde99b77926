import { liveness, readiness } from './probe-rules';

const T0 = Date.parse('2026-11-27T12:00:00.000Z');
const SECOND = 1_000;

describe('liveness: the status loop ran within the last 3 intervals (SPEC 4)', () => {
  it.each([
    [
      'ran just now',
      { startedAt: T0, firstRunAt: T0, lastRunAt: T0 + 50 * SECOND, intervalSeconds: 10 },
      T0 + 50 * SECOND,
      true,
    ],
    [
      'ran exactly 3 intervals ago',
      { startedAt: T0, firstRunAt: T0, lastRunAt: T0, intervalSeconds: 10 },
      T0 + 30 * SECOND,
      true,
    ],
    [
      'last ran 3 intervals and a second ago',
      { startedAt: T0, firstRunAt: T0, lastRunAt: T0, intervalSeconds: 10 },
      T0 + 31 * SECOND,
      false,
    ],
    ['started, not run yet, within 3 intervals', { startedAt: T0, intervalSeconds: 60 }, T0 + 170 * SECOND, true],
    ['started, never ran for more than 3 intervals', { startedAt: T0, intervalSeconds: 60 }, T0 + 181 * SECOND, false],
    ['not started', { intervalSeconds: 60 }, T0, false],
  ])('%s: up=%s', (_name, loop, now, up) => {
    expect(liveness(loop, now).up).toBe(up);
  });

  it('says for how long the loop has not run', () => {
    expect(liveness({ startedAt: T0, lastRunAt: T0, intervalSeconds: 10 }, T0 + 45 * SECOND)).toEqual({
      up: false,
      reason: 'the status loop has not run for 45 s (limit 30 s)',
    });
  });
});

describe('readiness: a first status was computed (SPEC 4)', () => {
  it('is down before the first run', () => {
    expect(readiness({ startedAt: T0, intervalSeconds: 10 })).toEqual({ up: false, reason: 'no status computed yet' });
  });

  it('is up from the first run on, whatever became of its write', () => {
    expect(readiness({ startedAt: T0, firstRunAt: T0, lastRunAt: T0, intervalSeconds: 10 })).toEqual({
      up: true,
      details: { firstStatusAt: '2026-11-27T12:00:00.000Z' },
    });
  });
});
