import { outcomeFromAnswer, retryAfterDelay } from './registration-outcome';

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

  it.each([500, 502, 503, 404])('%d: transient', (status) => {
    expect(outcomeFromAnswer(status, undefined, '<html>oops</html>', NOW)).toEqual({
      kind: 'transient',
      reason: `kube9-server answered ${status}; retrying with backoff`,
    });
  });
});

describe('retryAfterDelay', () => {
  it('never goes negative for a date in the past', () => {
    expect(retryAfterDelay('Thu, 26 Nov 2026 11:00:00 GMT', NOW)).toBe(0);
  });
});
