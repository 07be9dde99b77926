import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { generateTestTls } from '@test/support/server-simulator';
import { cleanError } from '../../common/error-text';
import { loadOperatorConfig } from '../config/load-operator-config';
import { ConfigModule } from '../config/config.module';
import { RegistrationRequestDto } from './dto/registration-request.dto';
import { RegistrationClient, registrationHttpModule } from './registration.client';

const KEY = 'kdy_dev_clientspec1';
const PASSWORD = 'pr0xy-s3cret';
const BODY: RegistrationRequestDto = {
  operatorVersion: '0.1.0',
  clusterIdentifier: `sha256:${'a'.repeat(64)}`,
  kubernetesVersion: '1.31.2',
  approximateNodeCount: 1,
};

/** A stand-in for a proxy that answers every CONNECT with `status` and counts what it saw. */
class RefusingProxy {
  readonly seen: string[] = [];
  private readonly server: http.Server;
  constructor(status: number) {
    this.server = http.createServer((request, response) => {
      this.seen.push(`${request.method} ${request.url}`);
      response.writeHead(status).end();
    });
    this.server.on('connect', (request: http.IncomingMessage, socket: Socket) => {
      this.seen.push(`CONNECT ${request.url}`);
      socket.end(`HTTP/1.1 ${status} Refused\r\n\r\n`);
    });
  }
  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('RegistrationClient', () => {
  let client: RegistrationClient | undefined;

  async function build(env: Record<string, string>): Promise<RegistrationClient> {
    const moduleRef = await Test.createTestingModule({
      imports: [ConfigModule.forRoot(loadOperatorConfig(env)), registrationHttpModule()],
      providers: [RegistrationClient],
    }).compile();
    const built = moduleRef.get(RegistrationClient);
    client = built;
    return built;
  }

  afterEach(async () => {
    await client?.onApplicationShutdown();
    client = undefined;
  });

  it('names the proxy, never its credentials, when the proxy cannot be reached', async () => {
    const proxyPort = await closedPort();
    const registration = await build({
      SERVER_URL: 'https://kube9.example.test:8443',
      HTTPS_PROXY: `http://alice:${PASSWORD}@127.0.0.1:${proxyPort}`,
    });

    const outcome = await registration.register(KEY, BODY);

    expect(outcome).toEqual({
      kind: 'transient',
      failure: 'network_error',
      reason: `Proxy http://127.0.0.1:${proxyPort} (HTTPS_PROXY) could not be reached (ECONNREFUSED); retrying with backoff`,
    });
  });

  it('shows a proxy without credentials as it is, in the status error too (nothing of it is redacted)', async () => {
    const proxyPort = await closedPort();
    const registration = await build({
      SERVER_URL: 'https://kube9.example.test:8443',
      HTTPS_PROXY: `http://127.0.0.1:${proxyPort}`,
    });

    const outcome = await registration.register(KEY, BODY);

    expect(outcome.kind === 'transient' && cleanError(outcome.reason)).toBe(
      `Proxy http://127.0.0.1:${proxyPort} (HTTPS_PROXY) could not be reached (ECONNREFUSED); retrying with backoff`,
    );
  });

  it('redacts the proxy password wherever a text would carry it', async () => {
    const password = 'only-in-this-T3st';
    await build({ SERVER_URL: 'https://kube9.example.test', HTTPS_PROXY: `http://alice:${password}@127.0.0.1:3128` });

    const text = cleanError(`tried http://alice:${password}@127.0.0.1:3128 with ${password}`);

    expect(text).toBe('tried [redacted] with [redacted]');
  });

  it.each([
    [407, ' (check the user and password in the proxy URL)'],
    [403, ''],
  ])('names a proxy that answers CONNECT with %i', async (status, hint) => {
    const proxy = new RefusingProxy(status);
    const proxyPort = await proxy.start();
    try {
      const registration = await build({
        SERVER_URL: 'https://kube9.example.test:8443',
        https_proxy: `http://alice:${PASSWORD}@127.0.0.1:${proxyPort}`,
      });

      const outcome = await registration.register(KEY, BODY);

      expect(proxy.seen).toEqual(['CONNECT kube9.example.test:8443']);
      expect(outcome).toEqual({
        kind: 'transient',
        failure: 'network_error',
        reason:
          `Proxy http://127.0.0.1:${proxyPort} (https_proxy) refused the tunnel to kube9-server at ` +
          `kube9.example.test:8443: it answered CONNECT with ${status}${hint}; retrying with backoff`,
      });
    } finally {
      await proxy.stop();
    }
  });

  it.each([
    ['a URL without a scheme', `alice:${PASSWORD}@proxy.corp:3128`, 'its scheme must be http:// or https://'],
    ['a URL that does not parse', `http://alice:${PASSWORD}@[proxy.corp:3128`, 'it does not parse'],
  ])(
    'reports %s as a configuration error, logged once at start-up, and sends nothing',
    async (_name, proxyUrl, rule) => {
      const proxy = new RefusingProxy(403);
      await proxy.start();
      const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
      try {
        const registration = await build({ SERVER_URL: 'https://kube9.example.test', HTTPS_PROXY: proxyUrl });

        const outcome = await registration.register(KEY, BODY);

        const reason =
          `Configuration error: HTTPS_PROXY is not a usable proxy URL (${rule}); ` +
          'expected http://[user:password@]host:port; registration is not attempted until it is fixed';
        expect(outcome).toEqual({ kind: 'transient', failure: 'not_sent', reason });
        expect(logged.mock.calls).toEqual([[reason]]);
        expect(proxy.seen).toEqual([]);
      } finally {
        logged.mockRestore();
        await proxy.stop();
      }
    },
  );

  it('goes direct when NO_PROXY covers kube9-server: the proxy sees nothing', async () => {
    const proxy = new RefusingProxy(403);
    const proxyPort = await proxy.start();
    const serverPort = await closedPort();
    try {
      const registration = await build({
        SERVER_URL: `https://127.0.0.1:${serverPort}`,
        HTTPS_PROXY: `http://127.0.0.1:${proxyPort}`,
        NO_PROXY: 'localhost,127.0.0.1',
      });

      const outcome = await registration.register(KEY, BODY);

      expect(outcome).toEqual({
        kind: 'transient',
        failure: 'network_error',
        reason: `Could not reach kube9-server at 127.0.0.1:${serverPort} (ECONNREFUSED); retrying with backoff`,
      });
      expect(proxy.seen).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('says that the certificate did not verify when no trusted CA signed it', async () => {
    // This process trusts only the public CAs: the test CA is not in its NODE_EXTRA_CA_CERTS.
    const tls = generateTestTls();
    const server = https.createServer({ key: tls.key, cert: tls.cert }, (_request, response) => response.end('{}'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const registration = await build({ SERVER_URL: `https://localhost:${port}` });

      const outcome = await registration.register(KEY, BODY);

      expect(outcome).toEqual({
        kind: 'transient',
        failure: 'network_error',
        reason:
          `TLS certificate of kube9-server at localhost:${port} did not verify (UNABLE_TO_VERIFY_LEAF_SIGNATURE); ` +
          'if a private CA signs it, give that CA in NODE_EXTRA_CA_CERTS (chart: caBundle); retrying with backoff',
      });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('does not read an answer larger than 64 KiB', async () => {
    const server = http.createServer((_request, response) => response.end('x'.repeat(100_000)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const registration = await build({ SERVER_URL: `http://127.0.0.1:${port}`, ALLOW_INSECURE_SERVER_URL: 'true' });

      const outcome = await registration.register(KEY, BODY);

      expect(outcome).toEqual({
        kind: 'transient',
        failure: 'invalid_response',
        reason: `kube9-server at 127.0.0.1:${port} sent an answer larger than 65536 bytes; treated as a server error`,
      });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
