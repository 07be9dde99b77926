import { Test } from '@nestjs/testing';
import { NamedTimers } from '../../common/named-timers';
import { apiError, FakeTimers, networkError, settle } from '@test/unit/fakes';
import { KUBERNETES_CLIENTS } from './kubernetes.constants';
import { SecretState, SecretWatcher } from './secret.watcher';

const REF = { namespace: 'ops', name: 'key' };
const TIMER = 'secret-watch:ops/key';

function secret(resourceVersion: string, value = 'a2V5') {
  return { metadata: { name: 'key', resourceVersion }, data: { apiKey: value } };
}

describe('SecretWatcher', () => {
  let watcher: SecretWatcher;
  let timers: FakeTimers;
  let readNamespacedSecret: jest.Mock;
  /** Each watch opened: its query and the callbacks client-node's Watch would call. */
  let opened: Array<{
    path: string;
    query: Record<string, unknown>;
    event: (phase: string, object: unknown) => void;
    done: (error: unknown) => void;
  }>;
  let changes: SecretState[];

  beforeEach(async () => {
    timers = new FakeTimers();
    opened = [];
    changes = [];
    readNamespacedSecret = jest.fn(async () => secret('10'));
    const watch = () => ({
      watch: jest.fn(
        async (
          path: string,
          query: Record<string, unknown>,
          event: (phase: string, object: unknown) => void,
          done: (error: unknown) => void,
        ) => {
          opened.push({ path, query, event, done });
          return new AbortController();
        },
      ),
    });
    const moduleRef = await Test.createTestingModule({
      providers: [
        SecretWatcher,
        { provide: KUBERNETES_CLIENTS, useValue: { core: { readNamespacedSecret }, watch } },
        { provide: NamedTimers, useValue: timers },
      ],
    }).compile();
    watcher = moduleRef.get(SecretWatcher);
  });

  const start = () => watcher.watch(REF, (state) => changes.push(state));

  it('reads the Secret, then watches it by name from its resourceVersion, with bookmarks', async () => {
    const first = await start();

    expect(first).toEqual({ kind: 'present', secret: secret('10') });
    expect(opened).toHaveLength(1);
    expect(opened[0].path).toBe('/api/v1/namespaces/ops/secrets');
    expect(opened[0].query).toMatchObject({
      fieldSelector: 'metadata.name=key',
      resourceVersion: '10',
      allowWatchBookmarks: true,
    });
  });

  it('passes on each change the watch reports', async () => {
    await start();

    opened[0].event('MODIFIED', secret('11', 'bmV3'));
    opened[0].event('DELETED', secret('12'));

    expect(changes.slice(1)).toEqual([{ kind: 'present', secret: secret('11', 'bmV3') }, { kind: 'absent' }]);
  });

  it('a Secret that does not exist is absent, and watched for', async () => {
    readNamespacedSecret.mockRejectedValueOnce(apiError(404));

    expect(await start()).toEqual({ kind: 'absent' });
    expect(opened).toHaveLength(1);
  });

  it("a refusal is reported as unreadable, with the API server's reason", async () => {
    readNamespacedSecret.mockRejectedValueOnce(apiError(403, 'secrets "key" is forbidden'));

    const first = await start();

    expect(first).toEqual({
      kind: 'unreadable',
      reason: expect.stringContaining('Kubernetes API refused to read Secret ops/key: secrets "key" is forbidden'),
    });
    expect(timers.scheduled.get(TIMER)?.kind).toBe('after');
  });

  it('a watch that ends normally is resumed from the last resourceVersion, without a read', async () => {
    await start();
    opened[0].event('BOOKMARK', { metadata: { resourceVersion: '15' } });

    opened[0].done(null);
    await timers.fire(TIMER);

    expect(readNamespacedSecret).toHaveBeenCalledTimes(1);
    expect(opened[1].query).toMatchObject({ resourceVersion: '15' });
  });

  it('an API server that is briefly away keeps what is known, and re-reads when it is back', async () => {
    await start();
    opened[0].done(networkError());
    readNamespacedSecret.mockRejectedValueOnce(networkError());

    await timers.fire(TIMER);
    expect(changes).toHaveLength(1);

    await timers.fire(TIMER);
    await settle();
    expect(readNamespacedSecret).toHaveBeenCalledTimes(3);
    expect(opened).toHaveLength(2);
  });

  it('retries a failing watch with a growing delay, capped', async () => {
    await start();
    readNamespacedSecret.mockRejectedValue(networkError());
    opened[0].done(networkError());
    const delays: number[] = [];

    for (let i = 0; i < 8; i++) {
      delays.push(timers.scheduled.get(TIMER)!.ms);
      await timers.fire(TIMER);
    }

    expect(delays[0]).toBeGreaterThanOrEqual(500);
    expect(delays[0]).toBeLessThanOrEqual(1_000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(30_000);
    expect(delays[7]).toBeGreaterThan(delays[0]);
  });

  it('stops on shutdown: nothing scheduled, no new watch', async () => {
    await start();

    watcher.onApplicationShutdown();
    opened[0].done(null);

    expect(timers.scheduled.size).toBe(0);
  });
});
