import { ApiKeyReading } from './api-key.source';
import { RegistrationResponseDto } from './dto/registration-response.dto';
import { narrateAttempt, narrateKeyChange } from './registration-narration';
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

describe('narrateKeyChange (one log line and at most one Event per change of the key)', () => {
  const NO_KEY: ApiKeyReading = { problem: null, configured: false };
  const KEY: ApiKeyReading = { key: 'kdy_prod_unitkey1', problem: null, configured: true };
  const MALFORMED: ApiKeyReading = { problem: 'The API key in Secret ops/x is malformed', configured: true };
  const UNREADABLE: ApiKeyReading = { problem: 'Secret ops/x unreadable', configured: false };

  it('a first key: logged, no Event', () => {
    expect(narrateKeyChange(NO_KEY, KEY)).toEqual({
      level: 'log',
      line: 'API key configured: registering with kube9-server',
      event: undefined,
    });
  });

  it('a key in place of another: an ApiKeyChanged Event', () => {
    expect(narrateKeyChange(KEY, { ...KEY, key: 'kdy_prod_unitkey2' })?.event).toEqual({
      type: 'Normal',
      reason: 'ApiKeyChanged',
      note: 'API key changed; registering with kube9-server',
    });
  });

  it('a key whose saved state is taken up: says so, no Event', () => {
    expect(narrateKeyChange(NO_KEY, KEY, holding)).toEqual({
      level: 'log',
      line: 'Resuming the saved registration state (registered=true)',
    });
  });

  it('the key removed: logged, and an ApiKeyChanged Event', () => {
    expect(narrateKeyChange(KEY, NO_KEY)).toEqual({
      level: 'log',
      line: 'API key removed: free tier',
      event: { type: 'Normal', reason: 'ApiKeyChanged', note: 'API key removed; the operator runs in the free tier' },
    });
  });

  it('no key before, none after: nothing to tell', () => {
    expect(narrateKeyChange(NO_KEY, NO_KEY)).toBeUndefined();
  });

  it('a configured key that cannot be used: a warning, and an ApiKeyRejected Event', () => {
    expect(narrateKeyChange(KEY, MALFORMED)).toEqual({
      level: 'warn',
      line: MALFORMED.problem,
      event: { type: 'Warning', reason: 'ApiKeyRejected', note: MALFORMED.problem },
    });
  });

  it('a key that cannot be read at all: a warning, no Event (nothing says a key was configured)', () => {
    expect(narrateKeyChange(KEY, UNREADABLE)).toEqual({ level: 'warn', line: UNREADABLE.problem, event: undefined });
  });
});
