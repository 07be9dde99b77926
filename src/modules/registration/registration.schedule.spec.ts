import { Test } from '@nestjs/testing';
import { CLOCK } from '../../common/clock';
import { NamedTimers } from '../../common/named-timers';
import { FakeClock, FakeLeadership, FakeMetrics, FakeTimers } from '@test/unit/fakes';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import { OperatorMetrics } from '../metrics/operator-metrics.service';
import { MAX_TIMER_MS, REGISTRATION_TIMER } from './registration.constants';
import { RegistrationSchedule } from './registration.schedule';

describe('RegistrationSchedule', () => {
  let schedule: RegistrationSchedule;
  let clock: FakeClock;
  let timers: FakeTimers;
  let metrics: FakeMetrics;
  let leadership: FakeLeadership;
  let work: jest.Mock<Promise<void>, []>;

  beforeEach(async () => {
    clock = new FakeClock();
    timers = new FakeTimers();
    metrics = new FakeMetrics();
    leadership = new FakeLeadership();
    work = jest.fn(async () => undefined);
    const moduleRef = await Test.createTestingModule({
      providers: [
        RegistrationSchedule,
        { provide: NamedTimers, useValue: timers },
        { provide: OperatorMetrics, useValue: metrics },
        { provide: LeaderElectionService, useValue: leadership },
        { provide: CLOCK, useValue: clock },
      ],
    }).compile();
    schedule = moduleRef.get(RegistrationSchedule);
  });

  it('runs the work when it is due, and tells the metrics when that is', async () => {
    schedule.at(clock.now() + 60_000, work);

    expect(timers.scheduled.get(REGISTRATION_TIMER)).toMatchObject({ kind: 'after', ms: 60_000 });
    expect(metrics.of('nextRegistrationAt')).toEqual([[clock.now() + 60_000]]);
    await timers.fire(REGISTRATION_TIMER);
    expect(work).toHaveBeenCalledTimes(1);
  });

  it('a time already past: at once', () => {
    schedule.at(clock.now() - 5_000, work);

    expect(timers.scheduled.get(REGISTRATION_TIMER)?.ms).toBe(0);
  });

  it('a wait longer than a Node timer holds is taken in steps; the metrics say the real time', () => {
    const at = clock.now() + 30 * MAX_TIMER_MS;

    schedule.at(at, work);

    expect(timers.scheduled.get(REGISTRATION_TIMER)?.ms).toBe(MAX_TIMER_MS);
    expect(metrics.of('nextRegistrationAt')).toEqual([[at]]);
  });

  it('a replica that does not lead when the time comes does not run the work', async () => {
    schedule.at(clock.now(), work);
    leadership.leading = false;

    await timers.fire(REGISTRATION_TIMER);

    expect(work).not.toHaveBeenCalled();
  });

  it('cleared: nothing due, and the metrics say none (0)', () => {
    schedule.at(clock.now() + 1_000, work);

    schedule.clear();

    expect(timers.scheduled.has(REGISTRATION_TIMER)).toBe(false);
    expect(metrics.of('nextRegistrationAt').at(-1)).toEqual([undefined]);
  });
});
