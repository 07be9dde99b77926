import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { CLOCK } from '../../common/clock';
import { NamedTimers } from '../../common/named-timers';
import { FakeClock, FakeLeadership, FakeMetrics, FakeTimers, settle } from '@test/unit/fakes';
import { OperatorMetrics } from '../metrics/operator-metrics.service';
import { OperatorConfig } from '../config/operator-config';
import { ClusterFactsService } from '../kubernetes/cluster-facts.service';
import { EventRecorder } from '../kubernetes/event.recorder';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import { RegistrationView } from '../status/dto/registration-view.dto';
import { StatusComposer } from '../status/status.composer';
import { StatusSchedule } from '../status/status.schedule';
import { ApiKeyReading, ApiKeySource } from './api-key.source';
import { RegistrationResponseDto, ServerConfigurationDto } from './dto/registration-response.dto';
import { RegistrationAttemptLoop } from './registration-attempt.loop';
import { RegistrationClient } from './registration.client';
import { RegistrationOutcome } from './registration-outcome';
import { RegistrationState } from './registration-state';
import { RegistrationStateStore } from './registration-state.store';
import { REGISTRATION_TIMER } from './registration.constants';
import { RegistrationReporter } from './registration.reporter';
import { RegistrationSchedule } from './registration.schedule';
import { RegistrationSender } from './registration.sender';
import { RegistrationService } from './registration.service';

/** The registration feature's own classes, wired as RegistrationModule wires them; their collaborators are swapped. */
const FEATURE = [
  RegistrationService,
  RegistrationAttemptLoop,
  RegistrationSchedule,
  RegistrationSender,
  RegistrationReporter,
];

const HOUR = 3_600_000;
const KEY: ApiKeyReading = { key: 'kdy_prod_unitkey1', problem: null, configured: true };
const NO_KEY: ApiKeyReading = { problem: null, configured: false };

function registered(configuration?: ServerConfigurationDto): RegistrationOutcome {
  return {
    kind: 'registered',
    response: Object.assign(new RegistrationResponseDto(), {
      status: 'registered',
      clusterId: 'cls_abcdefghijkl',
      tier: 'pro',
      configuration,
    }),
  };
}

describe('RegistrationService (with the rest of the registration feature)', () => {
  let service: RegistrationService;
  let clock: FakeClock;
  let timers: FakeTimers;
  let metrics: FakeMetrics;
  let onKey: (reading: ApiKeyReading) => void;
  let register: jest.Mock<Promise<RegistrationOutcome>, [string, unknown]>;
  let saved: RegistrationState[];
  let views: RegistrationView[];
  let intervals: number[];
  let record: jest.Mock;
  let leadership: FakeLeadership;

  async function build(
    first: ApiKeyReading,
    config: Partial<OperatorConfig> = {},
    savedState?: RegistrationState,
    electionOn = false,
  ) {
    clock = new FakeClock();
    leadership = new FakeLeadership();
    leadership.enabled = electionOn;
    leadership.leading = !electionOn;
    timers = new FakeTimers();
    metrics = new FakeMetrics();
    saved = [];
    views = [];
    intervals = [];
    record = jest.fn(async () => undefined);
    register = jest.fn(async (_key: string, _body: unknown) =>
      registered({ statusUpdateIntervalSeconds: 30, reregistrationIntervalHours: 12 }),
    );
    const moduleRef = await Test.createTestingModule({
      providers: [
        ...FEATURE,
        {
          provide: OperatorConfig,
          useValue: Object.assign(new OperatorConfig(), {
            statusUpdateIntervalSeconds: 60,
            reregistrationIntervalHours: 24,
            ...config,
          }),
        },
        {
          provide: ApiKeySource,
          useValue: {
            start: async (listener: (reading: ApiKeyReading) => void) => {
              onKey = listener;
              return first;
            },
          },
        },
        { provide: RegistrationClient, useValue: { register } },
        {
          provide: RegistrationStateStore,
          useValue: {
            fingerprint: (key: string) => `fp:${key}`,
            load: async () => savedState,
            save: async (state: RegistrationState) => void saved.push(state),
          },
        },
        {
          provide: ClusterFactsService,
          useValue: {
            clusterIdentifier: () => `sha256:${'a'.repeat(64)}`,
            kubernetesVersion: async () => '1.37.2',
            approximateNodeCount: async () => 3,
          },
        },
        { provide: StatusComposer, useValue: { setRegistration: (view: RegistrationView) => views.push(view) } },
        { provide: StatusSchedule, useValue: { setIntervalSeconds: (seconds: number) => intervals.push(seconds) } },
        { provide: EventRecorder, useValue: { record } },
        { provide: NamedTimers, useValue: timers },
        { provide: CLOCK, useValue: clock },
        { provide: LeaderElectionService, useValue: leadership },
        { provide: OperatorMetrics, useValue: metrics },
      ],
    }).compile();
    service = moduleRef.get(RegistrationService);
    await service.onModuleInit();
  }

  const lastView = () => views[views.length - 1];
  const lastSaved = () => saved[saved.length - 1];

  it("no key: free tier, no registration scheduled, the operator's own interval", async () => {
    await build(NO_KEY);

    expect(lastView()).toMatchObject({ apiKeyConfigured: false, registered: false });
    expect(timers.scheduled.has(REGISTRATION_TIMER)).toBe(false);
    expect(intervals).toEqual([60]);
  });

  it("a key: pending at once, registers with the cluster facts, then registered with the server's settings", async () => {
    await build(KEY);
    expect(lastView()).toMatchObject({ apiKeyConfigured: true, registered: false, error: null });
    expect(timers.scheduled.get(REGISTRATION_TIMER)?.ms).toBe(0);

    await timers.fire(REGISTRATION_TIMER);

    expect(register).toHaveBeenCalledWith('kdy_prod_unitkey1', {
      operatorVersion: expect.any(String),
      clusterIdentifier: `sha256:${'a'.repeat(64)}`,
      kubernetesVersion: '1.37.2',
      approximateNodeCount: 3,
    });
    expect(lastView()).toMatchObject({ registered: true, clusterId: 'cls_abcdefghijkl', error: null });
    expect(intervals[intervals.length - 1]).toBe(30);
    expect(lastSaved().nextAttemptAt).toBe(clock.now() + 12 * HOUR);
    expect(timers.scheduled.get(REGISTRATION_TIMER)?.ms).toBe(12 * HOUR);
    expect(record).toHaveBeenCalledWith(
      'Normal',
      'Registered',
      'Registered with kube9-server as cls_abcdefghijkl; tier pro',
    );
  });

  it('tells the metrics each attempt by outcome and when the next one is due; 0 once the key is removed', async () => {
    await build(KEY);
    expect(metrics.of('nextRegistrationAt')).toEqual([[clock.now()]]);
    register.mockResolvedValueOnce({ kind: 'rateLimited', retryAfterMs: 60_000, reason: '429' });

    await timers.fire(REGISTRATION_TIMER);
    expect(metrics.of('nextRegistrationAt').at(-1)).toEqual([clock.now() + 60_000]);
    clock.advance(60_000);
    await timers.fire(REGISTRATION_TIMER);

    expect(metrics.of('registrationAttempted')).toEqual([['rate_limited'], ['registered']]);
    expect(metrics.of('nextRegistrationAt').at(-1)).toEqual([clock.now() + 12 * HOUR]);

    onKey(NO_KEY);

    expect(metrics.of('nextRegistrationAt').at(-1)).toEqual([undefined]);
  });

  it('a request that never left (the cluster facts are unreadable) is not counted as an attempt', async () => {
    await build(KEY);
    register.mockResolvedValueOnce({ kind: 'transient', failure: 'not_sent', reason: 'no facts' });

    await timers.fire(REGISTRATION_TIMER);

    expect(metrics.of('registrationAttempted')).toEqual([]);
  });

  it('the server sends no settings: REREGISTRATION_INTERVAL_HOURS and STATUS_UPDATE_INTERVAL_SECONDS apply', async () => {
    await build(KEY, { reregistrationIntervalHours: 6, statusUpdateIntervalSeconds: 45 });
    register.mockResolvedValueOnce(registered());

    await timers.fire(REGISTRATION_TIMER);

    expect(lastSaved().nextAttemptAt).toBe(clock.now() + 6 * HOUR);
    expect(intervals[intervals.length - 1]).toBe(45);
  });

  it('a server interval out of range is clamped and warned about once, not a failure', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    await build(KEY);
    register.mockResolvedValue(registered({ statusUpdateIntervalSeconds: 5, reregistrationIntervalHours: 1 }));

    await timers.fire(REGISTRATION_TIMER);
    clock.advance(HOUR);
    await timers.fire(REGISTRATION_TIMER);

    expect(register).toHaveBeenCalledTimes(2);
    expect(lastView()).toMatchObject({ registered: true, error: null });
    expect(intervals[intervals.length - 1]).toBe(10);
    const clampWarnings = warn.mock.calls.filter(([message]) =>
      String(message).includes('statusUpdateIntervalSeconds=5, outside 10..240; using 10'),
    );
    expect(clampWarnings).toHaveLength(1);
    warn.mockRestore();
  });

  it('a transient failure: stays pro and degraded, retried after the backoff', async () => {
    await build(KEY, { registrationBackoffBaseSeconds: 300 });
    register.mockResolvedValueOnce({
      kind: 'transient',
      failure: 'server_error',
      reason: 'kube9-server answered 503; retrying with backoff',
    });

    await timers.fire(REGISTRATION_TIMER);

    expect(lastView()).toMatchObject({
      apiKeyConfigured: true,
      registered: false,
      givenUp: false,
      error: 'kube9-server answered 503; retrying with backoff',
    });
    const delay = timers.scheduled.get(REGISTRATION_TIMER)!.ms;
    expect(delay).toBeGreaterThanOrEqual(150_000);
    expect(delay).toBeLessThanOrEqual(300_000);
    expect(record).toHaveBeenCalledWith('Warning', 'RegistrationFailed', expect.stringContaining('answered 503'));
  });

  it('five transient failures in a row: the registration gives up (the status reads givenUp)', async () => {
    await build(KEY);
    register.mockResolvedValue({ kind: 'transient', failure: 'server_error', reason: 'kube9-server answered 500' });

    for (let i = 0; i < 5; i++) {
      clock.advance(2 * HOUR);
      await timers.fire(REGISTRATION_TIMER);
      expect(lastView().givenUp).toBe(i === 4);
    }
  });

  it('a refused key: free tier at once, an ApiKeyRejected event, no retry for 24 h', async () => {
    await build(KEY);
    register.mockResolvedValueOnce({
      kind: 'refused',
      reason: 'kube9-server refused the API key (401 INVALID_API_KEY)',
    });

    await timers.fire(REGISTRATION_TIMER);

    expect(lastView()).toMatchObject({ refused: true, registered: false });
    expect(timers.scheduled.get(REGISTRATION_TIMER)?.ms).toBe(24 * HOUR);
    expect(record).toHaveBeenCalledWith('Warning', 'ApiKeyRejected', expect.stringContaining('INVALID_API_KEY'));
  });

  it('resumes a saved state for the same key instead of registering again at once', async () => {
    const savedState: RegistrationState = {
      keyFingerprint: 'fp:kdy_prod_unitkey1',
      registered: true,
      clusterId: 'cls_savedsaved12',
      consecutiveTransientFailures: 0,
      refused: false,
      error: null,
      nextAttemptAt: Date.parse('2026-11-27T18:00:00.000Z'),
      serverConfiguration: { statusUpdateIntervalSeconds: 20 },
      recentAttempts: [],
    };
    await build(KEY, {}, savedState);

    expect(lastView()).toMatchObject({ registered: true, clusterId: 'cls_savedsaved12' });
    expect(intervals[intervals.length - 1]).toBe(20);
    expect(timers.scheduled.get(REGISTRATION_TIMER)?.ms).toBe(6 * HOUR);
    expect(register).not.toHaveBeenCalled();
  });

  describe('a saved state and the server URL (SERVER_URL)', () => {
    const SERVER = 'https://kube9.example.com';
    const savedFor = (serverUrl?: string): RegistrationState => ({
      keyFingerprint: 'fp:kdy_prod_unitkey1',
      ...(serverUrl === undefined ? {} : { serverUrl }),
      registered: true,
      clusterId: 'cls_savedsaved12',
      consecutiveTransientFailures: 0,
      refused: false,
      error: null,
      nextAttemptAt: Date.parse('2026-11-27T18:00:00.000Z'),
      serverConfiguration: { statusUpdateIntervalSeconds: 20 },
      recentAttempts: [Date.parse('2026-11-27T11:30:00.000Z')],
    });

    it.each([
      ['saved for this server: resumed, and still names it', SERVER],
      ["saved by a version that did not keep the server URL: taken as this server's, and named from now on", undefined],
    ])('%s', async (_name, savedServer) => {
      await build(KEY, { serverUrl: SERVER }, savedFor(savedServer));

      expect(lastView()).toMatchObject({ registered: true, clusterId: 'cls_savedsaved12' });
      expect(register).not.toHaveBeenCalled();
      // The re-registration, when the saved state has it due.
      clock.advance(6 * HOUR);
      await timers.fire(REGISTRATION_TIMER);
      expect(register).toHaveBeenCalledTimes(1);
      expect(lastSaved().serverUrl).toBe(SERVER);
    });

    it('saved for another server: not resumed; registers with this one at once, the hourly attempts kept', async () => {
      const log = jest.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
      await build(KEY, { serverUrl: SERVER }, savedFor('https://api.kube9.dev'));

      expect(lastView()).toMatchObject({ registered: false });
      expect(lastView().clusterId).toBeUndefined();
      expect(timers.scheduled.get(REGISTRATION_TIMER)?.ms).toBe(0);
      expect(log).toHaveBeenCalledWith(expect.stringContaining('the server URL has changed'));
      await timers.fire(REGISTRATION_TIMER);
      expect(register).toHaveBeenCalledTimes(1);
      expect(lastSaved()).toMatchObject({ serverUrl: SERVER, registered: true });
      expect(lastSaved().recentAttempts).toHaveLength(2);
      log.mockRestore();
    });
  });

  it("the key removed: free tier, the operator's own interval, ApiKeyChanged, no attempt left", async () => {
    await build(KEY);
    await timers.fire(REGISTRATION_TIMER);

    onKey(NO_KEY);
    await settle();

    expect(lastView()).toMatchObject({ apiKeyConfigured: false, registered: false });
    expect(intervals[intervals.length - 1]).toBe(60);
    expect(timers.scheduled.has(REGISTRATION_TIMER)).toBe(false);
    expect(record).toHaveBeenCalledWith(
      'Normal',
      'ApiKeyChanged',
      'API key removed; the operator runs in the free tier',
    );
  });

  it('an answer to a request made with the previous key is ignored', async () => {
    await build(KEY);
    let answer!: (outcome: RegistrationOutcome) => void;
    register.mockReturnValueOnce(new Promise((resolve) => (answer = resolve)));
    const attempt = timers.fire(REGISTRATION_TIMER);
    await settle();

    onKey({ key: 'kdy_prod_unitkey2', problem: null, configured: true });
    await settle();
    answer(registered());
    await attempt;

    expect(lastView()).toMatchObject({ registered: false });
    expect(record).toHaveBeenCalledWith('Normal', 'ApiKeyChanged', 'API key changed; registering with kube9-server');
  });

  it('a malformed key: free tier with the reason, an ApiKeyRejected event, nothing sent', async () => {
    const problem = 'The API key in Secret ops/kube9-operator-config (key "apiKey") is malformed';
    await build({ problem, configured: true });

    expect(lastView()).toMatchObject({ apiKeyConfigured: true, registered: false, refused: true, error: problem });
    expect(timers.scheduled.has(REGISTRATION_TIMER)).toBe(false);
    expect(record).toHaveBeenCalledWith('Warning', 'ApiKeyRejected', problem);
  });

  it('the same key read again: nothing changes, nothing told', async () => {
    await build(KEY);
    await timers.fire(REGISTRATION_TIMER);
    const told = views.length;
    const events = record.mock.calls.length;

    onKey({ ...KEY });

    expect(views).toHaveLength(told);
    expect(record).toHaveBeenCalledTimes(events);
    expect(timers.scheduled.get(REGISTRATION_TIMER)?.ms).toBe(12 * HOUR);
  });

  describe('with leader election', () => {
    it('reads nothing and registers nothing before this replica leads', async () => {
      await build(KEY, {}, undefined, true);

      expect(views).toEqual([]);
      expect(timers.scheduled.has(REGISTRATION_TIMER)).toBe(false);
    });

    it('leading: reads the key and the saved state, then registers; losing the Lease: nothing scheduled', async () => {
      await build(KEY, {}, undefined, true);
      const [hooks] = leadership.hooks;

      await hooks.prepare?.();
      leadership.leading = true;
      hooks.started?.();
      await timers.fire(REGISTRATION_TIMER);
      expect(lastView()).toMatchObject({ registered: true });

      leadership.leading = false;
      hooks.stopped?.();
      expect(timers.scheduled.has(REGISTRATION_TIMER)).toBe(false);
    });
  });
});
