import { Test } from '@nestjs/testing';
import { CLOCK } from '../../common/clock';
import { FakeClock, settle } from '@test/unit/fakes';
import { OperatorConfig } from '../config/operator-config';
import { ApiKeyReading } from './api-key.source';
import { RegistrationResponseDto } from './dto/registration-response.dto';
import { RegistrationAttemptLoop } from './registration-attempt.loop';
import { RegistrationOutcome } from './registration-outcome';
import { initialState, RegistrationState } from './registration-state';
import { RegistrationStateStore } from './registration-state.store';
import { RegistrationReporter } from './registration.reporter';
import { RegistrationSchedule } from './registration.schedule';
import { RegistrationSender, SentRegistration } from './registration.sender';

const HOUR = 3_600_000;
const KEY: ApiKeyReading = { key: 'kdy_prod_unitkey1', problem: null, configured: true };
const NO_KEY: ApiKeyReading = { problem: null, configured: false };
const FRESH: RegistrationState = initialState('fp:1');
const REGISTERED: RegistrationOutcome = {
  kind: 'registered',
  response: Object.assign(new RegistrationResponseDto(), {
    status: 'registered',
    clusterId: 'cls_abcdefghijkl',
    tier: 'pro',
  }),
};

/** RegistrationSchedule's surface: the one due time and its work, run by the test. */
class FakeSchedule implements Pick<RegistrationSchedule, 'at' | 'clear'> {
  due?: { atMs: number; work: () => Promise<void> };

  at(atMs: number, work: () => Promise<void>): void {
    this.due = { atMs, work };
  }

  clear(): void {
    this.due = undefined;
  }

  async fire(): Promise<void> {
    const due = this.due;
    if (!due) throw new Error('no attempt scheduled');
    this.due = undefined;
    await due.work();
  }
}

describe('RegistrationAttemptLoop', () => {
  let loop: RegistrationAttemptLoop;
  let clock: FakeClock;
  let schedule: FakeSchedule;
  let send: jest.Mock<Promise<SentRegistration>, [string]>;
  let currentRequest: jest.Mock<Promise<string | undefined>, []>;
  let saved: RegistrationState[];
  let tellStatus: jest.Mock;
  let narrate: jest.Mock;

  beforeEach(async () => {
    clock = new FakeClock();
    schedule = new FakeSchedule();
    send = jest.fn(async (_key: string): Promise<SentRegistration> => ({
      outcome: REGISTERED,
      request: 'sha256:sent',
    }));
    currentRequest = jest.fn(async () => 'sha256:now');
    saved = [];
    tellStatus = jest.fn();
    narrate = jest.fn();
    const moduleRef = await Test.createTestingModule({
      providers: [
        RegistrationAttemptLoop,
        {
          provide: OperatorConfig,
          useValue: Object.assign(new OperatorConfig(), { reregistrationIntervalHours: 24 }),
        },
        { provide: RegistrationSchedule, useValue: schedule },
        { provide: RegistrationSender, useValue: { send, currentRequest } },
        { provide: RegistrationStateStore, useValue: { save: async (state: RegistrationState) => saved.push(state) } },
        { provide: RegistrationReporter, useValue: { tellStatus, narrate } },
        { provide: CLOCK, useValue: clock },
      ],
    }).compile();
    loop = moduleRef.get(RegistrationAttemptLoop);
  });

  it('a key and a fresh state: the status told, the first attempt due at once', () => {
    loop.use(KEY, FRESH);

    expect(tellStatus).toHaveBeenCalledWith(FRESH, KEY);
    expect(schedule.due?.atMs).toBe(clock.now());
    expect(loop.key).toBe(KEY);
    expect(loop.state).toBe(FRESH);
  });

  it('a state with its next attempt later: scheduled then, nothing sent now', () => {
    loop.use(KEY, { ...FRESH, nextAttemptAt: clock.now() + HOUR });

    expect(schedule.due?.atMs).toBe(clock.now() + HOUR);
    expect(send).not.toHaveBeenCalled();
  });

  it('no key: nothing scheduled, the status told', () => {
    loop.use(KEY, FRESH);

    loop.use(NO_KEY, undefined);

    expect(schedule.due).toBeUndefined();
    expect(tellStatus).toHaveBeenLastCalledWith(undefined, NO_KEY);
  });

  it('an answer: the state it leads to saved, told and narrated, the next attempt scheduled from it', async () => {
    loop.use(KEY, FRESH);

    await schedule.fire();

    expect(send).toHaveBeenCalledWith('kdy_prod_unitkey1');
    expect(loop.state).toMatchObject({ registered: true, clusterId: 'cls_abcdefghijkl', lastAttemptAt: clock.now() });
    expect(saved.at(-1)).toBe(loop.state);
    expect(tellStatus).toHaveBeenLastCalledWith(loop.state, KEY);
    expect(narrate).toHaveBeenCalledWith(
      expect.objectContaining({ level: 'log', event: expect.objectContaining({ reason: 'Registered' }) }),
    );
    expect(schedule.due?.atMs).toBe(clock.now() + 24 * HOUR);
  });

  it('never more than 10 attempts an hour: the 11th is deferred and the deferral saved, nothing sent', async () => {
    const recentAttempts = Array.from({ length: 10 }, (_, i) => clock.now() - HOUR + (i + 1) * 60_000);
    loop.use(KEY, { ...FRESH, recentAttempts });

    await schedule.fire();

    expect(send).not.toHaveBeenCalled();
    expect(saved.at(-1)?.nextAttemptAt).toBe(clock.now() + 60_000);
    expect(schedule.due?.atMs).toBe(clock.now() + 60_000);
  });

  it('a 400 keeps the fingerprint of the request it rejected', async () => {
    send.mockResolvedValueOnce({ outcome: { kind: 'rejected', reason: '400' }, request: 'sha256:sent' });
    loop.use(KEY, FRESH);

    await schedule.fire();

    expect(loop.state).toMatchObject({ refused: true, rejectedRequest: 'sha256:sent' });
    expect(schedule.due?.atMs).toBe(clock.now() + 24 * HOUR);
  });

  it('a state whose rejected request differs from the one it would send now: registering again at once', async () => {
    loop.use(KEY, { ...FRESH, refused: true, rejectedRequest: 'sha256:before', nextAttemptAt: clock.now() + HOUR });
    await settle();

    expect(loop.state).toMatchObject({ rejectedRequest: undefined, nextAttemptAt: clock.now() });
    expect(schedule.due?.atMs).toBe(clock.now());
  });

  it('a state whose rejected request is the one it would send now: it waits', async () => {
    loop.use(KEY, { ...FRESH, refused: true, rejectedRequest: 'sha256:now', nextAttemptAt: clock.now() + HOUR });
    await settle();

    expect(loop.state?.rejectedRequest).toBe('sha256:now');
    expect(schedule.due?.atMs).toBe(clock.now() + HOUR);
  });

  it('paused (no longer leading): nothing scheduled, an answer still out ignored; resumed: due again', async () => {
    let answer!: (sent: SentRegistration) => void;
    send.mockReturnValueOnce(new Promise((resolve) => (answer = resolve)));
    loop.use(KEY, FRESH);
    const attempt = schedule.fire();
    await settle();

    loop.pause();
    answer({ outcome: REGISTERED, request: 'sha256:sent' });
    await attempt;

    expect(loop.state?.registered).toBe(false);
    expect(narrate).not.toHaveBeenCalled();
    loop.resume();
    expect(schedule.due?.atMs).toBe(clock.now());
  });

  it('due while an attempt is still out: looks again a second later', async () => {
    let answer!: (sent: SentRegistration) => void;
    send.mockReturnValueOnce(new Promise((resolve) => (answer = resolve)));
    loop.use(KEY, FRESH);
    const attempt = schedule.fire();
    await settle();

    loop.use(KEY, { ...FRESH, keyFingerprint: 'fp:2' });
    await schedule.fire();

    expect(schedule.due?.atMs).toBe(clock.now() + 1_000);
    answer({ outcome: REGISTERED });
    await attempt;
  });

  it('after shutdown: nothing scheduled any more', () => {
    loop.onApplicationShutdown();

    loop.use(KEY, FRESH);

    expect(schedule.due).toBeUndefined();
  });
});
