import { Test } from '@nestjs/testing';
import { CLOCK } from '../../common/clock';
import { NamedTimers } from '../../common/named-timers';
import {
  apiError,
  FakeClock,
  FakeLeaderStatus,
  FakeLeadership,
  FakeMetrics,
  FakeTimers,
  settle,
} from '@test/unit/fakes';
import { OperatorMetrics } from '../metrics/operator-metrics.service';
import { OperatorConfig } from '../config/operator-config';
import { ConfigMapWriter, OwnedConfigMap } from '../kubernetes/configmap.writer';
import { EventRecorder } from '../kubernetes/event.recorder';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import { NO_REGISTRATION } from './dto/registration-view.dto';
import { LeaderStatusWatch } from './leader-status.watch';
import { StatusLoopRecord } from './status-loop.record';
import { StatusComposer } from './status.composer';
import { StatusConfigMapWriter } from './status-configmap.writer';
import { STATUS_PUBLISH_TIMER, STATUS_RETRY_TIMER } from './status.constants';
import { StatusSchedule } from './status.schedule';
import { StatusService } from './status.service';
import { StatusView } from './status.view';

/** The status feature's own classes, wired as StatusModule wires them; their collaborators are swapped. */
const FEATURE = [StatusComposer, StatusSchedule, StatusConfigMapWriter, StatusService, StatusView, StatusLoopRecord];

describe('StatusService (the write loop, with the rest of the status feature)', () => {
  let status: StatusService;
  let view: StatusView;
  let composer: StatusComposer;
  let schedule: StatusSchedule;
  let loop: StatusLoopRecord;
  let clock: FakeClock;
  let timers: FakeTimers;
  let metrics: FakeMetrics;
  let writes: OwnedConfigMap[];
  let put: jest.Mock<Promise<void>, [OwnedConfigMap]>;
  let record: jest.Mock;
  let leadership: FakeLeadership;
  let leaderStatus: FakeLeaderStatus;

  beforeEach(async () => {
    clock = new FakeClock();
    timers = new FakeTimers();
    metrics = new FakeMetrics();
    writes = [];
    put = jest.fn(async (object: OwnedConfigMap) => {
      writes.push(object);
    });
    record = jest.fn(async () => undefined);
    leadership = new FakeLeadership();
    leaderStatus = new FakeLeaderStatus();
    const moduleRef = await Test.createTestingModule({
      providers: [
        ...FEATURE,
        {
          provide: OperatorConfig,
          useValue: Object.assign(new OperatorConfig(), { namespace: 'ops', statusUpdateIntervalSeconds: 30 }),
        },
        { provide: NamedTimers, useValue: timers },
        { provide: ConfigMapWriter, useValue: { put } },
        { provide: EventRecorder, useValue: { record } },
        { provide: CLOCK, useValue: clock },
        { provide: LeaderElectionService, useValue: leadership },
        { provide: LeaderStatusWatch, useValue: leaderStatus },
        { provide: OperatorMetrics, useValue: metrics },
      ],
    }).compile();
    status = moduleRef.get(StatusService);
    view = moduleRef.get(StatusView);
    composer = moduleRef.get(StatusComposer);
    schedule = moduleRef.get(StatusSchedule);
    loop = moduleRef.get(StatusLoopRecord);
  });

  const lastDocument = () => JSON.parse(writes[writes.length - 1].data.status) as Record<string, unknown>;

  it('writes the whole document to its ConfigMap on start and schedules the next at the interval', async () => {
    status.onApplicationBootstrap();
    await settle();

    expect(writes).toHaveLength(1);
    expect(writes[0].metadata).toEqual({
      name: 'kube9-operator-status',
      namespace: 'ops',
      labels: { 'app.kubernetes.io/name': 'kube9-operator', 'app.kubernetes.io/component': 'status' },
    });
    expect(lastDocument()).toMatchObject({
      mode: 'operated',
      tier: 'free',
      health: 'healthy',
      namespace: 'ops',
      lastUpdate: new Date(clock.now()).toISOString(),
    });
    expect(timers.scheduled.get(STATUS_PUBLISH_TIMER)).toMatchObject({ kind: 'every', ms: 30_000 });
  });

  it('notes each run of the loop in the record the probes read', async () => {
    status.onApplicationBootstrap();
    await settle();
    const first = clock.now();
    clock.advance(30_000);

    await timers.fire(STATUS_PUBLISH_TIMER);

    expect(loop.read()).toEqual({
      startedAt: first,
      firstRunAt: first,
      lastRunAt: first + 30_000,
      intervalSeconds: 30,
    });
  });

  it('when a write fails: REST says unhealthy with the reason, and a retry is scheduled', async () => {
    put.mockRejectedValue(apiError(403, 'configmaps "kube9-operator-status" is forbidden'));

    status.onApplicationBootstrap();
    await settle();

    expect(view.current()).toMatchObject({
      health: 'unhealthy',
      error: expect.stringContaining('Kubernetes API refused to write ConfigMap ops/kube9-operator-status'),
    });
    expect(view.current()!.error).toContain('forbidden');
    expect(timers.scheduled.get(STATUS_RETRY_TIMER)?.kind).toBe('after');
    expect(loop.read().firstRunAt).toBe(clock.now());
  });

  it('recovers on the retry: healthy again, retry cancelled', async () => {
    put.mockRejectedValueOnce(apiError(503));
    status.onApplicationBootstrap();
    await settle();

    await timers.fire(STATUS_RETRY_TIMER);

    expect(view.current()).toMatchObject({ health: 'healthy', error: null });
    expect(timers.scheduled.has(STATUS_RETRY_TIMER)).toBe(false);
  });

  it('tells the metrics each write and the document it serves after it, as REST serves it', async () => {
    put.mockRejectedValueOnce(apiError(503));
    status.onApplicationBootstrap();
    await settle();
    const failedAt = clock.now();
    clock.advance(2_000);

    await timers.fire(STATUS_RETRY_TIMER);

    expect(metrics.of('statusWritten')).toEqual([
      ['error', failedAt],
      ['success', clock.now()],
    ]);
    const served = metrics.of('statusServed').map(([document]) => (document as { health: string }).health);
    // At bootstrap (before any write), after the failed write, after the successful one.
    expect(served).toEqual(['healthy', 'unhealthy', 'healthy']);
    expect(metrics.of('statusServed').at(-1)).toEqual([view.current()]);
  });

  it('tells the metrics the interval, at start and when it changes', () => {
    schedule.setIntervalSeconds(45);

    expect(metrics.of('statusIntervalChanged')).toEqual([[30], [45]]);
  });

  it('a follower tells the metrics the leader document it serves when the watch sees it', async () => {
    const leadership = new FakeLeadership();
    leadership.enabled = true;
    leadership.leading = false;
    const watched = new FakeLeaderStatus();
    const leaderDocument = { mode: 'enabled', tier: 'pro', health: 'healthy', registered: true } as const;
    jest.spyOn(watched, 'latest').mockReturnValue(leaderDocument as unknown as ReturnType<FakeLeaderStatus['latest']>);
    const moduleRef = await Test.createTestingModule({
      providers: [
        ...FEATURE,
        { provide: OperatorConfig, useValue: Object.assign(new OperatorConfig(), { namespace: 'ops' }) },
        { provide: NamedTimers, useValue: timers },
        { provide: ConfigMapWriter, useValue: { put } },
        { provide: EventRecorder, useValue: { record } },
        { provide: CLOCK, useValue: clock },
        { provide: LeaderElectionService, useValue: leadership },
        { provide: LeaderStatusWatch, useValue: watched },
        { provide: OperatorMetrics, useValue: metrics },
      ],
    }).compile();
    moduleRef.get(StatusView);

    for (const listener of watched.listeners) listener();

    expect(metrics.of('statusServed')).toEqual([[leaderDocument]]);
    expect(put).not.toHaveBeenCalled();
  });

  it('publishes a registration change at once, and records TierChanged when the tier moves', async () => {
    status.onApplicationBootstrap();
    await settle();

    composer.setRegistration({
      ...NO_REGISTRATION,
      apiKeyConfigured: true,
      registered: true,
      clusterId: 'cls_abcdefghijkl',
    });
    await settle();

    expect(writes).toHaveLength(2);
    expect(lastDocument()).toMatchObject({
      mode: 'enabled',
      tier: 'pro',
      registered: true,
      clusterId: 'cls_abcdefghijkl',
    });
    expect(record).toHaveBeenCalledWith('Normal', 'TierChanged', 'Tier changed from free to pro (mode enabled)');
  });

  it('does not write for a registration change a reader would not notice', async () => {
    status.onApplicationBootstrap();
    await settle();

    composer.setRegistration({ ...NO_REGISTRATION });
    await settle();

    expect(writes).toHaveLength(1);
  });

  it('a new publish interval replaces the schedule at once and reaches the probes', () => {
    status.onApplicationBootstrap();

    schedule.setIntervalSeconds(240);

    expect(timers.scheduled.get(STATUS_PUBLISH_TIMER)).toMatchObject({ kind: 'every', ms: 240_000 });
    expect(loop.read().intervalSeconds).toBe(240);
  });

  it('writes a last status on shutdown and stops its schedules', async () => {
    status.onApplicationBootstrap();
    await settle();

    await status.beforeApplicationShutdown();

    expect(writes).toHaveLength(2);
    expect(timers.scheduled.size).toBe(0);
  });

  it('losing the Lease: the pending retry is dropped and it no longer serves its own document', async () => {
    leadership.enabled = true;
    put.mockRejectedValueOnce(apiError(503));
    status.onApplicationBootstrap();
    await settle();
    expect(timers.scheduled.has(STATUS_RETRY_TIMER)).toBe(true);

    leadership.leading = false;
    for (const hooks of leadership.hooks) hooks.stopped?.();

    expect(timers.scheduled.has(STATUS_RETRY_TIMER)).toBe(false);
    expect(view.current()).toBeUndefined();
  });

  it('starting to lead: writes at once', async () => {
    for (const hooks of leadership.hooks) hooks.started?.();
    await settle();

    expect(writes).toHaveLength(1);
  });

  describe('as a follower (leader election on, another replica leads)', () => {
    const leaders = {
      mode: 'enabled' as const,
      tier: 'pro' as const,
      version: '0.1.0',
      health: 'healthy' as const,
      lastUpdate: '2026-11-27T11:59:50.000Z',
      registered: true,
      error: null,
      clusterId: 'cls_abcdefghijkl',
      apiKeyConfigured: true,
      namespace: 'ops',
    };

    it('serves nothing of its own until its watch has delivered: no document, a reason, no metrics', async () => {
      leadership.leading = false;
      status.onApplicationBootstrap();
      await settle();

      expect(view.current()).toBeUndefined();
      expect(view.unavailableReason()).toBe('no status document of the leader watched yet');
      expect(metrics.of('statusServed')).toEqual([]);
      expect(writes).toHaveLength(0);
    });

    it("serves the leader's document as watched, and writes nothing", async () => {
      leadership.leading = false;
      leaderStatus.document = leaders;
      status.onApplicationBootstrap();
      await settle();

      expect(view.current()).toBe(leaders);
      expect(writes).toHaveLength(0);
    });

    it('once its watch has been lost for more than an interval: the same document, unhealthy, saying why', () => {
      leadership.leading = false;
      leaderStatus.document = leaders;
      leaderStatus.lost = {
        sinceMs: clock.now(),
        reason: 'Kubernetes API unreachable while trying to watch: ECONNREFUSED',
      };

      clock.advance(30_000);
      expect(view.current()).toBe(leaders);
      clock.advance(1);
      const served = view.current();

      expect(served).toMatchObject({
        mode: 'enabled',
        tier: 'pro',
        lastUpdate: leaders.lastUpdate,
        health: 'unhealthy',
      });
      expect(served!.error).toContain('ECONNREFUSED');
    });

    it('tells the metrics on its next loop run when the lost watch has made its document unhealthy', async () => {
      leadership.leading = false;
      leaderStatus.document = leaders;
      status.onApplicationBootstrap();
      await settle();
      leaderStatus.lost = { sinceMs: clock.now(), reason: 'Kubernetes API unreachable while trying to watch' };
      clock.advance(30_001);

      await timers.fire(STATUS_PUBLISH_TIMER);

      const served = metrics.of('statusServed').map(([document]) => (document as { health: string }).health);
      expect(served.at(-1)).toBe('unhealthy');
      expect(writes).toHaveLength(0);
    });
  });
});
