import { FakeTimers } from '@test/unit/fakes';
import { WatchLoop } from './watch-loop';

type OnEvent = (phase: string, object: unknown) => void;
type OnEnd = (error: unknown) => void;

describe('WatchLoop', () => {
  let opened: Array<{ query: Record<string, unknown>; onEvent: OnEvent; onEnd: OnEnd }>;
  let timers: FakeTimers;
  let failures: number[];
  let loop: WatchLoop<unknown>;
  let resourceVersion: string | undefined;

  beforeEach(() => {
    opened = [];
    failures = [];
    timers = new FakeTimers();
    resourceVersion = '7';
    const watch = {
      watch: jest.fn(async (_path: string, query: Record<string, unknown>, onEvent: OnEvent, onEnd: OnEnd) => {
        opened.push({ query, onEvent, onEnd });
        return new AbortController();
      }),
    };
    loop = new WatchLoop({ watch: () => watch as never }, timers, {
      timer: 'w',
      path: '/api/v1/namespaces/ops/configmaps',
      query: () => ({ resourceVersion }),
      onEvent: () => undefined,
      onFailure: (_error, count) => failures.push(count),
    });
  });

  it('re-opens a watch the API server ended after 1 s, with the query of that moment', async () => {
    await loop.open();
    opened[0].onEnd(undefined);
    resourceVersion = '9';

    expect(timers.scheduled.get('w')?.ms).toBe(1_000);
    await timers.fire('w');
    expect(opened.map((watch) => watch.query)).toEqual([{ resourceVersion: '7' }, { resourceVersion: '9' }]);
    expect(failures).toEqual([]);
  });

  it('backs off while it keeps failing, and an event resets the count', async () => {
    await loop.open();
    opened[0].onEnd(new Error('ECONNRESET'));
    const first = timers.scheduled.get('w')!.ms;
    await timers.fire('w');
    opened[1].onEnd(new Error('ECONNRESET'));
    const second = timers.scheduled.get('w')!.ms;
    await timers.fire('w');
    opened[2].onEvent('ADDED', {});
    opened[2].onEnd(new Error('ECONNRESET'));

    expect(first).toBeGreaterThanOrEqual(750);
    expect(first).toBeLessThanOrEqual(1_000);
    expect(second).toBeGreaterThanOrEqual(1_500);
    expect(second).toBeLessThanOrEqual(2_000);
    expect(failures).toEqual([1, 2, 1]);
  });

  it('stops: no re-open is scheduled', async () => {
    await loop.open();

    loop.stop();
    opened[0].onEnd(new Error('ECONNRESET'));

    expect(timers.scheduled.size).toBe(0);
  });
});
