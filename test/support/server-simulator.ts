/**
 * A stand-in for kube9-server's registration API (SPEC section 3), for the
 * tests and the local demo. It answers `POST /v1/operator/register` the way
 * the contract says the real server does, and it checks every request the
 * operator sends against the same contract: what it finds wrong is recorded
 * in `RecordedRequest.problems`, so a test can assert that the operator sent
 * nothing it should not have.
 *
 * It prints nothing. It never puts an API key into a problem, an error
 * body or anything it reports; the raw request (headers included) is kept in
 * memory only, for the tests to inspect.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const REGISTER_PATH = '/v1/operator/register';
export const MAX_BODY_BYTES = 64 * 1024;
export const DEFAULT_RATE_LIMIT_PER_HOUR = 10;
export const DEFAULT_CONFIGURATION: Readonly<SimulatorConfiguration> = Object.freeze({
  statusUpdateIntervalSeconds: 60,
  reregistrationIntervalHours: 24,
});

const HOUR_MS = 3_600_000;
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
const USER_AGENT = /^kube9-operator\/(\S+)$/;
const CLUSTER_IDENTIFIER = /^sha256:[0-9a-f]{64}$/;
const KUBERNETES_VERSION = /^\d+\.\d+\.\d+$/;
const API_KEY = /^kdy_(prod|dev)_[a-z0-9]+$/;
const BODY_FIELDS = ['operatorVersion', 'clusterIdentifier', 'kubernetesVersion', 'approximateNodeCount'];
const MAX_NODE_COUNT = 10_000;

/**
 * Headers an HTTP client (axios, node:http, fetch) sends on its own, plus the
 * three the contract asks for. Anything else is recorded as a problem: nothing
 * but the contract's fields may leave the cluster. It does not change the answer.
 */
const EXPECTED_HEADERS = new Set([
  'host',
  'connection',
  'keep-alive',
  'content-length',
  'transfer-encoding',
  'accept',
  'accept-encoding',
  'accept-language',
  'expect',
  'sec-fetch-mode',
  'content-type',
  'authorization',
  'user-agent',
]);

export interface RecordedRequest {
  /** `now()` when the request body had been received. */
  at: number;
  method: string;
  /** The request target as sent (path plus any query string). */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The parsed JSON body; undefined when the body is empty, too large or not JSON. */
  body: unknown;
  rawBody: string;
  /** SPEC violations found in this request, empty if perfect. Never contains the API key. */
  problems: string[];
  /** Status sent; 0 while a delayed answer is pending, and for hang and reset faults. */
  answeredStatus: number;
  /**
   * `now()` when the connection that carried this request closed, and which side closed it:
   * `client` when the client ended or reset it, `simulator` for a reset fault or stop().
   * Undefined while it is open (a kept-alive connection stays open after its answer).
   */
  connectionClosedAt?: number;
  connectionClosedBy?: 'client' | 'simulator';
}

export type Fault =
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'rateLimit'; retryAfter: string }
  | { kind: 'delay'; ms: number }
  | { kind: 'hang' }
  /** Status line and headers at once, then the body one space (valid leading JSON whitespace) every `everyMs`, forever. */
  | { kind: 'trickleBody'; everyMs: number }
  /** The status line at once, then one byte of a header every `everyMs`, forever; the headers never end. */
  | { kind: 'trickleHeaders'; everyMs: number }
  | { kind: 'reset' }
  | { kind: 'malformed'; body: string; contentType?: string; status?: number };

export interface SimulatorConfiguration {
  statusUpdateIntervalSeconds: number;
  reregistrationIntervalHours: number;
  metricsEnabled?: boolean;
  metricsIntervalSeconds?: number;
}

export interface SimulatorOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Serve https with this key and certificate (see generateTestTls). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /**
   * Keys that register. When absent, every well-formed key that is neither
   * revoked nor expired registers; once given (or after addValidKey), only
   * the listed keys do.
   */
  validKeys?: string[];
  /** Answered 401 INVALID_API_KEY. */
  revokedKeys?: string[];
  /** Answered 401 API_KEY_EXPIRED. */
  expiredKeys?: string[];
  /** Sent in every 200; not validated, so a test can send a bad one. Default DEFAULT_CONFIGURATION. */
  configuration?: SimulatorConfiguration;
  /** Register attempts per cluster in a sliding hour. Default 10. */
  rateLimitPerHour?: number;
  /** The clock, in epoch milliseconds. Default Date.now. */
  now?: () => number;
  /** Called once the simulator is done with a request (answered, reset or left hanging). */
  onRequest?: (request: RecordedRequest) => void;
}

interface ErrorBody {
  error: string;
  code: string;
  message: string;
  details?: string[];
}

type Answer =
  | { kind: 'json'; status: number; body: unknown; headers?: Record<string, string> }
  | { kind: 'raw'; status: number; body: string; contentType: string };

interface Inspection {
  /** Problems that make the request malformed: answered 400 with these as details. */
  invalid: string[];
  /** Problems that are recorded but do not change the answer. */
  noted: string[];
  auth: { ok: true } | { ok: false; code: 'INVALID_API_KEY' | 'API_KEY_EXPIRED'; message: string };
  tooLarge: boolean;
  clusterIdentifier?: string;
}

export class ServerSimulator {
  readonly requests: RecordedRequest[] = [];

  private readonly host: string;
  private readonly port: number;
  private readonly tls?: SimulatorOptions['tls'];
  private readonly now: () => number;
  private readonly rateLimitPerHour: number;
  private readonly onRequest?: (request: RecordedRequest) => void;

  private validKeys?: Set<string>;
  private readonly revokedKeys: Set<string>;
  private readonly expiredKeys: Set<string>;
  private configuration: SimulatorConfiguration;

  private readonly queuedFaults: Fault[] = [];
  private stickyFault: Fault | null = null;

  /** Register attempts per clusterIdentifier, oldest first, within the last hour. */
  private readonly attempts = new Map<string, number[]>();
  private readonly violations = new Map<string, number>();
  private readonly registered = new Set<string>();
  /** Earliest time the next attempt may come, per clusterIdentifier, after a 429. */
  private readonly notBefore = new Map<string, number>();

  private server?: http.Server;
  private baseUrl?: string;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly waiters = new Set<() => boolean>();
  /** Sockets the simulator itself closed (reset fault, stop()), to tell who closed a connection. */
  private readonly closedHere = new WeakSet<Socket>();
  /** The requests each connection carried, to mark them when it closes. */
  private readonly carried = new WeakMap<Socket, RecordedRequest[]>();
  private inFlight = 0;
  private mostInFlight = 0;

  constructor(opts: SimulatorOptions = {}) {
    this.host = opts.host ?? '127.0.0.1';
    this.port = opts.port ?? 0;
    this.tls = opts.tls;
    this.now = opts.now ?? Date.now;
    this.rateLimitPerHour = opts.rateLimitPerHour ?? DEFAULT_RATE_LIMIT_PER_HOUR;
    this.onRequest = opts.onRequest;
    this.validKeys = opts.validKeys ? new Set(opts.validKeys) : undefined;
    this.revokedKeys = new Set(opts.revokedKeys ?? []);
    this.expiredKeys = new Set(opts.expiredKeys ?? []);
    this.configuration = { ...(opts.configuration ?? DEFAULT_CONFIGURATION) };
  }

  /** The base URL, e.g. http://127.0.0.1:PORT (no trailing slash). Throws before start(). */
  get url(): string {
    if (!this.baseUrl) throw new Error('ServerSimulator is not started');
    return this.baseUrl;
  }

  /**
   * The most requests that were open at once: from the first byte of a request until its
   * answer was sent or its connection closed. 1 for a client that never overlaps its calls.
   */
  get maxInFlight(): number {
    return this.mostInFlight;
  }

  /** Attempts over the rate limit, per clusterIdentifier; `{}` when the operator kept to it. */
  get rateLimitViolations(): Readonly<Record<string, number>> {
    return Object.fromEntries(this.violations);
  }

  async start(): Promise<string> {
    if (this.server) throw new Error('ServerSimulator is already started');
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => this.receive(req, res);
    const server = this.tls
      ? https.createServer({ key: this.tls.key, cert: this.tls.cert }, handler)
      : http.createServer(handler);
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    server.on('clientError', (_err, socket) => socket.destroy());
    server.on('tlsClientError', () => undefined);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const { port } = server.address() as AddressInfo;
    const host = this.host.includes(':') ? `[${this.host}]` : this.host;
    this.baseUrl = `${this.tls ? 'https' : 'http'}://${host}:${port}`;
    return this.baseUrl;
  }

  /** Closes the server and every open socket, hung requests included. Safe to call twice. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) {
      this.closedHere.add(socket);
      socket.destroy();
    }
    this.sockets.clear();
    await closed;
  }

  /** The next `times` register calls get this fault, in the order queued; before any setFault fault. */
  queueFault(f: Fault, times = 1): void {
    for (let i = 0; i < times; i++) this.queuedFaults.push(f);
  }

  /** Every register call gets this fault (after the queued ones) until setFault(null). */
  setFault(f: Fault | null): void {
    this.stickyFault = f;
  }

  addValidKey(k: string): void {
    (this.validKeys ??= new Set()).add(k);
    this.revokedKeys.delete(k);
    this.expiredKeys.delete(k);
  }

  revokeKey(k: string): void {
    this.validKeys?.delete(k);
    this.revokedKeys.add(k);
  }

  expireKey(k: string): void {
    this.validKeys?.delete(k);
    this.expiredKeys.add(k);
  }

  setConfiguration(c: SimulatorConfiguration): void {
    this.configuration = { ...c };
  }

  /** Resolves with a copy of `requests` once it holds at least n; rejects after timeoutMs. */
  waitForRequests(n: number, timeoutMs: number): Promise<RecordedRequest[]> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (this.requests.length < n) return false;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(this.requests.slice());
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`expected ${n} request(s) within ${timeoutMs} ms, received ${this.requests.length}`));
      }, timeoutMs);
      if (!check()) this.waiters.add(check);
    });
  }

  /** The clusterId this simulator hands out for a clusterIdentifier: `cls_` + 24 lowercase hex. */
  clusterIdFor(clusterIdentifier: string): string {
    const digest = createHash('sha256').update(`kube9-server-simulator:${clusterIdentifier}`).digest('hex');
    return `cls_${digest.slice(0, 24)}`;
  }

  private receive(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.inFlight += 1;
    this.mostInFlight = Math.max(this.mostInFlight, this.inFlight);
    res.once('close', () => (this.inFlight -= 1));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () => this.respond(req, res, Buffer.concat(chunks).toString('utf8'), size > MAX_BODY_BYTES));
    req.on('error', () => undefined);
  }

  private respond(req: http.IncomingMessage, res: http.ServerResponse, rawBody: string, tooLarge: boolean): void {
    const at = this.now();
    const target = req.url ?? '';
    const record: RecordedRequest = {
      at,
      method: req.method ?? '',
      path: target,
      headers: { ...req.headers },
      body: tooLarge ? undefined : parseJson(rawBody),
      rawBody,
      problems: [],
      answeredStatus: 0,
    };
    const pathname = target.split('?')[0];
    this.watchConnection(req.socket, record);

    if (pathname !== REGISTER_PATH) {
      record.problems.push(`unknown path ${truncate(pathname)}`);
      this.remember(record);
      this.answer(res, record, errorAnswer(404, 'Not Found', 'NOT_FOUND', `No route for ${req.method} ${pathname}`));
      return;
    }

    const inspection = this.inspect(req, record, tooLarge);
    record.problems.push(...inspection.invalid, ...inspection.noted);
    const limited = this.countAttempt(inspection.clusterIdentifier, at, record);
    const fault = this.queuedFaults.shift() ?? this.stickyFault;
    this.remember(record);

    if (fault) {
      this.applyFault(fault, req, res, record, inspection, limited);
      return;
    }
    this.answer(res, record, this.normalAnswer(req, inspection, limited));
  }

  private normalAnswer(req: http.IncomingMessage, inspection: Inspection, limited: RateDecision): Answer {
    if (req.method !== 'POST') {
      const answer = errorAnswer(405, 'Method Not Allowed', 'METHOD_NOT_ALLOWED', `Use POST ${REGISTER_PATH}`);
      return { ...answer, headers: { Allow: 'POST' } };
    }
    if (inspection.tooLarge) {
      return errorAnswer(413, 'Payload Too Large', 'PAYLOAD_TOO_LARGE', `Request body exceeds ${MAX_BODY_BYTES} bytes`);
    }
    if (!inspection.auth.ok) {
      return errorAnswer(401, 'Unauthorized', inspection.auth.code, inspection.auth.message);
    }
    if (inspection.invalid.length > 0) {
      return {
        kind: 'json',
        status: 400,
        body: {
          error: 'Bad Request',
          code: 'INVALID_REQUEST',
          message: 'The registration request is invalid',
          details: inspection.invalid,
        } satisfies ErrorBody,
      };
    }
    const clusterIdentifier = inspection.clusterIdentifier as string;
    if (limited.over) {
      this.notBefore.set(clusterIdentifier, this.now() + limited.retryAfterSeconds * 1000);
      const answer = errorAnswer(
        429,
        'Too Many Requests',
        'RATE_LIMITED',
        `At most ${this.rateLimitPerHour} registrations per hour per cluster`,
      );
      return { ...answer, headers: { 'Retry-After': String(limited.retryAfterSeconds) } };
    }
    const again = this.registered.has(clusterIdentifier);
    this.registered.add(clusterIdentifier);
    return {
      kind: 'json',
      status: 200,
      body: {
        status: again ? 'reregistered' : 'registered',
        clusterId: this.clusterIdFor(clusterIdentifier),
        tier: 'pro',
        configuration: { ...this.configuration },
        message: again ? 'Cluster re-registered' : 'Cluster registered',
      },
    };
  }

  private applyFault(
    fault: Fault,
    req: http.IncomingMessage,
    res: http.ServerResponse,
    record: RecordedRequest,
    inspection: Inspection,
    limited: RateDecision,
  ): void {
    switch (fault.kind) {
      case 'status': {
        const fallback = defaultErrorBody(fault.status);
        this.answer(res, record, {
          kind: 'json',
          status: fault.status,
          body: fault.body === undefined ? fallback : fault.body,
          headers: fault.headers,
        });
        return;
      }
      case 'rateLimit': {
        const waitMs = retryAfterMs(fault.retryAfter, this.now());
        if (waitMs !== undefined) this.notBefore.set(inspection.clusterIdentifier ?? '', this.now() + waitMs);
        const answer = errorAnswer(429, 'Too Many Requests', 'RATE_LIMITED', 'Rate limit exceeded');
        this.answer(res, record, { ...answer, headers: { 'Retry-After': fault.retryAfter } });
        return;
      }
      case 'delay': {
        const answer = this.normalAnswer(req, inspection, limited);
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.answer(res, record, answer);
        }, fault.ms);
        this.timers.add(timer);
        return;
      }
      case 'hang':
        this.onRequest?.(record);
        return;
      case 'reset':
        this.onRequest?.(record);
        this.closedHere.add(req.socket);
        resetSocket(req.socket);
        return;
      case 'trickleBody':
        res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
        res.flushHeaders();
        record.answeredStatus = 200;
        this.onRequest?.(record);
        this.trickle(req.socket, fault.everyMs, () => res.write(' '));
        return;
      case 'trickleHeaders': {
        // Straight onto the socket: node:http would not send a header without ending the head.
        const name = 'X-Trickle: ';
        let sent = 0;
        req.socket.write('HTTP/1.1 200 OK\r\n');
        this.onRequest?.(record);
        this.trickle(req.socket, fault.everyMs, () => req.socket.write(sent < name.length ? name[sent++] : 'a'));
        return;
      }
      case 'malformed':
        this.answer(res, record, {
          kind: 'raw',
          status: fault.status ?? 200,
          body: fault.body,
          contentType: fault.contentType ?? 'application/json',
        });
        return;
    }
  }

  /** Calls `send` every `everyMs` until the connection closes or the simulator stops. */
  private trickle(socket: Socket, everyMs: number, send: () => void): void {
    const timer = setInterval(() => {
      if (socket.destroyed) return;
      send();
    }, everyMs);
    this.timers.add(timer);
    socket.once('close', () => {
      clearInterval(timer);
      this.timers.delete(timer);
    });
  }

  /**
   * Records on `record` when and by whom the connection that carried it closed: the client
   * when its FIN ('end') or its reset ('error') came first, the simulator otherwise (a reset
   * fault, stop(), or node:http closing an idle kept-alive connection).
   */
  private watchConnection(socket: Socket, record: RecordedRequest): void {
    const known = this.carried.get(socket);
    if (known) {
      known.push(record);
      return;
    }
    const records = [record];
    this.carried.set(socket, records);
    let byClient = false;
    const closed = () => {
      const by = byClient && !this.closedHere.has(socket) ? 'client' : 'simulator';
      for (const each of records) {
        if (each.connectionClosedAt !== undefined) continue;
        each.connectionClosedAt = this.now();
        each.connectionClosedBy = by;
      }
    };
    socket.once('end', () => (byClient = true));
    socket.once('error', () => (byClient = true));
    if (socket.destroyed) closed();
    else socket.once('close', closed);
  }

  private inspect(req: http.IncomingMessage, record: RecordedRequest, tooLarge: boolean): Inspection {
    const invalid: string[] = [];
    const noted: string[] = [];
    const headers = req.headers;

    if (req.method !== 'POST') invalid.push(`method ${req.method} used, expected POST`);
    if (record.path.includes('?')) noted.push('unexpected query string');

    const auth = this.checkAuthorization(headers.authorization, invalid);
    const key = bearerKey(headers.authorization);
    if (key && keyLeaked(key, req, record.rawBody)) {
      noted.push('the API key appears outside the Authorization header');
    }

    const contentType = headers['content-type'];
    if (contentType === undefined) invalid.push('missing Content-Type header');
    else if (!isJsonContentType(contentType)) invalid.push('Content-Type must be application/json');

    const userAgent = headers['user-agent'];
    const uaMatch = userAgent === undefined ? undefined : USER_AGENT.exec(userAgent)?.[1];
    const uaVersion = uaMatch !== undefined && SEMVER.test(uaMatch) ? uaMatch : undefined;
    if (userAgent === undefined) invalid.push('missing User-Agent header');
    else if (uaVersion === undefined) invalid.push('User-Agent must be kube9-operator/<semver>');

    for (const name of Object.keys(headers)) {
      if (!EXPECTED_HEADERS.has(name)) noted.push(`unexpected header ${truncate(name)}`);
    }

    let clusterIdentifier: string | undefined;
    if (tooLarge) {
      invalid.push(`body larger than ${MAX_BODY_BYTES} bytes`);
    } else {
      const body = record.body;
      if (record.rawBody.trim() === '') invalid.push('body is empty');
      else if (body === undefined) invalid.push('body is not valid JSON');
      else if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        invalid.push('body must be a JSON object');
      } else {
        const fields = body as Record<string, unknown>;
        invalid.push(...checkBody(fields));
        if (typeof fields.clusterIdentifier === 'string') clusterIdentifier = fields.clusterIdentifier;
        const bodyVersion = fields.operatorVersion;
        if (
          uaVersion !== undefined &&
          typeof bodyVersion === 'string' &&
          SEMVER.test(bodyVersion) &&
          uaVersion !== bodyVersion
        ) {
          invalid.push('User-Agent version differs from operatorVersion');
        }
      }
    }
    return { invalid, noted, auth, tooLarge, clusterIdentifier };
  }

  private checkAuthorization(header: string | undefined, invalid: string[]): Inspection['auth'] {
    const refuse = (message: string, code: 'INVALID_API_KEY' | 'API_KEY_EXPIRED' = 'INVALID_API_KEY') =>
      ({ ok: false, code, message }) as const;
    if (header === undefined) {
      invalid.push('missing Authorization header');
      return refuse('Missing API key');
    }
    const key = bearerKey(header);
    if (key === undefined) {
      invalid.push('Authorization header must be "Bearer <apiKey>"');
      return refuse('Missing API key');
    }
    if (!API_KEY.test(key)) {
      invalid.push('API key does not have the kdy_(prod|dev)_<lowercase alphanumerics> format');
      return refuse('Invalid API key');
    }
    if (this.revokedKeys.has(key)) return refuse('API key has been revoked');
    if (this.expiredKeys.has(key)) return refuse('API key has expired', 'API_KEY_EXPIRED');
    if (this.validKeys && !this.validKeys.has(key)) return refuse('Invalid API key');
    return { ok: true };
  }

  /**
   * Counts this attempt against the cluster's sliding hour. Every register call
   * that names a clusterIdentifier counts, whatever it is answered (faults, 401
   * and 429 included): the contract is about what the operator sends.
   */
  private countAttempt(clusterIdentifier: string | undefined, at: number, record: RecordedRequest): RateDecision {
    const earliest = this.notBefore.get(clusterIdentifier ?? '');
    if (earliest !== undefined && at < earliest) {
      record.problems.push(`retried ${Math.ceil((earliest - at) / 1000)} s before Retry-After elapsed`);
    }
    if (clusterIdentifier === undefined) return { over: false, retryAfterSeconds: 0 };

    const recent = (this.attempts.get(clusterIdentifier) ?? []).filter((t) => t > at - HOUR_MS);
    const over = recent.length >= this.rateLimitPerHour;
    recent.push(at);
    this.attempts.set(clusterIdentifier, recent);
    if (!over) return { over: false, retryAfterSeconds: 0 };

    this.violations.set(clusterIdentifier, (this.violations.get(clusterIdentifier) ?? 0) + 1);
    record.problems.push(`more than ${this.rateLimitPerHour} register attempts for this cluster within an hour`);
    const freesUp = recent[recent.length - this.rateLimitPerHour] + HOUR_MS;
    return { over: true, retryAfterSeconds: Math.max(1, Math.ceil((freesUp - at) / 1000)) };
  }

  private remember(record: RecordedRequest): void {
    this.requests.push(record);
    for (const waiter of [...this.waiters]) waiter();
  }

  private answer(res: http.ServerResponse, record: RecordedRequest, answer: Answer): void {
    if (res.destroyed || res.writableEnded) return;
    const body = answer.kind === 'json' ? JSON.stringify(answer.body) : answer.body;
    const contentType = answer.kind === 'json' ? 'application/json; charset=utf-8' : answer.contentType;
    res.writeHead(answer.status, {
      ...(answer.kind === 'json' ? answer.headers : undefined),
      'Content-Type': contentType,
      'Content-Length': Buffer.byteLength(body),
    });
    res.end(body);
    record.answeredStatus = answer.status;
    this.onRequest?.(record);
  }
}

interface RateDecision {
  over: boolean;
  retryAfterSeconds: number;
}

function checkBody(fields: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const name of BODY_FIELDS) {
    if (!(name in fields)) problems.push(`missing field ${name}`);
  }
  for (const name of Object.keys(fields)) {
    if (!BODY_FIELDS.includes(name)) problems.push(`unexpected field ${truncate(name)}`);
  }
  const { operatorVersion, clusterIdentifier, kubernetesVersion, approximateNodeCount } = fields;
  if ('operatorVersion' in fields && !(typeof operatorVersion === 'string' && SEMVER.test(operatorVersion))) {
    problems.push(`operatorVersion must be a semver string (got ${describe(operatorVersion)})`);
  }
  if (
    'clusterIdentifier' in fields &&
    !(typeof clusterIdentifier === 'string' && CLUSTER_IDENTIFIER.test(clusterIdentifier))
  ) {
    problems.push(
      `clusterIdentifier must be sha256: followed by 64 lowercase hex digits (got ${describe(clusterIdentifier)})`,
    );
  }
  if (
    'kubernetesVersion' in fields &&
    !(typeof kubernetesVersion === 'string' && KUBERNETES_VERSION.test(kubernetesVersion))
  ) {
    problems.push(`kubernetesVersion must be MAJOR.MINOR.PATCH (got ${describe(kubernetesVersion)})`);
  }
  if (
    'approximateNodeCount' in fields &&
    !(
      typeof approximateNodeCount === 'number' &&
      Number.isInteger(approximateNodeCount) &&
      approximateNodeCount >= 1 &&
      approximateNodeCount <= MAX_NODE_COUNT
    )
  ) {
    problems.push(
      `approximateNodeCount must be an integer from 1 to ${MAX_NODE_COUNT} (got ${describe(approximateNodeCount)})`,
    );
  }
  return problems;
}

/** Describes a value without echoing it: a misplaced secret must not end up in a report. */
function describe(value: unknown): string {
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  if (typeof value === 'number') return Number.isInteger(value) ? `the integer ${value}` : 'a non-integer number';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function truncate(text: string): string {
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}

function bearerKey(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^Bearer (\S+)$/.exec(header);
  return match?.[1];
}

function keyLeaked(key: string, req: http.IncomingMessage, rawBody: string): boolean {
  if (rawBody.includes(key) || (req.url ?? '').includes(key)) return true;
  return Object.entries(req.headers).some(
    ([name, value]) => name !== 'authorization' && value !== undefined && String(value).includes(key),
  );
}

function isJsonContentType(value: string): boolean {
  const [mediaType, ...params] = value.split(';').map((part) => part.trim().toLowerCase());
  return mediaType === 'application/json' && params.every((p) => p === 'charset=utf-8');
}

function errorAnswer(status: number, error: string, code: string, message: string): Answer & { kind: 'json' } {
  return { kind: 'json', status, body: { error, code, message } satisfies ErrorBody };
}

function defaultErrorBody(status: number): ErrorBody {
  const known: Record<number, [string, string]> = {
    400: ['Bad Request', 'INVALID_REQUEST'],
    401: ['Unauthorized', 'INVALID_API_KEY'],
    403: ['Forbidden', 'FORBIDDEN'],
    404: ['Not Found', 'NOT_FOUND'],
    429: ['Too Many Requests', 'RATE_LIMITED'],
    500: ['Internal Server Error', 'INTERNAL_ERROR'],
    502: ['Bad Gateway', 'BAD_GATEWAY'],
    503: ['Service Unavailable', 'SERVICE_UNAVAILABLE'],
    504: ['Gateway Timeout', 'GATEWAY_TIMEOUT'],
  };
  const [error, code] = known[status] ?? [http.STATUS_CODES[status] ?? 'Error', `HTTP_${status}`];
  return { error, code, message: `Simulated ${status} ${error}` };
}

/** Retry-After as seconds or an HTTP date, in milliseconds from now; undefined when unreadable. */
function retryAfterMs(value: string, now: number): number | undefined {
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function resetSocket(socket: Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    // A TLS socket has no TCP handle of its own to reset; closing it abruptly is the nearest.
    socket.destroy();
  }
}

/**
 * A throw-away certificate authority and a server certificate it signed, for
 * 127.0.0.1, localhost and `extraIps`, valid for 7 days. Made with the `openssl` CLI in a
 * temporary folder that is removed before returning.
 */
export function generateTestTls(extraIps: string[] = []): { caCert: string; key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kube9-sim-tls-'));
  const file = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  try {
    writeFileSync(
      file('server.ext'),
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        `subjectAltName=${['DNS:localhost', 'IP:127.0.0.1', 'IP:::1', ...extraIps.map((ip) => `IP:${ip}`)].join(',')}`,
        'subjectKeyIdentifier=hash',
        'authorityKeyIdentifier=keyid,issuer',
        '',
      ].join('\n'),
    );
    openssl(
      'req',
      '-x509',
      ...ecKey,
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.crt'),
      '-days',
      '7',
      '-subj',
      '/CN=kube9 server simulator test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    openssl(
      'req',
      '-new',
      ...ecKey,
      '-keyout',
      file('server.key'),
      '-out',
      file('server.csr'),
      '-subj',
      '/CN=localhost',
    );
    openssl(
      'x509',
      '-req',
      '-in',
      file('server.csr'),
      '-CA',
      file('ca.crt'),
      '-CAkey',
      file('ca.key'),
      '-set_serial',
      `0x${createHash('sha256').update(dir).digest('hex').slice(0, 16)}`,
      '-days',
      '7',
      '-extfile',
      file('server.ext'),
      '-out',
      file('server.crt'),
    );
    return {
      caCert: readFileSync(file('ca.crt'), 'utf8'),
      key: readFileSync(file('server.key'), 'utf8'),
      cert: readFileSync(file('server.crt'), 'utf8'),
    };
  } catch (err) {
    throw new Error('generateTestTls: openssl failed', { cause: err });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
