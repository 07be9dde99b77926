import { initialState, RegistrationState } from './registration-state';
import { parseSavedState, toJson } from './saved-state';

/** Stands for anything a corrupt ConfigMap could hold, a pasted API key included. */
const CANARY = 'kdy_prod_canary0secret';

const SAVED: RegistrationState = {
  keyFingerprint: 'scrypt:00112233445566778899aabbccddeeff',
  serverUrl: 'https://api.kube9.dev',
  registered: true,
  clusterId: 'cls_abcdefghijkl0123',
  consecutiveTransientFailures: 2,
  refused: false,
  error: 'kube9-server answered 503',
  lastAttemptAt: Date.parse('2026-11-27T01:00:00.000Z'),
  lastSuccessAt: Date.parse('2026-11-26T01:00:00.000Z'),
  nextAttemptAt: Date.parse('2026-11-27T01:10:00.000Z'),
  serverConfiguration: { statusUpdateIntervalSeconds: 60, reregistrationIntervalHours: 24 },
  recentAttempts: [Date.parse('2026-11-27T00:50:00.000Z'), Date.parse('2026-11-27T01:00:00.000Z')],
};

function savedWith(changes: Record<string, unknown>): string {
  return JSON.stringify({ ...JSON.parse(toJson(SAVED)), ...changes });
}

function problemOf(text: string): string {
  const reading = parseSavedState(text);
  if (!('problem' in reading)) throw new Error('the saved state was accepted');
  return reading.problem;
}

describe('the saved registration state', () => {
  it('reads back what it wrote, times as ISO strings in the ConfigMap', () => {
    const text = toJson(SAVED);

    const reading = parseSavedState(text);

    expect(JSON.parse(text).nextAttemptAt).toBe('2026-11-27T01:10:00.000Z');
    expect(reading).toEqual({ state: SAVED });
  });

  it('reads a fresh state, which has no times, clusterId or configuration', () => {
    const fresh: RegistrationState = {
      keyFingerprint: 'scrypt:ff',
      registered: false,
      consecutiveTransientFailures: 0,
      refused: false,
      error: null,
      recentAttempts: [],
    };

    expect(parseSavedState(toJson(fresh))).toEqual({ state: fresh });
  });

  it('ignores fields it does not know, and does not keep them', () => {
    const reading = parseSavedState(savedWith({ addedByANewerVersion: CANARY }));

    expect(reading).toEqual({ state: SAVED });
  });

  it.each([
    ['text that is not JSON', `{"keyFingerprint": ${CANARY}`, 'it is not valid JSON'],
    ['an empty value', '', 'it is not valid JSON'],
    ['a JSON string', JSON.stringify(CANARY), 'it is not a JSON object'],
    ['a JSON array', JSON.stringify([CANARY]), 'it is not a JSON object'],
    ['null', 'null', 'it is not a JSON object'],
  ])('refuses %s, without quoting it', (_name, text, problem) => {
    expect(problemOf(text)).toBe(problem);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['keyFingerprint a number', { keyFingerprint: 42 }, '"keyFingerprint" is not a string'],
    ['serverUrl a list', { serverUrl: [CANARY] }, '"serverUrl" is not a string'],
    ['registered a string', { registered: CANARY }, '"registered" is not a boolean'],
    ['refused missing', { refused: undefined }, '"refused" is missing, expected a boolean'],
    [
      'consecutiveTransientFailures a string',
      { consecutiveTransientFailures: '2' },
      '"consecutiveTransientFailures" is not a whole number of 0 or more',
    ],
    [
      'consecutiveTransientFailures negative',
      { consecutiveTransientFailures: -1 },
      '"consecutiveTransientFailures" is not a whole number of 0 or more',
    ],
    ['error an object', { error: { text: CANARY } }, '"error" is not a string or null'],
    ['recentAttempts a string', { recentAttempts: CANARY }, '"recentAttempts" is not a list of ISO times'],
    [
      'recentAttempts holding a non-time',
      { recentAttempts: ['2026-11-27T00:50:00.000Z', CANARY] },
      '"recentAttempts" is not a list of ISO times',
    ],
    ['nextAttemptAt a number', { nextAttemptAt: 1_764_205_800_000 }, '"nextAttemptAt" is not an ISO time'],
    ['lastSuccessAt not a time', { lastSuccessAt: CANARY }, '"lastSuccessAt" is not an ISO time'],
    ['clusterId malformed', { clusterId: CANARY }, '"clusterId" is not cls_ followed by 12 to 64 letters or digits'],
    ['registered without a clusterId', { clusterId: undefined }, '"registered" is true without a "clusterId"'],
    ['serverConfiguration a string', { serverConfiguration: CANARY }, '"serverConfiguration" is not an object'],
    [
      'serverConfiguration with a bad interval',
      { serverConfiguration: { statusUpdateIntervalSeconds: CANARY, reregistrationIntervalHours: 24 } },
      '"serverConfiguration" breaks a rule: configuration.statusUpdateIntervalSeconds must be a number',
    ],
  ])('refuses a state with %s, naming the field and not its value', (_name, changes, problem) => {
    const found = problemOf(savedWith(changes));

    expect(found).toBe(problem);
    expect(found).not.toContain(CANARY);
  });

  it("reads a state saved before serverUrl was kept (an older version's) without one", () => {
    const { serverUrl: _older, ...older } = SAVED;

    expect(parseSavedState(savedWith({ serverUrl: undefined }))).toEqual({ state: older });
  });

  it('names every field that is wrong, not only the first', () => {
    expect(problemOf(savedWith({ registered: 'yes', error: 7 }))).toBe(
      '"registered" is not a boolean; "error" is not a string or null',
    );
  });
});

describe('the rejected request (SPEC section 3: a 400 is retried when the request changes)', () => {
  it('is kept across a save and a load', () => {
    const state = { ...initialState('scrypt:00'), refused: true, rejectedRequest: `sha256:${'b'.repeat(64)}` };

    const reading = parseSavedState(toJson(state));

    expect(reading).toEqual({ state });
  });
});
