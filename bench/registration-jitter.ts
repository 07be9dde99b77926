/*
 * 10,000 clusters whose kube9-server is down for an hour: how many registrations
 * per minute hit the server when it comes back, with the operator's real retry
 * policy (applyOutcome, jittered) and with the same policy in lockstep (no jitter).
 * Pure simulation, no sleeping: each cluster's attempts follow from the state
 * machine's nextAttemptAt. Prints figures; it asserts nothing.
 *
 *   npm run bench:jitter
 */
import 'reflect-metadata';
import { RegistrationResponseDto } from '../src/modules/registration/dto/registration-response.dto';
import { RegistrationOutcome } from '../src/modules/registration/registration-outcome';
import {
  applyOutcome,
  registrationPolicy,
  delayUntilAllowed,
  initialState,
  withAttempt,
} from '../src/modules/registration/registration-state';

const CLUSTERS = 10_000;
const MINUTE = 60_000;
const OUTAGE_MS = 60 * MINUTE;
const BASE_SECONDS = 300;

const failure: RegistrationOutcome = {
  kind: 'transient',
  failure: 'server_error',
  reason: 'kube9-server answered 503',
};
const success: RegistrationOutcome = {
  kind: 'registered',
  response: Object.assign(new RegistrationResponseDto(), {
    status: 'reregistered',
    clusterId: 'cls_simulated00001',
    tier: 'pro',
    configuration: { statusUpdateIntervalSeconds: 60, reregistrationIntervalHours: 24 },
  }),
};

/** Every attempt (time in ms) one cluster makes, from its first failed one until it succeeds. */
function attemptsOf(firstAttemptAt: number, random: () => number): number[] {
  let state = initialState('fp');
  let at = firstAttemptAt;
  const attempts: number[] = [];
  for (;;) {
    const wait = delayUntilAllowed(state.recentAttempts, at);
    at += wait;
    state = withAttempt(state, at);
    attempts.push(at);
    const up = at >= OUTAGE_MS;
    state = applyOutcome(
      state,
      up ? success : failure,
      at,
      { ...registrationPolicy(), backoffBaseSeconds: BASE_SECONDS },
      random,
    );
    if (up) return attempts;
    at = state.nextAttemptAt!;
  }
}

interface Figures {
  peakPerMinute: number;
  peakMinute: number;
  lastSuccessMinute: number;
  attempts: number;
}

function simulate(firstAttempt: (i: number) => number, random: () => number): Figures {
  const perMinuteAfter = new Map<number, number>();
  let lastSuccess = 0;
  let attempts = 0;
  for (let i = 0; i < CLUSTERS; i++) {
    const times = attemptsOf(firstAttempt(i), random);
    attempts += times.length;
    for (const at of times) {
      if (at < OUTAGE_MS) continue;
      const minute = Math.floor(at / MINUTE);
      perMinuteAfter.set(minute, (perMinuteAfter.get(minute) ?? 0) + 1);
    }
    lastSuccess = Math.max(lastSuccess, times[times.length - 1]);
  }
  let peakPerMinute = 0;
  let peakMinute = 0;
  for (const [minute, count] of perMinuteAfter) {
    if (count > peakPerMinute) [peakPerMinute, peakMinute] = [count, minute];
  }
  return { peakPerMinute, peakMinute, lastSuccessMinute: Math.floor(lastSuccess / MINUTE), attempts };
}

/** A seeded generator, so that the figures repeat from run to run. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const scenarios: Array<[string, (i: number) => number]> = [
  ['all clusters fail first at the same moment', () => 0],
  ["first failures spread over the outage's first minute", (i) => (i / CLUSTERS) * MINUTE],
];

console.log(
  `${CLUSTERS} clusters, server down for ${OUTAGE_MS / MINUTE} min, backoff base ${BASE_SECONDS} s, cap ${BASE_SECONDS * 12} s`,
);
for (const [name, first] of scenarios) {
  const lockstep = simulate(first, () => 0);
  const jittered = simulate(first, mulberry32(42));
  const ratio = jittered.peakPerMinute / lockstep.peakPerMinute;
  console.log(`\n${name}:`);
  console.log(
    `  lockstep (no jitter): peak ${lockstep.peakPerMinute} registrations/min (minute ${lockstep.peakMinute}), all back by minute ${lockstep.lastSuccessMinute}, ${lockstep.attempts} attempts`,
  );
  console.log(
    `  jittered (operator):  peak ${jittered.peakPerMinute} registrations/min (minute ${jittered.peakMinute}), all back by minute ${jittered.lastSuccessMinute}, ${jittered.attempts} attempts`,
  );
  console.log(
    `  jittered / lockstep peak: ${ratio.toFixed(3)} (target: at most 0.100) ${ratio <= 0.1 ? 'met' : 'NOT met'}`,
  );
}
