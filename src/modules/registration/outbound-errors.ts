import type { ProxySetting } from '../config/outbound-proxy';
import type { TransientFailure } from './registration-outcome';
import { MAX_RESPONSE_BYTES, REGISTRATION_TIMEOUT_MS } from './registration.constants';

/** OpenSSL's verification failures as Node reports them, and Node's own host name check. */
const CERTIFICATE_ERRORS = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

const RETRYING = 'retrying with backoff';

export interface FailureContext {
  /** kube9-server's host:port. */
  host: string;
  /** The request's 30 s deadline had passed. */
  pastDeadline: boolean;
  /** The proxy for kube9-server's scheme (scheme, host and port only, and its variable), if one is set. */
  proxy?: { label: string; variable: string };
  /** The failure was the connection to that proxy. */
  atProxy: boolean;
}

/**
 * One sentence per kind of failed registration request (SPEC sections 3 and 8): a timeout,
 * an answer too large, a proxy that refused, a certificate that did not verify, a network error.
 * Only error codes and status numbers are used, never an error's message (it can hold URLs).
 */
export function describeOutboundFailure(error: unknown, context: FailureContext): string {
  const { host } = context;
  const code = codeOf(error);
  if (context.pastDeadline || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT') {
    return `kube9-server at ${host} did not answer within ${REGISTRATION_TIMEOUT_MS / 1000} s; ${RETRYING}`;
  }
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') {
    return `kube9-server at ${host} sent an answer larger than ${MAX_RESPONSE_BYTES} bytes; treated as a server error`;
  }
  const tunnel = /^Proxy response \((\d{3})\)/.exec(error instanceof Error ? error.message : '');
  if (tunnel && context.proxy) {
    const { label, variable } = context.proxy;
    const hint = tunnel[1] === '407' ? ' (check the user and password in the proxy URL)' : '';
    return `Proxy ${label} (${variable}) refused the tunnel to kube9-server at ${host}: it answered CONNECT with ${tunnel[1]}${hint}; ${RETRYING}`;
  }
  if (context.atProxy && context.proxy) {
    const { label, variable } = context.proxy;
    return `Proxy ${label} (${variable}) could not be reached (${code ?? 'network error'}); ${RETRYING}`;
  }
  if (code && CERTIFICATE_ERRORS.has(code)) {
    return (
      `TLS certificate of kube9-server at ${host} did not verify (${code}); ` +
      `if a private CA signs it, give that CA in NODE_EXTRA_CA_CERTS (chart: caBundle); ${RETRYING}`
    );
  }
  return `Could not reach kube9-server at ${host} (${code ?? 'network error'}); ${RETRYING}`;
}

/**
 * The kind of a failed registration request, for kube9_operator_registration_attempts_total:
 * the same tests as describeOutboundFailure's. A refusing proxy or an unverified certificate
 * is a network error: no answer came from kube9-server.
 */
export function outboundFailureKind(error: unknown, context: FailureContext): TransientFailure {
  const code = codeOf(error);
  if (context.pastDeadline || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT')
    return 'timeout';
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return 'invalid_response';
  return 'network_error';
}

/** The configuration error for a proxy URL that does not parse; never the URL (it may hold a password). */
export function invalidProxyUrl(setting: ProxySetting | undefined, error: unknown): string {
  const variable = setting?.variable ?? 'HTTPS_PROXY';
  const rule = codeOf(error) === 'UND_ERR_INVALID_ARG' ? 'its scheme must be http:// or https://' : 'it does not parse';
  return (
    `Configuration error: ${variable} is not a usable proxy URL (${rule}); ` +
    `expected http://[user:password@]host:port; registration is not attempted until it is fixed`
  );
}

/** An error's code, or its cause's (undici and Node put the system error there). */
function codeOf(error: unknown): string | undefined {
  const own = (error as { code?: unknown } | undefined)?.code;
  if (typeof own === 'string' && own !== 'UND_ERR_PRX_TLS' && own !== 'UND_ERR_PRX_CONN') return own;
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  if (typeof cause === 'string') return cause;
  return typeof own === 'string' ? own : undefined;
}
