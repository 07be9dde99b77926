import { ServedStatus, statusMetricValues } from './status-metric-values';

const FREE: ServedStatus = {
  version: '0.1.0',
  mode: 'operated',
  tier: 'free',
  health: 'healthy',
  registered: false,
  apiKeyConfigured: false,
};

describe('statusMetricValues (SPEC section 7 from the status document)', () => {
  it('no key: info operated/free, healthy, not registered, no key', () => {
    expect(statusMetricValues(FREE)).toEqual({
      info: { version: '0.1.0', mode: 'operated', tier: 'free' },
      health: [
        { state: 'healthy', value: 1 },
        { state: 'degraded', value: 0 },
        { state: 'unhealthy', value: 0 },
      ],
      registered: 0,
      apiKeyConfigured: 0,
    });
  });

  it('key, registered: info enabled/pro, registered 1, key 1', () => {
    const values = statusMetricValues({
      ...FREE,
      mode: 'enabled',
      tier: 'pro',
      registered: true,
      apiKeyConfigured: true,
    });

    expect(values.info).toEqual({ version: '0.1.0', mode: 'enabled', tier: 'pro' });
    expect(values.registered).toBe(1);
    expect(values.apiKeyConfigured).toBe(1);
  });

  it.each<[ServedStatus['health']]>([['degraded'], ['unhealthy']])('health %s: 1 on that state only', (health) => {
    const states = statusMetricValues({ ...FREE, health }).health;

    expect(states.filter((s) => s.value === 1).map((s) => s.state)).toEqual([health]);
    expect(states).toHaveLength(3);
  });

  it('takes nothing but the closed fields into labels (no error text, no clusterId)', () => {
    const document = { ...FREE, error: 'kdy_dev_secret leaked?', clusterId: 'cls_abcdef123456', namespace: 'ops' };

    expect(JSON.stringify(statusMetricValues(document))).not.toMatch(/kdy_|cls_|ops/);
  });
});
