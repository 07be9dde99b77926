import { attemptOutcomeLabel, outcomeFromAnswer, RegistrationOutcome, retryAfterDelay } from './registration-outcome';

const NOW = Date.parse('2026-11-26T12:00:00Z');
const GOOD = JSON.stringify({
  status: 'registered',
  clusterId: 'cls_abcdef123456',
  tier: 'pro',
  configuration: { statusUpdateIntervalSeconds: 30, reregistrationIntervalHours: 12 },
});

describe('outcomeFromAnswer', () => {
  it('200 with a valid body: registered, with the server configuration', () => {
    const outcome = outcomeFromAnswer(200, undefined, GOOD, NOW);

    expect(outcome.kind).toBe('registered');
    expect(outcome.kind === 'registered' && outcome.response.configuration?.statusUpdateIntervalSeconds).toBe(30);
  });

  it.each([
    ['no configuration', JSON.stringify({ status: 'registered', clusterId: 'cls_abcdef123456', tier: 'pro' })],
    ['an empty configuration', GOOD.replace(/"configuration":\{[^}]*\}/, '"configuration":{}')],
    [
      "intervals outside the operator's ranges (clamped later, not refused)",
      GOOD.replace('":30', '":5').replace('":12', '":9000'),
    ],
  ])('200 with %s: registered', (_name, body) => {
    expect(outcomeFromAnswer(200, undefined, body, NOW).kind).toBe('registered');
  });

  it.each([
    ['a non-JSON body', 'not json', 'not JSON'],
    ['a JSON array', '[]', 'not a JSON object'],
    ['a malformed clusterId', GOOD.replace('cls_abcdef123456', 'cls_short'), 'clusterId must be cls_'],
    [
      'an interval that is a string',
      GOOD.replace('"statusUpdateIntervalSeconds":30', '"statusUpdateIntervalSeconds":"30"'),
      'statusUpdateIntervalSeconds must be a number',
    ],
    [
      'a null re-registration interval',
      GOOD.replace('"reregistrationIntervalHours":12', '"reregistrationIntervalHours":null'),
      'reregistrationIntervalHours must be a number',
    ],
    [
      'a configuration that is not an object',
      GOOD.replace(/"configuration":\{[^}]*\}/, '"configuration":5'),
      'configuration must be an object',
    ],
    ['the wrong tier', GOOD.replace('"tier":"pro"', '"tier":"free"'), 'tier must be pro'],
  ])('200 with %s is a server error, not trusted', (_name, body, reason) => {
    const outcome = outcomeFromAnswer(200, undefined, body, NOW);

    expect(outcome.kind).toBe('transient');
    expect(outcome.kind === 'transient' && outcome.reason).toContain(reason);
    expect(outcome.kind === 'transient' && outcome.failure).toBe('invalid_response');
  });

  it('400: rejected, with the server code and message', () => {
    const outcome = outcomeFromAnswer(
      400,
      undefined,
      JSON.stringify({ error: 'Bad Request', code: 'INVALID_REQUEST', message: 'bad node count' }),
      NOW,
    );

    expect(outcome).toEqual({
      kind: 'rejected',
      reason: expect.stringContaining('400 INVALID_REQUEST: bad node count'),
    });
  });

  it('400 keeps the details for the log', () => {
    const body = JSON.stringify({
      error: 'Bad Request',
      code: 'INVALID_REQUEST',
      message: 'bad',
      details: [{ field: 'approximateNodeCount' }],
    });

    expect(outcomeFromAnswer(400, undefined, body, NOW)).toMatchObject({
      kind: 'rejected',
      details: '[{"field":"approximateNodeCount"}]',
    });
  });

  it.each([
    [401, 'INVALID_API_KEY'],
    [401, 'API_KEY_EXPIRED'],
    [403, 'FORBIDDEN'],
  ])('%d %s: refused', (status, code) => {
    const outcome = outcomeFromAnswer(status, undefined, JSON.stringify({ error: 'x', code, message: 'no' }), NOW);

    expect(outcome.kind).toBe('refused');
    expect(outcome.kind === 'refused' && outcome.reason).toContain(`${status} ${code}`);
  });

  it('429 with Retry-After seconds waits that long', () => {
    expect(outcomeFromAnswer(429, '120', '{}', NOW)).toMatchObject({ kind: 'rateLimited', retryAfterMs: 120_000 });
  });

  it('429 with Retry-After as an HTTP date waits until then', () => {
    expect(outcomeFromAnswer(429, 'Thu, 26 Nov 2026 12:10:00 GMT', '{}', NOW)).toMatchObject({
      kind: 'rateLimited',
      retryAfterMs: 600_000,
    });
  });

  it('429 without a usable Retry-After waits 5 minutes', () => {
    expect(outcomeFromAnswer(429, 'soon', '{}', NOW)).toMatchObject({ kind: 'rateLimited', retryAfterMs: 300_000 });
  });

  it.each([500, 502, 503, 404])('%d: transient, a server error', (status) => {
    expect(outcomeFromAnswer(status, undefined, '<html>oops</html>', NOW)).toEqual({
      kind: 'transient',
      failure: 'server_error',
      reason: `kube9-server answered ${status}; retrying with backoff`,
    });
  });
});

describe('retryAfterDelay', () => {
  it('never goes negative for a date in the past', () => {
    expect(retryAfterDelay('Thu, 26 Nov 2026 11:00:00 GMT', NOW)).toBe(0);
  });
});

describe('attemptOutcomeLabel (the outcome label of kube9_operator_registration_attempts_total)', () => {
  it.each<[string, RegistrationOutcome, string | undefined]>([
    ['200', outcomeFromAnswer(200, undefined, GOOD, NOW), 'registered'],
    ['401', outcomeFromAnswer(401, undefined, '{}', NOW), 'refused'],
    ['403', outcomeFromAnswer(403, undefined, '{}', NOW), 'refused'],
    ['400', outcomeFromAnswer(400, undefined, '{}', NOW), 'refused'],
    ['429', outcomeFromAnswer(429, '30', '{}', NOW), 'rate_limited'],
    ['503', outcomeFromAnswer(503, undefined, '{}', NOW), 'server_error'],
    ['200 not JSON', outcomeFromAnswer(200, undefined, 'nope', NOW), 'invalid_response'],
    ['a timeout', { kind: 'transient', failure: 'timeout', reason: 'slow' }, 'timeout'],
    ['a network error', { kind: 'transient', failure: 'network_error', reason: 'reset' }, 'network_error'],
    ['a request never sent', { kind: 'transient', failure: 'not_sent', reason: 'no facts' }, undefined],
  ])('%s', (_name, outcome, label) => {
    expect(attemptOutcomeLabel(outcome)).toBe(label);
  });
});
