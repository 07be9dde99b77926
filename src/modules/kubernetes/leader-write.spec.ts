import { KubeConfig } from '@kubernetes/client-node';
import { createServer, IncomingMessage, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { createKubernetesClients, KubernetesClients } from './kubernetes-clients';
import { leaderWriteOptions, leaderWriteWindow, LeaseTimeUpError } from './leader-write';

const NOW = Date.parse('2026-11-27T06:00:00.000Z');

describe('leaderWriteWindow', () => {
  it.each<[string, number | undefined, ReturnType<typeof leaderWriteWindow>]>([
    ['not leading: not sent', undefined, { send: false }],
    ['the lease time ended 1 ms ago: not sent', NOW - 1, { send: false }],
    ['the lease time ends now: not sent', NOW, { send: false }],
    ['1 ms left: sent, cut after 1 ms', NOW + 1, { send: true, cutAfterMs: 1 }],
    ['9.5 s left: sent, cut after 9.5 s', NOW + 9_500, { send: true, cutAfterMs: 9_500 }],
    ['election off (no Lease to lose): sent, the request timeout alone applies', Infinity, { send: true }],
  ])('%s', (_name, leadsUntilMs, expected) => {
    expect(leaderWriteWindow({ nowMs: NOW, leadsUntilMs })).toEqual(expected);
  });
});

/** The operator's own clients (kubernetes-clients.ts) for a plain-HTTP local server. */
function clientsFor(server: Server): KubernetesClients {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [
      { name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true },
    ],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return createKubernetesClients(kubeConfig);
}

/**
 * Through a real client-node API object and undici, against a local HTTP server that reads each
 * request and never answers (an API server stuck in a slow admission webhook, say).
 */
describe('leaderWriteOptions on a real request', () => {
  let server: Server;
  let clients: KubernetesClients;
  const received: { at: number; closedAt?: number }[] = [];
  const held: IncomingMessage[] = [];

  beforeAll(async () => {
    server = createServer((request) => {
      const entry: { at: number; closedAt?: number } = { at: Date.now() };
      received.push(entry);
      held.push(request);
      request.resume();
      request.socket.on('close', () => (entry.closedAt = Date.now()));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    clients = clientsFor(server);
  });

  beforeEach(() => (received.length = 0));

  afterAll(async () => {
    for (const request of held) request.socket.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const write = (leadsUntil: () => number | undefined) =>
    clients.core.replaceNamespacedConfigMap(
      { name: 'kube9-operator-status', namespace: 'ops', body: { metadata: { name: 'kube9-operator-status' } } },
      leaderWriteOptions(leadsUntil),
    );

  it('a write after the lease time is up is not sent at all', async () => {
    await expect(write(() => Date.now() - 1)).rejects.toThrow(LeaseTimeUpError);
    await expect(write(() => undefined)).rejects.toThrow(/not sent/);
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(received).toHaveLength(0);
  });

  it('a write in flight is abandoned, and its connection closed, when the lease time ends', async () => {
    const start = Date.now();
    const outcome = write(() => start + 400).catch((error: unknown) => error);

    const error = await outcome;
    const abandonedAfterMs = Date.now() - start;
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect(error).toBeInstanceOf(LeaseTimeUpError);
    expect((error as Error).message).toMatch(/abandoned in flight/);
    expect(abandonedAfterMs).toBeGreaterThanOrEqual(390);
    expect(abandonedAfterMs).toBeLessThan(2_000);
    expect(received).toHaveLength(1);
    expect(received[0].closedAt).toBeDefined();
  });

  it('with election off the write is not cut short (only the 10 s request timeout applies)', async () => {
    let settled = false;
    const outcome = write(() => Infinity).finally(() => (settled = true));
    outcome.catch(() => undefined);

    await new Promise((resolve) => setTimeout(resolve, 700));

    expect(received).toHaveLength(1);
    expect(settled).toBe(false);
    expect(received[0].closedAt).toBeUndefined();
  });

  it('a write answered in time succeeds and is not aborted afterwards', async () => {
    const answering = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        response.setHeader('content-type', 'application/json');
        response.end(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'answered' } }));
      });
    });
    await new Promise<void>((resolve) => answering.listen(0, '127.0.0.1', resolve));
    try {
      const core = clientsFor(answering).core;
      const written = await core.replaceNamespacedConfigMap(
        { name: 'answered', namespace: 'ops', body: { metadata: { name: 'answered' } } },
        leaderWriteOptions(() => Date.now() + 200),
      );
      await new Promise((resolve) => setTimeout(resolve, 300));

      expect(written.metadata?.name).toBe('answered');
    } finally {
      answering.closeAllConnections();
      await new Promise((resolve) => answering.close(resolve));
    }
  });
});
