import { Logger } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { NamedTimers } from './named-timers';

describe('NamedTimers', () => {
  let timers: NamedTimers;
  let registry: SchedulerRegistry;

  beforeEach(async () => {
    jest.useFakeTimers();
    const moduleRef = await Test.createTestingModule({ providers: [NamedTimers, SchedulerRegistry] }).compile();
    timers = moduleRef.get(NamedTimers);
    registry = moduleRef.get(SchedulerRegistry);
  });

  afterEach(() => {
    timers.clearAll();
    jest.useRealTimers();
  });

  it('runs work every interval, under its name in the SchedulerRegistry', async () => {
    const work = jest.fn();

    timers.every('loop', 1_000, work);
    await jest.advanceTimersByTimeAsync(3_000);

    expect(work).toHaveBeenCalledTimes(3);
    expect(registry.getIntervals()).toEqual(['loop']);
  });

  it('a new schedule under the same name replaces the old one', async () => {
    const first = jest.fn();
    const second = jest.fn();

    timers.every('loop', 1_000, first);
    timers.after('loop', 500, second);
    await jest.advanceTimersByTimeAsync(2_000);

    expect(first).not.toHaveBeenCalled();
    expect(second).toHaveBeenCalledTimes(1);
    expect(registry.getIntervals()).toEqual([]);
  });

  it('runs delayed work once, then forgets its name', async () => {
    const work = jest.fn();

    timers.after('once', 100, work);
    await jest.advanceTimersByTimeAsync(1_000);

    expect(work).toHaveBeenCalledTimes(1);
    expect(registry.getTimeouts()).toEqual([]);
  });

  it('work that fails is logged and the schedule goes on', async () => {
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    const work = jest.fn().mockRejectedValue(new Error('boom'));

    timers.every('loop', 1_000, work);
    await jest.advanceTimersByTimeAsync(2_000);

    expect(work).toHaveBeenCalledTimes(2);
    expect(logged).toHaveBeenCalledWith('Scheduled work "loop" failed: Error: boom');
    logged.mockRestore();
  });

  it('removes everything it scheduled on shutdown, and nothing it did not', async () => {
    const work = jest.fn();
    const foreign = setInterval(() => undefined, 1_000);
    registry.addInterval('someone-else', foreign);
    timers.every('a', 1_000, work);
    timers.after('b', 1_000, work);

    timers.onApplicationShutdown();
    await jest.advanceTimersByTimeAsync(5_000);

    expect(work).not.toHaveBeenCalled();
    expect(registry.getIntervals()).toEqual(['someone-else']);
    expect(registry.getTimeouts()).toEqual([]);
    registry.deleteInterval('someone-else');
  });
});
