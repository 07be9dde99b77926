import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { OperatorConfig } from '../config/operator-config';
import { ConfigMapWriter } from '../kubernetes/configmap.writer';
import { RegistrationStateStore } from './registration-state.store';
import { initialState } from './registration-state';
import { toJson } from './saved-state';

const CANARY = 'kdy_prod_canary0secret';
const WARNING_START = 'ConfigMap kube9-system/kube9-operator-state holds no usable registration state';

async function storeReading(data: Record<string, string> | undefined) {
  const writer = { read: jest.fn().mockResolvedValue(data), put: jest.fn() };
  const module = await Test.createTestingModule({
    providers: [
      RegistrationStateStore,
      { provide: OperatorConfig, useValue: { namespace: 'kube9-system' } },
      { provide: ConfigMapWriter, useValue: writer },
    ],
  }).compile();
  return module.get(RegistrationStateStore);
}

describe('RegistrationStateStore.load', () => {
  let warn: jest.SpyInstance;

  beforeEach(() => {
    warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => warn.mockRestore());

  it('resumes a saved state without a word', async () => {
    const saved = { ...initialState('scrypt:ab'), consecutiveTransientFailures: 1 };
    const store = await storeReading({ state: toJson(saved) });

    expect(await store.load()).toEqual(saved);
    expect(warn).not.toHaveBeenCalled();
  });

  it('starts fresh without a word when there is no ConfigMap', async () => {
    const store = await storeReading(undefined);

    expect(await store.load()).toBeUndefined();
    expect(warn).not.toHaveBeenCalled();
  });

  it.each([
    ['not JSON', { state: `{${CANARY}` }, 'it is not valid JSON'],
    [
      'a field of the wrong type',
      { state: toJson(initialState(CANARY)).replace('"registered":false', `"registered":"${CANARY}"`) },
      '"registered" is not a boolean',
    ],
    ['no key "state"', { other: CANARY }, 'it has no key "state"'],
  ])('starts fresh from a ConfigMap with %s, saying so once and never what it holds', async (_name, data, problem) => {
    const store = await storeReading(data);

    expect(await store.load()).toBeUndefined();
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toBe(`${WARNING_START} (${problem}); starting from a fresh state, which replaces it`);
    expect(JSON.stringify(warn.mock.calls)).not.toContain(CANARY);
  });
});
