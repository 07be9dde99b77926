import { RegistrationResponseDto } from './dto/registration-response.dto';
import { narrateAttempt } from './registration-narration';
import { RegistrationOutcome } from './registration-outcome';
import { initialState, RegistrationState } from './registration-state';

const NEXT = Date.parse('2026-11-27T12:00:00.000Z');
const fresh: RegistrationState = { ...initialState('scrypt:00'), nextAttemptAt: NEXT };
const holding: RegistrationState = { ...fresh, registered: true, clusterId: 'cls_abcdef123456' };
const registered: RegistrationOutcome = {
  kind: 'registered',
  response: Object.assign(new RegistrationResponseDto(), {
    status: 'reregistered',
    clusterId: 'cls_abcdef123456',
    tier: 'pro',
  }),
};

describe('narrateAttempt (one log line and at most one Event per answer)', () => {
  it('a first registration: logged, and a Registered Event', () => {
    expect(narrateAttempt(fresh, holding, registered)).toEqual({
      level: 'log',
      line: 'Registered with kube9-server as cls_abcdef123456 (reregistered); next re-registration at 2026-11-27T12:00:00.000Z',
      event: {
        type: 'Normal',
        reason: 'Registered',
        note: 'Registered with kube9-server as cls_abcdef123456; tier pro',
      },
    });
  });

  it('a renewal of a healthy registration: logged only', () => {
    expect(narrateAttempt(holding, holding, registered).event).toBeUndefined();
  });

  it('a renewal after failures: the Event says the registration holds again', () => {
    const failing = { ...holding, error: 'kube9-server answered 503' };

    expect(narrateAttempt(failing, holding, registered).event?.reason).toBe('Registered');
  });

  it('a 400: an error line with the details, an ApiKeyRejected Event without them', () => {
    const outcome: RegistrationOutcome = {
      kind: 'rejected',
      reason: 'kube9-server rejected the request (400)',
      details: 'x',
    };

    expect(narrateAttempt(fresh, fresh, outcome)).toEqual({
      level: 'error',
      line: 'kube9-server rejected the request (400); next attempt at 2026-11-27T12:00:00.000Z; details: x',
      event: { type: 'Warning', reason: 'ApiKeyRejected', note: 'kube9-server rejected the request (400)' },
    });
  });

  it('a transient failure: a warning, and a RegistrationFailed Event saying when the next attempt is', () => {
    const after = { ...fresh, error: 'kube9-server answered 503' };
    const outcome: RegistrationOutcome = {
      kind: 'transient',
      failure: 'server_error',
      reason: 'kube9-server answered 503',
    };

    expect(narrateAttempt(fresh, after, outcome)).toEqual({
      level: 'warn',
      line: 'kube9-server answered 503; next attempt at 2026-11-27T12:00:00.000Z',
      event: {
        type: 'Warning',
        reason: 'RegistrationFailed',
        note: 'kube9-server answered 503; next attempt at 2026-11-27T12:00:00.000Z',
      },
    });
  });
});
