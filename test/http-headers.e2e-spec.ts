/*
 * What the REST port tells a stranger: nothing about the framework behind it (no
 * X-Powered-By, no Express ETag, no Server), and no cache may keep the live status
 * document. The operator runs as a real process with the chart's environment.
 */
import { helmInstall, runOperatorAsChart } from './support/chart';
import { createTestNamespace, deleteTestNamespace } from './support/kube';
import { OperatorProcess, waitFor } from './support/operator-process';
import { readStatus } from './support/status';

const RELEASE = 'kube9-operator';
/** Every header an answer may carry: HTTP's own, plus Cache-Control. */
const ALLOWED_HEADERS = ['cache-control', 'connection', 'content-length', 'content-type', 'date', 'keep-alive'];
const FRAMEWORK = /express|nestjs|\bnest\b|node\.?js|x-powered-by/i;

describe('the headers of every route', () => {
  let namespace: string;
  let operator: OperatorProcess;

  beforeAll(async () => {
    namespace = await createTestNamespace('headers');
    await helmInstall(namespace, RELEASE, { statusUpdateIntervalSeconds: '10' });
    operator = await runOperatorAsChart(namespace, RELEASE);
    await waitFor('the first status write', () => readStatus(namespace), 10_000, 50);
    await waitFor(
      'readiness',
      async () => ((await fetch(`${operator.baseUrl}/readyz`)).status === 200 ? true : undefined),
      10_000,
      100,
    );
  });

  afterAll(async () => {
    await operator?.stop().catch(() => undefined);
    await deleteTestNamespace(namespace);
  });

  // The status is a live document: exactly no-store. The probes keep Terminus's own, which forbids storing too.
  it.each<[string, number, RegExp | null]>([
    ['/api/v1/status', 200, /^no-store$/],
    ['/healthz', 200, /\bno-store\b/],
    ['/readyz', 200, /\bno-store\b/],
    ['/no-such-route', 404, null],
  ])(
    'GET %s answers %i with no header naming the framework and Cache-Control %s',
    async (route, status, cacheControl) => {
      const response = await fetch(`${operator.baseUrl}${route}`, { signal: AbortSignal.timeout(5_000) });
      const body = await response.text();
      const headers = [...response.headers.entries()];

      expect(response.status).toBe(status);
      expect(headers.map(([name]) => name).filter((name) => !ALLOWED_HEADERS.includes(name))).toEqual([]);
      expect(headers.filter(([name, value]) => FRAMEWORK.test(name) || FRAMEWORK.test(value))).toEqual([]);
      if (cacheControl) expect(response.headers.get('cache-control')).toMatch(cacheControl);
      else expect(response.headers.get('cache-control')).toBeNull();
      expect(body).not.toMatch(FRAMEWORK);
    },
  );

  it('answers a method the route does not have without naming the framework either', async () => {
    const response = await fetch(`${operator.baseUrl}/api/v1/status`, {
      method: 'POST',
      signal: AbortSignal.timeout(5_000),
    });
    const body = await response.text();

    expect(response.status).toBe(404);
    expect([...response.headers.keys()].filter((name) => !ALLOWED_HEADERS.includes(name))).toEqual([]);
    expect(body).not.toMatch(FRAMEWORK);
  });
});
