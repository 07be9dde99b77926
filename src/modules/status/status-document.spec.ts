import { registerSecret } from '../../common/secret-redaction';
import { NO_REGISTRATION, RegistrationView } from './dto/registration-view.dto';
import { cleanError } from '../../common/error-text';
import { buildStatusDocument, differsForReaders } from './status-document';
import { MAX_DOCUMENT_BYTES } from './status.constants';

const NOW = new Date('2026-11-26T12:00:00.000Z');

function documentFor(registration: Partial<RegistrationView>, kubernetesError: string | null = null) {
  return buildStatusDocument({
    registration: { ...NO_REGISTRATION, ...registration },
    kubernetesError,
    version: '1.2.3',
    namespace: 'kube9-system',
    now: NOW,
  });
}

const KEYED = { apiKeyConfigured: true };

describe('buildStatusDocument: the SPEC mode/health table', () => {
  it('no key: operated / free, not registered, healthy, no error', () => {
    expect(documentFor({})).toEqual({
      mode: 'operated',
      tier: 'free',
      version: '1.2.3',
      health: 'healthy',
      lastUpdate: '2026-11-26T12:00:00.000Z',
      registered: false,
      error: null,
      apiKeyConfigured: false,
      namespace: 'kube9-system',
    });
  });

  it('no key known because its Secret cannot be read: operated / free, degraded, why', () => {
    const document = documentFor({
      error: 'Kubernetes API refused to read Secret kube9-system/kube9-operator-config: forbidden',
    });

    expect(document).toMatchObject({
      mode: 'operated',
      tier: 'free',
      registered: false,
      health: 'degraded',
      apiKeyConfigured: false,
    });
    expect(document.error).toContain('forbidden');
  });

  it('key, registered: enabled / pro, registered, healthy, clusterId present', () => {
    const document = documentFor({ ...KEYED, registered: true, clusterId: 'cls_abcdefghijkl' });

    expect(document).toMatchObject({ mode: 'enabled', tier: 'pro', registered: true, health: 'healthy', error: null });
    expect(document.clusterId).toBe('cls_abcdefghijkl');
    expect(document.apiKeyConfigured).toBe(true);
  });

  it('key, registration pending: enabled / pro, not registered, degraded, says it is pending', () => {
    expect(documentFor(KEYED)).toMatchObject({
      mode: 'enabled',
      tier: 'pro',
      registered: false,
      health: 'degraded',
      error: 'Registration with kube9-server is pending',
    });
  });

  it('key, transient failures, registration not given up: enabled / pro, not registered, degraded, why', () => {
    const document = documentFor({ ...KEYED, givenUp: false, error: 'kube9-server answered 503' });

    expect(document).toMatchObject({
      mode: 'enabled',
      tier: 'pro',
      registered: false,
      health: 'degraded',
      error: 'kube9-server answered 503',
    });
    expect(document).not.toHaveProperty('clusterId');
  });

  it('key, registration given up after transient failures: operated / free, degraded, why', () => {
    const document = documentFor({ ...KEYED, givenUp: true, error: 'kube9-server unreachable' });

    expect(document).toMatchObject({
      mode: 'operated',
      tier: 'free',
      registered: false,
      health: 'degraded',
      error: 'kube9-server unreachable',
    });
  });

  it('registered, re-registration failing transiently, not given up: stays enabled / pro and registered, degraded', () => {
    const document = documentFor({
      ...KEYED,
      registered: true,
      clusterId: 'cls_abcdefghijkl',
      givenUp: false,
      error: 'kube9-server did not answer within 30 s',
    });

    expect(document).toMatchObject({
      mode: 'enabled',
      tier: 'pro',
      registered: true,
      health: 'degraded',
      clusterId: 'cls_abcdefghijkl',
    });
  });

  it('key refused or request rejected: operated / free, not registered, degraded, why', () => {
    const document = documentFor({
      ...KEYED,
      refused: true,
      error: 'kube9-server refused the API key (INVALID_API_KEY)',
    });

    expect(document).toMatchObject({ mode: 'operated', tier: 'free', registered: false, health: 'degraded' });
    expect(document.error).toContain('INVALID_API_KEY');
  });

  it.each([
    ['no key', {}, 'operated', false],
    ['registered', { ...KEYED, registered: true, clusterId: 'cls_abcdefghijkl' }, 'enabled', true],
    ['refused', { ...KEYED, refused: true, error: 'refused' }, 'operated', false],
  ])(
    'cannot write to the Kubernetes API (%s): mode as above, unhealthy, why',
    (_name, registration, mode, registered) => {
      const document = documentFor(registration, 'Forbidden: cannot update ConfigMap kube9-operator-status');

      expect(document).toMatchObject({
        mode,
        registered,
        health: 'unhealthy',
        error: 'Forbidden: cannot update ConfigMap kube9-operator-status',
      });
    },
  );

  it('keeps tier in step with mode in every state', () => {
    const states: Partial<RegistrationView>[] = [
      {},
      KEYED,
      { ...KEYED, refused: true },
      { ...KEYED, registered: true, clusterId: 'cls_abcdefghijkl' },
      { ...KEYED, givenUp: true },
    ];

    for (const state of states) {
      const document = documentFor(state);
      expect(document.tier).toBe(document.mode === 'enabled' ? 'pro' : 'free');
    }
  });
});

describe('cleanError', () => {
  it('cuts an error longer than 500 characters and ends it with ...', () => {
    const cleaned = cleanError('x'.repeat(2000));

    expect(cleaned).toHaveLength(500);
    expect(cleaned.endsWith('...')).toBe(true);
  });

  it('keeps an error of exactly 500 characters whole', () => {
    expect(cleanError('y'.repeat(500))).toBe('y'.repeat(500));
  });

  it('never carries a registered secret', () => {
    registerSecret('kdy_dev_statusleak1');

    expect(cleanError('bad header kdy_dev_statusleak1 in request')).toBe('bad header [redacted] in request');
  });
});

describe('document size', () => {
  it('stays under 4 KiB with the longest error and a long namespace', () => {
    const document = buildStatusDocument({
      registration: {
        ...NO_REGISTRATION,
        apiKeyConfigured: true,
        registered: true,
        clusterId: `cls_${'a'.repeat(64)}`,
        error: '€'.repeat(5000),
      },
      kubernetesError: null,
      version: '10.20.30-rc.1',
      namespace: 'n'.repeat(63),
      now: NOW,
    });

    expect(Buffer.byteLength(JSON.stringify(document))).toBeLessThan(MAX_DOCUMENT_BYTES);
  });
});

describe('differsForReaders', () => {
  it('ignores a new lastUpdate but sees a new health', () => {
    const before = documentFor({});
    const later = { ...before, lastUpdate: '2026-11-26T12:01:00.000Z' };

    expect(differsForReaders(before, later)).toBe(false);
    expect(differsForReaders(before, { ...later, health: 'unhealthy' })).toBe(true);
  });
});
