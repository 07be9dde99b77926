import { backoffDelay } from './backoff';

const MINUTE = 60_000;
const registration = { baseMs: 5 * MINUTE, capMs: 60 * MINUTE, jitter: 0 };

describe('backoffDelay', () => {
  it.each([
    [1, 5],
    [2, 10],
    [3, 20],
    [4, 40],
    [5, 60],
    [9, 60],
    [500, 60],
  ])('without jitter, attempt %d waits %d minutes', (attempt, minutes) => {
    expect(backoffDelay(attempt, registration)).toBe(minutes * MINUTE);
  });

  it('with full jitter stays within half and all of the un-jittered delay', () => {
    const policy = { ...registration, jitter: 1 };

    expect(backoffDelay(3, policy, () => 0)).toBe(20 * MINUTE);
    expect(backoffDelay(3, policy, () => 1)).toBe(10 * MINUTE);
    expect(backoffDelay(3, policy, () => 0.5)).toBe(15 * MINUTE);
  });

  it('never exceeds the cap however many attempts failed', () => {
    const policy = { ...registration, jitter: 1 };

    for (let attempt = 1; attempt < 100; attempt++) {
      expect(backoffDelay(attempt, policy, Math.random)).toBeLessThanOrEqual(60 * MINUTE);
    }
  });
});
