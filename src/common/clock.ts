/** The time, as services read it: one provider (CLOCK), so a test can swap it. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

/** Injection token of the Clock. */
export const CLOCK = Symbol('CLOCK');

export const SYSTEM_CLOCK: Clock = { now: () => Date.now() };
