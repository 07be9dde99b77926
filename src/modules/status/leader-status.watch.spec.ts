import { ApiException } from '@kubernetes/client-node';
import { Test } from '@nestjs/testing';
import { CLOCK } from '../../common/clock';
import { NamedTimers } from '../../common/named-timers';
import { FakeClock, FakeTimers } from '@test/unit/fakes';
import { OperatorConfig } from '../config/operator-config';
import { KUBERNETES_CLIENTS } from '../kubernetes/kubernetes.constants';
import { LeaderStatusWatch } from './leader-status.watch';

type OnEvent = (phase: string, object: unknown) => void;
type OnEnd = (error: unknown) => void;

const LEADERS = { mode: 'operated', tier: 'free', health: 'healthy', lastUpdate: '2026-11-27T11:59:00.000Z' };

function configMap(status: unknown) {
  return { metadata: { name: 'kube9-operator-status' }, data: { status: JSON.stringify(status) } };
}

describe('LeaderStatusWatch', () => {
  let watchStatus: LeaderStatusWatch;
  let timers: FakeTimers;
  let clock: FakeClock;
  let opened: Array<{ path: string; query: Record<string, unknown>; onEvent: OnEvent; onEnd: OnEnd }>;
  let open: jest.Mock;

  async function build(leaderElection = true) {
    timers = new FakeTimers();
    clock = new FakeClock();
    opened = [];
    open = jest.fn(async (path: string, query: Record<string, unknown>, onEvent: OnEvent, onEnd: OnEnd) => {
      opened.push({ path, query, onEvent, onEnd });
      return new AbortController();
    });
    const moduleRef = await Test.createTestingModule({
      providers: [
        LeaderStatusWatch,
        {
          provide: OperatorConfig,
          useValue: Object.assign(new OperatorConfig(), { namespace: 'ops', leaderElection }),
        },
        { provide: NamedTimers, useValue: timers },
        { provide: KUBERNETES_CLIENTS, useValue: { watch: () => ({ watch: open }) } },
        { provide: CLOCK, useValue: clock },
      ],
    }).compile();
    watchStatus = moduleRef.get(LeaderStatusWatch);
    watchStatus.onApplicationBootstrap();
    await Promise.resolve();
  }

  it('watches nothing when leader election is off', async () => {
    await build(false);

    expect(open).not.toHaveBeenCalled();
  });

  it('watches the status ConfigMap by name, through the shared client', async () => {
    await build();

    expect(opened).toHaveLength(1);
    expect(opened[0].path).toBe('/api/v1/namespaces/ops/configmaps');
    expect(opened[0].query).toEqual({
      fieldSelector: 'metadata.name=kube9-operator-status',
      allowWatchBookmarks: true,
    });
  });

  it("keeps the leader's document as each event delivers it, and tells its listeners", async () => {
    await build();
    const changes = jest.fn();
    watchStatus.onChange(changes);

    opened[0].onEvent('ADDED', configMap(LEADERS));
    const added = watchStatus.latest();
    opened[0].onEvent('DELETED', configMap(LEADERS));

    expect(added).toEqual(LEADERS);
    expect(watchStatus.latest()).toBeUndefined();
    expect(changes).toHaveBeenCalledTimes(2);
  });

  it('says so when the ConfigMap holds no status document', async () => {
    await build();

    opened[0].onEvent('ADDED', { metadata: {}, data: { status: 'not json' } });

    expect(watchStatus.latest()).toBeUndefined();
    expect(watchStatus.problem()).toBe('ConfigMap ops/kube9-operator-status holds no status document');
  });

  it('a failed watch is lost since its first failure, re-opened with backoff, and found again by its next event', async () => {
    await build();

    opened[0].onEnd(new ApiException(403, 'Forbidden', { message: 'configmaps is forbidden' }, {}));
    const lost = watchStatus.watchLost();
    clock.advance(5_000);
    await timers.fire('leader-status-watch');
    opened[1].onEnd(new Error('connect ECONNREFUSED'));

    expect(lost).toEqual({ sinceMs: clock.now() - 5_000, reason: expect.stringContaining('configmaps is forbidden') });
    expect(watchStatus.watchLost()).toBe(lost);
    expect(watchStatus.problem()).toContain('configmaps is forbidden');

    await timers.fire('leader-status-watch');
    opened[2].onEvent('ADDED', configMap(LEADERS));

    expect(watchStatus.watchLost()).toBeUndefined();
    expect(watchStatus.latest()).toEqual(LEADERS);
  });

  it('stops watching on shutdown', async () => {
    await build();
    opened[0].onEnd(new Error('connect ECONNREFUSED'));

    watchStatus.onApplicationShutdown();

    expect(timers.scheduled.size).toBe(0);
  });
});
