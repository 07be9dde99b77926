import { Test } from '@nestjs/testing';
import { redactSecrets } from '../../common/secret-redaction';
import { OperatorConfig } from '../config/operator-config';
import { SecretState, SecretWatcher } from '../kubernetes/secret.watcher';
import { ApiKeyReading, ApiKeySource } from './api-key.source';

const b64 = (text: string) => Buffer.from(text).toString('base64');
const present = (data: Record<string, string>): SecretState => ({ kind: 'present', secret: { data } });

describe('ApiKeySource', () => {
  let onSecret: (state: SecretState) => void;
  let watch: jest.Mock;
  let changes: ApiKeyReading[];

  async function build(first: SecretState, config: Partial<OperatorConfig> = {}): Promise<ApiKeySource> {
    changes = [];
    watch = jest.fn(async (_ref: unknown, onChange: (state: SecretState) => void) => {
      onSecret = onChange;
      onChange(first);
      return first;
    });
    const moduleRef = await Test.createTestingModule({
      providers: [
        ApiKeySource,
        {
          provide: OperatorConfig,
          useValue: Object.assign(new OperatorConfig(), {
            namespace: 'ops',
            apiKeySecretName: 'cfg',
            apiKeySecretKey: 'apiKey',
            ...config,
          }),
        },
        { provide: SecretWatcher, useValue: { watch } },
      ],
    }).compile();
    return moduleRef.get(ApiKeySource);
  }

  it('a valid key in the Secret: configured, usable, registered for redaction', async () => {
    const source = await build(present({ apiKey: b64('kdy_prod_unit1\n') }));

    const reading = await source.start((next) => changes.push(next));

    expect(reading).toEqual({ key: 'kdy_prod_unit1', problem: null, configured: true });
    expect(watch).toHaveBeenCalledWith({ namespace: 'ops', name: 'cfg' }, expect.any(Function));
    expect(redactSecrets('x kdy_prod_unit1 y')).toBe('x [redacted] y');
    expect(changes).toEqual([]);
  });

  it('a malformed key: configured but unusable, and the problem never repeats it', async () => {
    const source = await build(present({ apiKey: b64('kdy_prod_Secret-Value') }));

    const reading = await source.start(() => undefined);

    expect(reading.key).toBeUndefined();
    expect(reading.configured).toBe(true);
    expect(reading.problem).toBe(
      'The API key in Secret ops/cfg (key "apiKey") is malformed: it must have the form kdy_prod_… or kdy_dev_… (lowercase letters and digits after the prefix)',
    );
  });

  it('a Secret without the key name: not configured, says which key to set', async () => {
    const source = await build(present({ other: b64('kdy_prod_x') }));

    expect(await source.start(() => undefined)).toMatchObject({
      configured: false,
      problem: expect.stringContaining('has no key "apiKey"; set API_KEY_SECRET_KEY'),
    });
  });

  it.each<[string, SecretState]>([
    ['no Secret', { kind: 'absent' }],
    ['an empty key', present({ apiKey: b64('  ') })],
  ])('%s: free tier, no problem', async (_name, state) => {
    const source = await build(state);

    expect(await source.start(() => undefined)).toEqual({ problem: null, configured: false });
  });

  it('an unreadable Secret: the tier cannot be determined, and why', async () => {
    const source = await build({
      kind: 'unreadable',
      reason: 'Kubernetes API refused to read Secret ops/cfg: forbidden',
    });

    expect(await source.start(() => undefined)).toEqual({
      problem: 'Kubernetes API refused to read Secret ops/cfg: forbidden; the tier cannot be determined',
      configured: false,
    });
  });

  it('tells of a change, once, and not of a repeat', async () => {
    const source = await build({ kind: 'absent' });
    await source.start((next) => changes.push(next));

    onSecret(present({ apiKey: b64('kdy_dev_unit2') }));
    onSecret(present({ apiKey: b64('kdy_dev_unit2') }));
    onSecret({ kind: 'absent' });

    expect(changes).toEqual([
      { key: 'kdy_dev_unit2', problem: null, configured: true },
      { problem: null, configured: false },
    ]);
  });

  it('API_KEY in the environment replaces the Secret, which is not watched', async () => {
    const source = await build({ kind: 'absent' }, { apiKey: 'kdy_dev_fromenv1' });

    expect(await source.start(() => undefined)).toEqual({ key: 'kdy_dev_fromenv1', problem: null, configured: true });
    expect(watch).not.toHaveBeenCalled();
  });
});
