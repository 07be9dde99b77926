/**
 * The kube9-server simulator against SPEC section 3. No Kubernetes needed:
 *   npx jest --rootDir . --testRegex 'sim-spec\.ts$' --preset ts-jest
 */
import { ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ts from 'typescript';
import {
  generateTestTls,
  MAX_BODY_BYTES,
  REGISTER_PATH,
  ServerSimulator,
  SimulatorOptions,
} from './support/server-simulator';

const KEY = 'kdy_dev_abc123';
const OTHER_KEY = 'kdy_prod_zz9';
const CLUSTER = `sha256:${'a1'.repeat(32)}`;
const OTHER_CLUSTER = `sha256:${'b2'.repeat(32)}`;

function perfectBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    operatorVersion: '0.1.0',
    clusterIdentifier: CLUSTER,
    kubernetesVersion: '1.31.2',
    approximateNodeCount: 3,
    ...overrides,
  };
}

function perfectHeaders(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    authorization: `Bearer ${KEY}`,
    'content-type': 'application/json',
    'user-agent': 'kube9-operator/0.1.0',
    ...overrides,
  };
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

async function register(
  baseUrl: string,
  init: { headers?: Record<string, string>; body?: unknown; rawBody?: string; method?: string; path?: string } = {},
): Promise<Answer> {
  const method = init.method ?? 'POST';
  const res = await fetch(`${baseUrl}${init.path ?? REGISTER_PATH}`, {
    method,
    headers: init.headers ?? perfectHeaders(),
    body: method === 'GET' ? undefined : (init.rawBody ?? JSON.stringify(init.body ?? perfectBody())),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** node:http, for requests fetch will not make (no User-Agent, no Content-Type). */
function rawRequest(
  baseUrl: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${baseUrl}${REGISTER_PATH}`, { method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The simulator's record of request `index` once its connection has closed. */
async function closedRecord(sim: ServerSimulator, index: number) {
  for (let waited = 0; waited < 2000; waited += 10) {
    const record = sim.requests[index];
    if (record?.connectionClosedAt !== undefined) return record;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`the connection of request ${index} did not close within 2 s`);
}

describe('ServerSimulator', () => {
  let sim: ServerSimulator;
  let url: string;

  async function startSimulator(opts: SimulatorOptions = {}): Promise<void> {
    sim = new ServerSimulator(opts);
    url = await sim.start();
  }

  afterEach(async () => {
    await sim?.stop();
  });

  describe('a request that follows the contract', () => {
    beforeEach(() => startSimulator({ validKeys: [KEY] }));

    it('is answered 200 registered with the default configuration and recorded without problems', async () => {
      const answer = await register(url);

      expect(answer.status).toBe(200);
      expect(answer.json).toEqual({
        status: 'registered',
        clusterId: sim.clusterIdFor(CLUSTER),
        tier: 'pro',
        configuration: { statusUpdateIntervalSeconds: 60, reregistrationIntervalHours: 24 },
        message: expect.any(String),
      });
      expect(sim.requests).toHaveLength(1);
      expect(sim.requests[0]).toMatchObject({
        method: 'POST',
        path: REGISTER_PATH,
        body: perfectBody(),
        problems: [],
        answeredStatus: 200,
      });
      expect(sim.requests[0].headers.authorization).toBe(`Bearer ${KEY}`);
      expect(sim.rateLimitViolations).toEqual({});
    });

    it('answers reregistered to a cluster that registered before, with the same clusterId', async () => {
      const first = await register(url);
      const second = await register(url);

      expect(second.status).toBe(200);
      expect(second.json.status).toBe('reregistered');
      expect(second.json.clusterId).toBe(first.json.clusterId);
    });

    it('accepts a charset=utf-8 parameter on the Content-Type', async () => {
      const answer = await register(url, {
        headers: perfectHeaders({ 'content-type': 'application/json; charset=utf-8' }),
      });

      expect(answer.status).toBe(200);
      expect(sim.requests[0].problems).toEqual([]);
    });

    it('sends the configuration set at run time', async () => {
      const configuration = {
        statusUpdateIntervalSeconds: 15,
        reregistrationIntervalHours: 2,
        metricsEnabled: false,
        metricsIntervalSeconds: 300,
      };
      sim.setConfiguration(configuration);

      const answer = await register(url);

      expect(answer.json.configuration).toEqual(configuration);
    });
  });

  describe('clusterIdFor', () => {
    beforeEach(() => startSimulator());

    it('is cls_ plus lowercase alphanumerics, the same for the same identifier and different between clusters', () => {
      expect(sim.clusterIdFor(CLUSTER)).toMatch(/^cls_[a-z0-9]{16,}$/);
      expect(new ServerSimulator().clusterIdFor(CLUSTER)).toBe(sim.clusterIdFor(CLUSTER));
      expect(sim.clusterIdFor(OTHER_CLUSTER)).not.toBe(sim.clusterIdFor(CLUSTER));
    });
  });

  describe('API keys', () => {
    it('answers 401 INVALID_API_KEY to a request without Authorization and records the problem', async () => {
      await startSimulator({ validKeys: [KEY] });
      const { authorization: _omitted, ...headers } = perfectHeaders();

      const answer = await register(url, { headers });

      expect(answer.status).toBe(401);
      expect(answer.json).toEqual({ error: 'Unauthorized', code: 'INVALID_API_KEY', message: expect.any(String) });
      expect(sim.requests[0].problems).toContain('missing Authorization header');
    });

    it('records an Authorization header that is not "Bearer <key>"', async () => {
      await startSimulator({ validKeys: [KEY] });

      const answer = await register(url, { headers: perfectHeaders({ authorization: KEY }) });

      expect(answer.status).toBe(401);
      expect(sim.requests[0].problems).toContain('Authorization header must be "Bearer <apiKey>"');
    });

    it.each(['kdy_test_abc', 'kdy_prod_ABC', 'sk_live_123', 'kdy_dev_'])(
      'refuses the malformed key %s with 401 and never writes the key into problems or the answer',
      async (key) => {
        await startSimulator();

        const answer = await register(url, { headers: perfectHeaders({ authorization: `Bearer ${key}` }) });

        expect(answer.status).toBe(401);
        expect(answer.json.code).toBe('INVALID_API_KEY');
        expect(sim.requests[0].problems).toContain(
          'API key does not have the kdy_(prod|dev)_<lowercase alphanumerics> format',
        );
        expect(JSON.stringify(sim.requests[0].problems)).not.toContain(key);
        expect(answer.text).not.toContain(key);
      },
    );

    it('answers 401 INVALID_API_KEY to a well-formed key it does not know, which is not a problem of the request', async () => {
      await startSimulator({ validKeys: [KEY] });

      const answer = await register(url, { headers: perfectHeaders({ authorization: `Bearer ${OTHER_KEY}` }) });

      expect(answer.status).toBe(401);
      expect(answer.json.code).toBe('INVALID_API_KEY');
      expect(sim.requests[0].problems).toEqual([]);
    });

    it('answers 401 INVALID_API_KEY to a revoked key and API_KEY_EXPIRED to an expired one', async () => {
      await startSimulator({
        validKeys: [KEY],
        revokedKeys: ['kdy_prod_revoked1'],
        expiredKeys: ['kdy_prod_expired1'],
      });

      const revoked = await register(url, { headers: perfectHeaders({ authorization: 'Bearer kdy_prod_revoked1' }) });
      const expired = await register(url, { headers: perfectHeaders({ authorization: 'Bearer kdy_prod_expired1' }) });

      expect(revoked.status).toBe(401);
      expect(revoked.json).toEqual({ error: 'Unauthorized', code: 'INVALID_API_KEY', message: expect.any(String) });
      expect(expired.status).toBe(401);
      expect(expired.json).toEqual({ error: 'Unauthorized', code: 'API_KEY_EXPIRED', message: expect.any(String) });
    });

    it('follows revokeKey, expireKey and addValidKey at run time', async () => {
      await startSimulator({ validKeys: [KEY] });
      const withKey = (key: string) => register(url, { headers: perfectHeaders({ authorization: `Bearer ${key}` }) });

      expect((await withKey(OTHER_KEY)).status).toBe(401);
      sim.addValidKey(OTHER_KEY);
      expect((await withKey(OTHER_KEY)).status).toBe(200);
      sim.revokeKey(KEY);
      expect((await withKey(KEY)).json.code).toBe('INVALID_API_KEY');
      sim.expireKey(OTHER_KEY);
      expect((await withKey(OTHER_KEY)).json.code).toBe('API_KEY_EXPIRED');
    });

    it('accepts any well-formed key when no valid keys are configured', async () => {
      await startSimulator();

      const answer = await register(url, { headers: perfectHeaders({ authorization: `Bearer ${OTHER_KEY}` }) });

      expect(answer.status).toBe(200);
    });

    it('records a key that appears anywhere but the Authorization header', async () => {
      await startSimulator({ validKeys: [KEY] });

      await register(url, { path: `${REGISTER_PATH}?k=${KEY}` });

      expect(sim.requests[0].problems).toEqual(
        expect.arrayContaining(['the API key appears outside the Authorization header', 'unexpected query string']),
      );
    });
  });

  describe('malformed requests', () => {
    beforeEach(() => startSimulator({ validKeys: [KEY] }));

    const bodyCases: Array<[string, Record<string, unknown>, string]> = [
      ['an extra field', perfectBody({ clusterName: 'prod-eu' }), 'unexpected field clusterName'],
      [
        'a missing field',
        (({ kubernetesVersion: _k, ...rest }) => rest)(perfectBody()),
        'missing field kubernetesVersion',
      ],
      [
        'a non-semver operatorVersion',
        perfectBody({ operatorVersion: 'v0.1' }),
        'operatorVersion must be a semver string',
      ],
      ['a numeric operatorVersion', perfectBody({ operatorVersion: 1 }), 'operatorVersion must be a semver string'],
      [
        'a clusterIdentifier without the prefix',
        perfectBody({ clusterIdentifier: 'a1'.repeat(32) }),
        'clusterIdentifier must be',
      ],
      [
        'an uppercase clusterIdentifier',
        perfectBody({ clusterIdentifier: `sha256:${'A1'.repeat(32)}` }),
        'clusterIdentifier must be',
      ],
      [
        'a short clusterIdentifier',
        perfectBody({ clusterIdentifier: `sha256:${'a'.repeat(63)}` }),
        'clusterIdentifier must be',
      ],
      [
        'a kubernetesVersion with a v',
        perfectBody({ kubernetesVersion: 'v1.31.2' }),
        'kubernetesVersion must be MAJOR.MINOR.PATCH',
      ],
      [
        'a kubernetesVersion with a suffix',
        perfectBody({ kubernetesVersion: '1.31.2+k3s1' }),
        'kubernetesVersion must be',
      ],
      ['a kubernetesVersion without patch', perfectBody({ kubernetesVersion: '1.31' }), 'kubernetesVersion must be'],
      [
        'zero nodes',
        perfectBody({ approximateNodeCount: 0 }),
        'approximateNodeCount must be an integer from 1 to 10000',
      ],
      ['10001 nodes', perfectBody({ approximateNodeCount: 10001 }), 'approximateNodeCount must be'],
      ['a fractional node count', perfectBody({ approximateNodeCount: 2.5 }), 'approximateNodeCount must be'],
      ['a node count as a string', perfectBody({ approximateNodeCount: '3' }), 'approximateNodeCount must be'],
    ];

    it.each(bodyCases)('answers 400 INVALID_REQUEST to a body with %s', async (_name, body, detail) => {
      const answer = await register(url, { body });

      expect(answer.status).toBe(400);
      expect(answer.json).toEqual({
        error: 'Bad Request',
        code: 'INVALID_REQUEST',
        message: expect.any(String),
        details: [expect.stringContaining(detail)],
      });
      expect(sim.requests[0].problems).toEqual([expect.stringContaining(detail)]);
      expect(sim.requests[0].answeredStatus).toBe(400);
    });

    it('does not echo the value of a bad field, which could be a misplaced secret', async () => {
      await register(url, { body: perfectBody({ kubernetesVersion: 'kdy_prod_leaked42' }) });

      expect(JSON.stringify(sim.requests[0].problems)).not.toContain('leaked42');
    });

    it.each([
      ['not JSON', '{"operatorVersion": "0.1.0",', 'body is not valid JSON'],
      ['an array', JSON.stringify([perfectBody()]), 'body must be a JSON object'],
      ['empty', '', 'body is empty'],
    ])('answers 400 to a body that is %s', async (_name, rawBody, detail) => {
      const answer = await register(url, { rawBody });

      expect(answer.status).toBe(400);
      expect(answer.json.details).toContain(detail);
    });

    it.each([
      ['a Content-Type other than JSON', { 'content-type': 'text/plain' }, 'Content-Type must be application/json'],
      ['a User-Agent of another client', { 'user-agent': 'axios/1.7.2' }, 'User-Agent must be kube9-operator/<semver>'],
      [
        'a User-Agent without semver',
        { 'user-agent': 'kube9-operator/latest' },
        'User-Agent must be kube9-operator/<semver>',
      ],
      [
        'a User-Agent version unlike the body',
        { 'user-agent': 'kube9-operator/0.2.0' },
        'User-Agent version differs from operatorVersion',
      ],
    ])('answers 400 to %s', async (_name, headers, detail) => {
      const answer = await register(url, { headers: perfectHeaders(headers) });

      expect(answer.status).toBe(400);
      expect(answer.json.details).toEqual([detail]);
    });

    it.each([
      ['Content-Type', 'content-type', 'missing Content-Type header'],
      ['User-Agent', 'user-agent', 'missing User-Agent header'],
    ])('answers 400 to a request without %s', async (_name, header, detail) => {
      const headers = perfectHeaders();
      delete headers[header];

      const answer = await rawRequest(url, headers, JSON.stringify(perfectBody()));

      expect(answer.status).toBe(400);
      expect(answer.json.details).toEqual([detail]);
    });

    it('answers 401 before 400 when both the key and the body are wrong, and records both', async () => {
      const answer = await register(url, {
        headers: perfectHeaders({ authorization: 'Bearer kdy_dev_unknown' }),
        body: perfectBody({ approximateNodeCount: 0 }),
      });

      expect(answer.status).toBe(401);
      expect(sim.requests[0].problems).toEqual([expect.stringContaining('approximateNodeCount')]);
    });

    it('records an unexpected header without refusing the request', async () => {
      const answer = await register(url, { headers: perfectHeaders({ 'x-cluster-name': 'prod-eu' }) });

      expect(answer.status).toBe(200);
      expect(sim.requests[0].problems).toEqual(['unexpected header x-cluster-name']);
    });

    it('answers 405 with Allow: POST to another method on the register path', async () => {
      const answer = await register(url, { method: 'GET' });

      expect(answer.status).toBe(405);
      expect(answer.headers.get('allow')).toBe('POST');
      expect(answer.json.code).toBe('METHOD_NOT_ALLOWED');
      expect(sim.requests[0].problems).toContain('method GET used, expected POST');
    });

    it('answers 404 JSON to any other path and records it', async () => {
      const answer = await register(url, { path: '/v1/operator/registration' });

      expect(answer.status).toBe(404);
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
      expect(answer.json).toEqual({ error: 'Not Found', code: 'NOT_FOUND', message: expect.any(String) });
      expect(sim.requests[0].problems).toEqual(['unknown path /v1/operator/registration']);
    });

    it('answers 413 to a body over 64 KiB', async () => {
      const answer = await register(url, { body: perfectBody({ padding: 'x'.repeat(MAX_BODY_BYTES) }) });

      expect(answer.status).toBe(413);
      expect(answer.json.code).toBe('PAYLOAD_TOO_LARGE');
      expect(sim.requests[0].problems).toContain(`body larger than ${MAX_BODY_BYTES} bytes`);
      expect(sim.requests[0].rawBody.length).toBeLessThanOrEqual(MAX_BODY_BYTES);
    });
  });

  describe('faults', () => {
    beforeEach(() => startSimulator({ validKeys: [KEY] }));

    it('answers a status fault with a default error body', async () => {
      sim.queueFault({ kind: 'status', status: 503 });

      const answer = await register(url);

      expect(answer.status).toBe(503);
      expect(answer.json).toEqual({
        error: 'Service Unavailable',
        code: 'SERVICE_UNAVAILABLE',
        message: expect.any(String),
      });
    });

    it('answers a status fault with its own body and headers', async () => {
      sim.queueFault({
        kind: 'status',
        status: 403,
        body: { error: 'Forbidden', code: 'CLUSTER_BLOCKED', message: 'no' },
        headers: { 'x-request-id': 'r1' },
      });

      const answer = await register(url);

      expect(answer.status).toBe(403);
      expect(answer.headers.get('x-request-id')).toBe('r1');
      expect(answer.json).toEqual({ error: 'Forbidden', code: 'CLUSTER_BLOCKED', message: 'no' });
    });

    it('gives queued faults to the next calls in order, then answers normally', async () => {
      sim.queueFault({ kind: 'status', status: 500 }, 2);
      sim.queueFault({ kind: 'status', status: 400 });

      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await register(url)).status);

      expect(statuses).toEqual([500, 500, 400, 200]);
    });

    it('gives a set fault to every call until it is cleared, after the queued ones', async () => {
      sim.setFault({ kind: 'status', status: 502 });
      sim.queueFault({ kind: 'status', status: 500 });

      const statuses = [(await register(url)).status, (await register(url)).status, (await register(url)).status];
      sim.setFault(null);
      statuses.push((await register(url)).status);

      expect(statuses).toEqual([500, 502, 502, 200]);
    });

    it('does not spend faults on unknown paths', async () => {
      sim.queueFault({ kind: 'status', status: 500 });

      expect((await register(url, { path: '/elsewhere' })).status).toBe(404);
      expect((await register(url)).status).toBe(500);
    });

    it.each(['120', 'Wed, 21 Oct 2065 07:28:00 GMT'])(
      'answers a rateLimit fault 429 with Retry-After %s',
      async (retryAfter) => {
        sim.queueFault({ kind: 'rateLimit', retryAfter });

        const answer = await register(url);

        expect(answer.status).toBe(429);
        expect(answer.headers.get('retry-after')).toBe(retryAfter);
        expect(answer.json).toEqual({ error: 'Too Many Requests', code: 'RATE_LIMITED', message: expect.any(String) });
      },
    );

    it('answers normally after a delay fault', async () => {
      sim.queueFault({ kind: 'delay', ms: 300 });
      const started = Date.now();

      const answer = await register(url);

      expect(Date.now() - started).toBeGreaterThanOrEqual(290);
      expect(answer.status).toBe(200);
      expect(sim.requests[0].answeredStatus).toBe(200);
    });

    it('never answers a hang fault, so the client times out', async () => {
      sim.queueFault({ kind: 'hang' });

      const attempt = fetch(`${url}${REGISTER_PATH}`, {
        method: 'POST',
        headers: perfectHeaders(),
        body: JSON.stringify(perfectBody()),
        signal: AbortSignal.timeout(300),
      });

      await expect(attempt).rejects.toMatchObject({ name: 'TimeoutError' });
      expect(sim.requests[0].answeredStatus).toBe(0);
    });

    it('closes a hung request when stopped', async () => {
      sim.queueFault({ kind: 'hang' });
      const attempt = rawRequest(url, perfectHeaders(), JSON.stringify(perfectBody()));
      await sim.waitForRequests(1, 2000);

      await sim.stop();

      await expect(attempt).rejects.toThrow();
    });

    it('records that the client closed a hung request, and when', async () => {
      sim.queueFault({ kind: 'hang' });
      const req = http.request(`${url}${REGISTER_PATH}`, { method: 'POST', headers: perfectHeaders() });
      req.on('error', () => undefined);
      req.end(JSON.stringify(perfectBody()));
      await sim.waitForRequests(1, 2000);
      expect(sim.requests[0].connectionClosedAt).toBeUndefined();
      const abortedAt = Date.now();

      req.destroy();

      const closed = await closedRecord(sim, 0);
      expect(closed.connectionClosedBy).toBe('client');
      expect(closed.connectionClosedAt).toBeGreaterThanOrEqual(abortedAt);
    });

    it('records the connections it closed itself: a reset fault and stop()', async () => {
      sim.queueFault({ kind: 'reset' });
      sim.queueFault({ kind: 'hang' });
      await expect(register(url)).rejects.toThrow();
      const hung = rawRequest(url, perfectHeaders(), JSON.stringify(perfectBody()));
      hung.catch(() => undefined);
      await sim.waitForRequests(2, 2000);

      await sim.stop();

      expect((await closedRecord(sim, 0)).connectionClosedBy).toBe('simulator');
      expect((await closedRecord(sim, 1)).connectionClosedBy).toBe('simulator');
    });

    it('sends the headers of a trickleBody fault at once, then one space at a time and never ends', async () => {
      sim.queueFault({ kind: 'trickleBody', everyMs: 50 });
      const req = http.request(`${url}${REGISTER_PATH}`, { method: 'POST', headers: perfectHeaders() });
      req.on('error', () => undefined);
      const response = new Promise<http.IncomingMessage>((resolve) => req.once('response', resolve));
      const sentAt = Date.now();
      req.end(JSON.stringify(perfectBody()));

      const res = await response;
      const headersAfter = Date.now() - sentAt;
      const chunks: string[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
      let ended = false;
      res.on('end', () => (ended = true));
      await new Promise((resolve) => setTimeout(resolve, 600));
      req.destroy();

      expect(res.statusCode).toBe(200);
      expect(headersAfter).toBeLessThan(500);
      expect(chunks.length).toBeGreaterThanOrEqual(5);
      expect(chunks.join('')).toMatch(/^ +$/);
      expect(ended).toBe(false);
      expect(sim.requests[0].answeredStatus).toBe(200);
      expect((await closedRecord(sim, 0)).connectionClosedBy).toBe('client');
    });

    it('sends the status line of a trickleHeaders fault, then a header one byte at a time that never ends', async () => {
      sim.queueFault({ kind: 'trickleHeaders', everyMs: 50 });
      const body = JSON.stringify(perfectBody());
      const headers = Object.entries(perfectHeaders())
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join('');
      const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
      socket.write(
        `POST ${REGISTER_PATH} HTTP/1.1\r\nHost: x\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );

      await sim.waitForRequests(1, 2000);
      await new Promise((resolve) => setTimeout(resolve, 600));
      socket.destroy();

      const statusLine = 'HTTP/1.1 200 OK\r\n';
      const trickled = received.slice(statusLine.length);
      expect(received.startsWith(statusLine)).toBe(true);
      expect(trickled.length).toBeGreaterThanOrEqual(5);
      expect(`X-Trickle: ${'a'.repeat(100)}`.startsWith(trickled)).toBe(true);
      expect((await closedRecord(sim, 0)).connectionClosedBy).toBe('client');
    });

    it('stops trickling when stopped', async () => {
      sim.queueFault({ kind: 'trickleBody', everyMs: 20 });
      const req = http.request(`${url}${REGISTER_PATH}`, { method: 'POST', headers: perfectHeaders() });
      req.on('error', () => undefined);
      const response = new Promise<http.IncomingMessage>((resolve) => req.once('response', resolve));
      req.end(JSON.stringify(perfectBody()));
      const res = await response;
      res.on('error', () => undefined);
      res.resume();

      await sim.stop();

      await new Promise((resolve) => res.once('close', resolve));
      expect(res.complete).toBe(false);
      expect((await closedRecord(sim, 0)).connectionClosedBy).toBe('simulator');
    });

    it('counts the most requests in flight at once: 1 for calls one after another, 2 for two overlapping', async () => {
      await register(url);
      await register(url);
      expect(sim.maxInFlight).toBe(1);
      sim.queueFault({ kind: 'hang' }, 2);

      const first = rawRequest(url, perfectHeaders(), JSON.stringify(perfectBody()));
      const second = rawRequest(url, perfectHeaders(), JSON.stringify(perfectBody()));
      first.catch(() => undefined);
      second.catch(() => undefined);
      await sim.waitForRequests(4, 2000);

      expect(sim.maxInFlight).toBe(2);
    });

    it('resets the connection on a reset fault', async () => {
      sim.queueFault({ kind: 'reset' });

      await expect(register(url)).rejects.toThrow();
      expect(sim.requests).toHaveLength(1);
      expect((await register(url)).status).toBe(200);
    });

    it('sends the raw body of a malformed fault, 200 JSON by default', async () => {
      sim.queueFault({ kind: 'malformed', body: '{"status":"registered","clusterId":' });
      sim.queueFault({ kind: 'malformed', body: '<html>oops</html>', contentType: 'text/html', status: 502 });

      const truncated = await register(url);
      const html = await register(url);

      expect(truncated.status).toBe(200);
      expect(truncated.headers.get('content-type')).toBe('application/json');
      expect(truncated.text).toBe('{"status":"registered","clusterId":');
      expect(html.status).toBe(502);
      expect(html.headers.get('content-type')).toBe('text/html');
      expect(html.text).toBe('<html>oops</html>');
    });

    it('still records and validates a request that gets a fault', async () => {
      sim.queueFault({ kind: 'status', status: 500 });

      await register(url, { body: perfectBody({ nodeNames: ['a'] }) });

      expect(sim.requests[0]).toMatchObject({ answeredStatus: 500, problems: ['unexpected field nodeNames'] });
    });
  });

  describe('rate limit', () => {
    const start = Date.parse('2025-06-01T12:00:00Z');
    const minute = 60_000;
    let clock: number;

    beforeEach(() => {
      clock = start;
    });

    it('answers 429 RATE_LIMITED with Retry-After to the 11th attempt for a cluster within an hour, and counts it', async () => {
      await startSimulator({ validKeys: [KEY], now: () => clock });
      for (let i = 0; i < 10; i++) {
        clock = start + i * minute;
        expect((await register(url)).status).toBe(200);
      }

      clock = start + 10 * minute;
      const limited = await register(url);

      expect(limited.status).toBe(429);
      expect(limited.json).toEqual({ error: 'Too Many Requests', code: 'RATE_LIMITED', message: expect.any(String) });
      // The refused attempt counts too, so the window frees up when the second attempt leaves it.
      expect(limited.headers.get('retry-after')).toBe(String((60 * minute + minute - 10 * minute) / 1000));
      expect(sim.rateLimitViolations).toEqual({ [CLUSTER]: 1 });
      expect(sim.requests[10].problems).toEqual(['more than 10 register attempts for this cluster within an hour']);
    });

    it('lets a client that waits Retry-After register again, with no problems', async () => {
      await startSimulator({ validKeys: [KEY], now: () => clock });
      let limited: Answer | undefined;
      for (let i = 0; i <= 10; i++) {
        clock = start + i * minute;
        limited = await register(url);
      }
      expect(limited?.status).toBe(429);

      clock += Number(limited?.headers.get('retry-after')) * 1000;
      const answer = await register(url);

      expect(answer.status).toBe(200);
      expect(sim.requests[11].problems).toEqual([]);
    });

    it('keeps each cluster to its own limit', async () => {
      await startSimulator({ validKeys: [KEY], rateLimitPerHour: 2, now: () => clock });

      const statuses = [];
      for (const cluster of [CLUSTER, CLUSTER, OTHER_CLUSTER, CLUSTER, OTHER_CLUSTER]) {
        statuses.push((await register(url, { body: perfectBody({ clusterIdentifier: cluster }) })).status);
      }

      expect(statuses).toEqual([200, 200, 200, 429, 200]);
      expect(sim.rateLimitViolations).toEqual({ [CLUSTER]: 1 });
    });

    it('allows the limit again once the oldest attempt is an hour old', async () => {
      await startSimulator({ validKeys: [KEY], rateLimitPerHour: 2, now: () => clock });
      await register(url);
      clock = start + 30 * minute;
      await register(url);

      clock = start + 60 * minute;
      const answer = await register(url);

      expect(answer.status).toBe(200);
      expect(sim.rateLimitViolations).toEqual({});
    });

    it('counts attempts answered by faults, since the limit is on what the operator sends', async () => {
      await startSimulator({ validKeys: [KEY], rateLimitPerHour: 2, now: () => clock });
      sim.setFault({ kind: 'status', status: 503 });
      await register(url);
      await register(url);
      await register(url);

      expect(sim.rateLimitViolations).toEqual({ [CLUSTER]: 1 });
      expect(sim.requests[2].answeredStatus).toBe(503);
    });

    it('records a retry that comes before a Retry-After fault allowed it', async () => {
      await startSimulator({ validKeys: [KEY], now: () => clock });
      sim.queueFault({ kind: 'rateLimit', retryAfter: '120' });
      await register(url);

      clock = start + 60_000;
      await register(url);
      clock = start + 120_000;
      await register(url);

      expect(sim.requests.map((r) => r.problems)).toEqual([[], ['retried 60 s before Retry-After elapsed'], []]);
    });
  });

  describe('waitForRequests', () => {
    beforeEach(() => startSimulator());

    it('resolves once the requests have arrived', async () => {
      const waiting = sim.waitForRequests(2, 2000);
      await register(url);
      await register(url);

      await expect(waiting).resolves.toHaveLength(2);
    });

    it('rejects after the timeout, saying how many arrived', async () => {
      await register(url);

      await expect(sim.waitForRequests(2, 100)).rejects.toThrow('expected 2 request(s) within 100 ms, received 1');
    });
  });

  describe('https', () => {
    const tls = generateTestTls();

    function httpsRegister(baseUrl: string, ca?: string): Promise<{ status: number; json: any }> {
      return new Promise((resolve, reject) => {
        const req = https.request(
          `${baseUrl}${REGISTER_PATH}`,
          { method: 'POST', headers: perfectHeaders(), ca },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (c: string) => (text += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
          },
        );
        req.on('error', reject);
        req.end(JSON.stringify(perfectBody()));
      });
    }

    it('serves https that a client trusting the generated CA accepts, on 127.0.0.1 and localhost', async () => {
      await startSimulator({ validKeys: [KEY], tls: { key: tls.key, cert: tls.cert } });

      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect((await httpsRegister(url, tls.caCert)).status).toBe(200);
      expect((await httpsRegister(url.replace('127.0.0.1', 'localhost'), tls.caCert)).json.status).toBe('reregistered');
    });

    it('is refused by a client that does not trust the CA', async () => {
      await startSimulator({ validKeys: [KEY], tls: { key: tls.key, cert: tls.cert } });

      await expect(httpsRegister(url)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    });
  });
});

describe('server-simulator-cli', () => {
  let dir: string;
  let child: ChildProcessWithoutNullStreams | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kube9-sim-cli-'));
    mkdirSync(join(dir, 'support'));
    for (const name of ['server-simulator', 'server-simulator-cli']) {
      const source = readFileSync(join(__dirname, 'support', `${name}.ts`), 'utf8');
      const { outputText } = ts.transpileModule(source, {
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2023, esModuleInterop: true },
      });
      writeFileSync(join(dir, 'support', `${name}.js`), outputText);
    }
  });

  afterEach(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    child = undefined;
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function run(args: string[], env: Record<string, string>): Promise<Record<string, string>> {
    child = spawn(process.execPath, [join(dir, 'support', 'server-simulator-cli.js'), ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
    });
    const proc = child;
    return new Promise((resolve, reject) => {
      const found: Record<string, string> = {};
      let out = '';
      proc.stdout.setEncoding('utf8');
      proc.stdout.on('data', (chunk: string) => {
        out += chunk;
        for (const line of out.split('\n')) {
          const match = /^([A-Z_]+)=(.+)$/.exec(line);
          if (match) found[match[1]] = match[2];
        }
        if (found.SERVER_URL) resolve(found);
      });
      proc.on('exit', (code) => reject(new Error(`simulator exited with ${code} before SERVER_URL`)));
    });
  }

  function exited(): Promise<number | null> {
    const proc = child as ChildProcessWithoutNullStreams;
    return new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
  }

  it('prints SERVER_URL, honours the valid keys from the environment and stops on SIGTERM with code 0', async () => {
    const { SERVER_URL } = await run(['--status-interval', '20'], { KUBE9_SIM_VALID_KEYS: KEY });

    const ok = await register(SERVER_URL);
    const refused = await register(SERVER_URL, { headers: perfectHeaders({ authorization: `Bearer ${OTHER_KEY}` }) });
    const stopping = exited();
    child?.kill('SIGTERM');

    expect(ok.status).toBe(200);
    expect(ok.json.configuration.statusUpdateIntervalSeconds).toBe(20);
    expect(refused.status).toBe(401);
    expect(await stopping).toBe(0);
  });

  it('serves https with a generated CA it prints, and stops on SIGINT', async () => {
    const found = await run(['--https', '--valid-key', KEY], {});

    expect(found.SERVER_URL).toMatch(/^https:\/\//);
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request(
        `${found.SERVER_URL}${REGISTER_PATH}`,
        { method: 'POST', headers: perfectHeaders(), ca: readFileSync(found.CA_CERT, 'utf8') },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(perfectBody()));
    });
    const stopping = exited();
    child?.kill('SIGINT');

    expect(status).toBe(200);
    expect(await stopping).toBe(0);
  });

  it('exits 2 with a message naming the variable when a setting is malformed', async () => {
    child = spawn(process.execPath, [join(dir, 'support', 'server-simulator-cli.js')], {
      env: { PATH: process.env.PATH ?? '', KUBE9_SIM_RATE_LIMIT_PER_HOUR: 'ten' },
    });
    let err = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (c: string) => (err += c));

    expect(await exited()).toBe(2);
    expect(err).toContain('KUBE9_SIM_RATE_LIMIT_PER_HOUR must be an integer of at least 1');
  });
});
