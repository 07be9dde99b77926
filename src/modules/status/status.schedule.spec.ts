import { Test } from '@nestjs/testing';
import { CLOCK } from '../../common/clock';
import { NamedTimers } from '../../common/named-timers';
import { FakeClock, FakeMetrics, FakeTimers } from '@test/unit/fakes';
import { OperatorConfig } from '../config/operator-config';
import { OperatorMetrics } from '../metrics/operator-metrics.service';
import { StatusLoopRecord } from './status-loop.record';
import { STATUS_PUBLISH_TIMER, STATUS_RETRY_TIMER } from './status.constants';
import { StatusSchedule } from './status.schedule';

describe('StatusSchedule', () => {
  let schedule: StatusSchedule;
  let loop: StatusLoopRecord;
  let clock: FakeClock;
  let timers: FakeTimers;
  let metrics: FakeMetrics;
  let work: jest.Mock<Promise<void>, []>;

  beforeEach(async () => {
    clock = new FakeClock();
    timers = new FakeTimers();
    metrics = new FakeMetrics();
    work = jest.fn(async () => undefined);
    const moduleRef = await Test.createTestingModule({
      providers: [
        StatusSchedule,
        StatusLoopRecord,
        {
          provide: OperatorConfig,
          useValue: Object.assign(new OperatorConfig(), { statusUpdateIntervalSeconds: 30 }),
        },
        { provide: NamedTimers, useValue: timers },
        { provide: OperatorMetrics, useValue: metrics },
        { provide: CLOCK, useValue: clock },
      ],
    }).compile();
    schedule = moduleRef.get(StatusSchedule);
    loop = moduleRef.get(StatusLoopRecord);
    schedule.runs(work);
  });

  it("starts at the configuration's interval: in the probes' record and the metrics", () => {
    expect(schedule.intervalSeconds).toBe(30);
    expect(loop.read().intervalSeconds).toBe(30);
    expect(metrics.of('statusIntervalChanged')).toEqual([[30]]);
  });

  it('runs the work every interval once started, and notes when it started', async () => {
    schedule.start();

    expect(timers.scheduled.get(STATUS_PUBLISH_TIMER)).toMatchObject({ kind: 'every', ms: 30_000 });
    expect(loop.read().startedAt).toBe(clock.now());
    await timers.fire(STATUS_PUBLISH_TIMER);
    expect(work).toHaveBeenCalledTimes(1);
  });

  it('notes each run for the probes', () => {
    schedule.ran();
    clock.advance(5_000);
    schedule.ran();

    expect(loop.read()).toMatchObject({ firstRunAt: clock.now() - 5_000, lastRunAt: clock.now() });
  });

  it('a new interval replaces the schedule at once and reaches the probes and the metrics', () => {
    schedule.start();

    schedule.setIntervalSeconds(240);

    expect(timers.scheduled.get(STATUS_PUBLISH_TIMER)).toMatchObject({ kind: 'every', ms: 240_000 });
    expect(loop.read().intervalSeconds).toBe(240);
    expect(metrics.of('statusIntervalChanged')).toEqual([[30], [240]]);
  });

  it('the same interval again changes nothing', () => {
    schedule.setIntervalSeconds(30);

    expect(metrics.of('statusIntervalChanged')).toEqual([[30]]);
    expect(timers.scheduled.has(STATUS_PUBLISH_TIMER)).toBe(false);
  });

  it('retries with backoff from 1 s, doubling, capped at the interval', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7].map((failures) => {
      schedule.retryAfter(failures);
      return timers.scheduled.get(STATUS_RETRY_TIMER)!.ms;
    });

    expect(delays[0]).toBeGreaterThanOrEqual(500);
    expect(delays[0]).toBeLessThanOrEqual(1_000);
    expect(delays[1]).toBeGreaterThanOrEqual(1_000);
    expect(delays[1]).toBeLessThanOrEqual(2_000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(30_000);
    expect(delays[6]).toBeGreaterThanOrEqual(15_000);
  });

  it('a cancelled retry does not run', () => {
    schedule.retryAfter(1);

    schedule.cancelRetry();

    expect(timers.scheduled.has(STATUS_RETRY_TIMER)).toBe(false);
  });

  it('once stopped: nothing scheduled, and nothing scheduled again', () => {
    schedule.start();
    schedule.retryAfter(1);

    schedule.stop();
    schedule.retryAfter(2);
    schedule.setIntervalSeconds(60);

    expect(timers.scheduled.size).toBe(0);
  });
});
