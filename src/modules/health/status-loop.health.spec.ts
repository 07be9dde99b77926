/*
 * The probes as Kubernetes calls them: GET /healthz and /readyz on a real HTTP server, with
 * the real status feature driving its loop, the Kubernetes writer and the clock swapped.
 */
import { INestApplication } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { Test, TestingModule } from '@nestjs/testing';
import { CLOCK } from '../../common/clock';
import { NamedTimers } from '../../common/named-timers';
import { FakeClock, FakeLeaderStatus, FakeLeadership, FakeMetrics, FakeTimers, settle } from '@test/unit/fakes';
import { OperatorMetrics } from '../metrics/operator-metrics.service';
import { OperatorConfig } from '../config/operator-config';
import { ConfigMapWriter } from '../kubernetes/configmap.writer';
import { EventRecorder } from '../kubernetes/event.recorder';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import { LeaderStatusWatch } from '../status/leader-status.watch';
import { StatusLoopRecord } from '../status/status-loop.record';
import { StatusComposer } from '../status/status.composer';
import { StatusConfigMapWriter } from '../status/status-configmap.writer';
import { STATUS_PUBLISH_TIMER } from '../status/status.constants';
import { StatusSchedule } from '../status/status.schedule';
import { StatusService } from '../status/status.service';
import { StatusView } from '../status/status.view';
import { HealthController } from './health.controller';
import { StatusLoopHealthIndicator } from '../status/status-loop.health';

const INTERVAL_SECONDS = 10;

describe('StatusLoopHealthIndicator behind /healthz and /readyz', () => {
  let app: INestApplication;
  let baseUrl: string;
  let clock: FakeClock;
  let timers: FakeTimers;
  let metrics: FakeMetrics;
  let status: StatusView;
  let put: jest.Mock<Promise<void>, []>;
  /** Releases writes held by a test that wedges the loop, so the app can close. */
  let release: () => void;

  /** The app listens: its bootstrap starts the status loop, whose first run writes with `put`. */
  async function start(): Promise<void> {
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    baseUrl = await app.getUrl();
    await settle();
  }

  let moduleRef: TestingModule;

  beforeEach(async () => {
    clock = new FakeClock();
    timers = new FakeTimers();
    metrics = new FakeMetrics();
    put = jest.fn(async () => undefined);
    release = () => undefined;
    moduleRef = await Test.createTestingModule({
      imports: [TerminusModule.forRoot({ logger: false })],
      controllers: [HealthController],
      providers: [
        StatusLoopHealthIndicator,
        StatusLoopRecord,
        StatusComposer,
        StatusSchedule,
        StatusConfigMapWriter,
        StatusService,
        StatusView,
        {
          provide: OperatorConfig,
          useValue: Object.assign(new OperatorConfig(), { statusUpdateIntervalSeconds: INTERVAL_SECONDS }),
        },
        { provide: NamedTimers, useValue: timers },
        { provide: ConfigMapWriter, useValue: { put } },
        { provide: EventRecorder, useValue: { record: async () => undefined } },
        { provide: CLOCK, useValue: clock },
        { provide: LeaderElectionService, useValue: new FakeLeadership() },
        { provide: OperatorMetrics, useValue: metrics },
        { provide: LeaderStatusWatch, useValue: new FakeLeaderStatus() },
      ],
    }).compile();
    status = moduleRef.get(StatusView);
  });

  afterEach(async () => {
    release();
    await app.close();
  });

  async function probe(path: string): Promise<{ status: number; body: any }> {
    const response = await fetch(`${baseUrl}${path}`);
    return { status: response.status, body: await response.json() };
  }

  /** One interval passes and the status loop's timer fires. */
  async function tick(): Promise<void> {
    clock.advance(INTERVAL_SECONDS * 1000);
    void timers.fire(STATUS_PUBLISH_TIMER);
    await settle();
  }

  it('a loop that runs: alive and ready, interval after interval', async () => {
    await start();

    for (let i = 0; i < 5; i++) await tick();

    expect((await probe('/healthz')).status).toBe(200);
    expect((await probe('/readyz')).status).toBe(200);
  });

  it('writes failing: still alive and ready (the status says why)', async () => {
    put.mockRejectedValue(new Error('connect ECONNREFUSED'));
    await start();

    for (let i = 0; i < 5; i++) await tick();

    expect((await probe('/healthz')).status).toBe(200);
    expect((await probe('/readyz')).status).toBe(200);
    expect(status.current()).toMatchObject({ health: 'unhealthy' });
  });

  it('a wedged loop (a write that never returns): /healthz turns 503 within 3 intervals, readiness stays', async () => {
    put.mockReturnValue(new Promise<void>((resolve) => (release = resolve)));
    await start();

    const live: number[] = [];
    for (let i = 0; i < 4; i++) {
      await tick();
      live.push((await probe('/healthz')).status);
    }

    expect(live).toEqual([200, 200, 200, 503]);
    expect((await probe('/healthz')).body).toMatchObject({
      status: 'error',
      error: { statusLoop: { reason: 'the status loop has not run for 40 s (limit 30 s)' } },
    });
    expect((await probe('/readyz')).status).toBe(200);
  });
});
