import { describeOutboundFailure, FailureContext, outboundFailureKind } from './outbound-errors';

const DIRECT: FailureContext = { host: 'api.kube9.dev', pastDeadline: false, atProxy: false };
const PROXY = { label: 'http://proxy.corp:3128', variable: 'HTTPS_PROXY' };

function undiciError(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

function systemError(code: string): Error {
  return new TypeError('fetch failed', { cause: Object.assign(new Error(code), { code }) });
}

describe('outboundFailureKind (the outcome label of a failed registration request)', () => {
  it.each<[string, unknown, FailureContext, string]>([
    ['the 30 s deadline passed', new Error('aborted'), { ...DIRECT, pastDeadline: true }, 'timeout'],
    ['a connect timeout', undiciError('UND_ERR_CONNECT_TIMEOUT'), DIRECT, 'timeout'],
    ['a headers timeout', undiciError('UND_ERR_HEADERS_TIMEOUT'), DIRECT, 'timeout'],
    ['an answer too large', undiciError('UND_ERR_RES_EXCEEDED_MAX_SIZE'), DIRECT, 'invalid_response'],
    ['a refused connection', systemError('ECONNREFUSED'), DIRECT, 'network_error'],
    ['a certificate that did not verify', systemError('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), DIRECT, 'network_error'],
    [
      'a proxy that refused the tunnel',
      new Error('Proxy response (407) !== 200'),
      { ...DIRECT, proxy: PROXY },
      'network_error',
    ],
    ['an unreachable proxy', systemError('ECONNREFUSED'), { ...DIRECT, proxy: PROXY, atProxy: true }, 'network_error'],
  ])('%s', (_name, error, context, kind) => {
    expect(outboundFailureKind(error, context)).toBe(kind);
  });

  it('agrees with the sentence of describeOutboundFailure for a timeout and a too-large answer', () => {
    expect(describeOutboundFailure(new Error('aborted'), { ...DIRECT, pastDeadline: true })).toMatch(/did not answer/);
    expect(describeOutboundFailure(undiciError('UND_ERR_RES_EXCEEDED_MAX_SIZE'), DIRECT)).toMatch(/larger than/);
  });
});
