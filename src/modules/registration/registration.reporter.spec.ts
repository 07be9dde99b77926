import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { OperatorConfig } from '../config/operator-config';
import { EventRecorder } from '../kubernetes/event.recorder';
import { RegistrationView } from '../status/dto/registration-view.dto';
import { StatusComposer } from '../status/status.composer';
import { StatusSchedule } from '../status/status.schedule';
import { ApiKeyReading } from './api-key.source';
import { initialState, RegistrationState } from './registration-state';
import { RegistrationReporter } from './registration.reporter';

const KEY: ApiKeyReading = { key: 'kdy_prod_unitkey1', problem: null, configured: true };
const REGISTERED: RegistrationState = {
  ...initialState('scrypt:00'),
  registered: true,
  clusterId: 'cls_abcdefghijkl',
  serverConfiguration: { statusUpdateIntervalSeconds: 30 },
};

describe('RegistrationReporter', () => {
  let reporter: RegistrationReporter;
  let views: RegistrationView[];
  let intervals: number[];
  let record: jest.Mock;

  beforeEach(async () => {
    views = [];
    intervals = [];
    record = jest.fn(async () => undefined);
    const moduleRef = await Test.createTestingModule({
      providers: [
        RegistrationReporter,
        {
          provide: OperatorConfig,
          useValue: Object.assign(new OperatorConfig(), { statusUpdateIntervalSeconds: 60 }),
        },
        { provide: StatusComposer, useValue: { setRegistration: (view: RegistrationView) => views.push(view) } },
        { provide: StatusSchedule, useValue: { setIntervalSeconds: (seconds: number) => intervals.push(seconds) } },
        { provide: EventRecorder, useValue: { record } },
      ],
    }).compile();
    reporter = moduleRef.get(RegistrationReporter);
  });

  afterEach(() => jest.restoreAllMocks());

  it("a registration that holds: the status shows it, written at the server's interval", () => {
    reporter.tellStatus(REGISTERED, KEY);

    expect(views).toEqual([
      {
        apiKeyConfigured: true,
        registered: true,
        clusterId: 'cls_abcdefghijkl',
        givenUp: false,
        refused: false,
        error: null,
      },
    ]);
    expect(intervals).toEqual([30]);
  });

  it("no registration (here: refused): the operator's own interval, whatever the server said before", () => {
    reporter.tellStatus({ ...REGISTERED, registered: false, refused: true, error: '401' }, KEY);

    expect(views[0]).toMatchObject({ registered: false, refused: true, error: '401' });
    expect(intervals).toEqual([60]);
  });

  it('no key: the status shows no key (and why, if it cannot be used)', () => {
    reporter.tellStatus(undefined, { problem: 'the key is malformed', configured: true });

    expect(views[0]).toMatchObject({ apiKeyConfigured: true, refused: true, error: 'the key is malformed' });
    expect(intervals).toEqual([60]);
  });

  it('a server interval out of range is clamped and warned about once', () => {
    const warn = jest.spyOn(Logger.prototype, 'warn');
    const state = { ...REGISTERED, serverConfiguration: { statusUpdateIntervalSeconds: 5 } };

    reporter.tellStatus(state, KEY);
    reporter.tellStatus(state, KEY);

    expect(intervals).toEqual([10, 10]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledWith('kube9-server sent statusUpdateIntervalSeconds=5, outside 10..240; using 10');
  });

  it('a story: its line logged at its level and its Event recorded', () => {
    const error = jest.spyOn(Logger.prototype, 'error');

    reporter.narrate({
      level: 'error',
      line: 'refused; next attempt at …',
      event: { type: 'Warning', reason: 'ApiKeyRejected', note: 'refused' },
    });

    expect(error).toHaveBeenCalledWith('refused; next attempt at …');
    expect(record).toHaveBeenCalledWith('Warning', 'ApiKeyRejected', 'refused');
  });

  it('a story without an Event is only logged; no story, nothing', () => {
    const log = jest.spyOn(Logger.prototype, 'log');

    reporter.narrate({ level: 'log', line: 'renewed' });
    reporter.narrate(undefined);

    expect(log).toHaveBeenCalledTimes(1);
    expect(record).not.toHaveBeenCalled();
  });
});
