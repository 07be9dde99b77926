import { Test } from '@nestjs/testing';
import { CLOCK } from '../../common/clock';
import { OPERATOR_VERSION } from '../../common/operator-version';
import { FakeClock } from '@test/unit/fakes';
import { OperatorConfig } from '../config/operator-config';
import { NO_REGISTRATION } from './dto/registration-view.dto';
import { StatusComposer } from './status.composer';

describe('StatusComposer', () => {
  let composer: StatusComposer;
  let clock: FakeClock;

  beforeEach(async () => {
    clock = new FakeClock();
    const moduleRef = await Test.createTestingModule({
      providers: [
        StatusComposer,
        { provide: OperatorConfig, useValue: Object.assign(new OperatorConfig(), { namespace: 'ops' }) },
        { provide: CLOCK, useValue: clock },
      ],
    }).compile();
    composer = moduleRef.get(StatusComposer);
  });

  it('before the registration module has told anything: free and healthy, with the version, namespace and time', () => {
    expect(composer.compose(null)).toEqual({
      mode: 'operated',
      tier: 'free',
      version: OPERATOR_VERSION,
      health: 'healthy',
      lastUpdate: new Date(clock.now()).toISOString(),
      registered: false,
      error: null,
      apiKeyConfigured: false,
      namespace: 'ops',
    });
  });

  it('composes from the registration last told', () => {
    composer.setRegistration({
      ...NO_REGISTRATION,
      apiKeyConfigured: true,
      registered: true,
      clusterId: 'cls_abcdefghijkl',
    });

    expect(composer.compose(null)).toMatchObject({ mode: 'enabled', tier: 'pro', clusterId: 'cls_abcdefghijkl' });
  });

  it('a failed status write makes the document unhealthy, saying why', () => {
    expect(composer.compose('the Kubernetes API refused')).toMatchObject({
      health: 'unhealthy',
      error: 'the Kubernetes API refused',
    });
  });

  it('stamps each document with the time it is composed at', () => {
    const first = composer.compose(null).lastUpdate;
    clock.advance(1_000);

    expect(composer.compose(null).lastUpdate).not.toBe(first);
  });

  it('tells its listeners each time the registration is told', () => {
    const listener = jest.fn();
    composer.onChange(listener);

    composer.setRegistration({ ...NO_REGISTRATION });
    composer.setRegistration({ ...NO_REGISTRATION, apiKeyConfigured: true });

    expect(listener).toHaveBeenCalledTimes(2);
  });
});
