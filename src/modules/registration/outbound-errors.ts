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
  if (tooLarge(error, code)) {
    return `kube9-server at ${host} sent an answer larger than ${MAX_RESPONSE_BYTES} bytes; treated as a server error`;
  }
  const tunnel = chain(error)
    .map((cause) => /^Proxy response \((\d{3})\)/.exec(cause instanceof Error ? cause.message : ''))
    .find(Boolean);
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
  if (tooLarge(error, code)) return 'invalid_response';
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

/**
 * Codes of the layers that wrap the real failure: axios's (its fetch adapter turns every failure
 * of undici's fetch into ERR_NETWORK) and undici's proxy wrappers. The system or TLS error is
 * found among their causes.
 */
const WRAPPER_CODES = new Set([
  'ERR_NETWORK',
  'ERR_CANCELED',
  'ERR_BAD_RESPONSE',
  'UND_ERR_PRX_TLS',
  'UND_ERR_PRX_CONN',
]);

/** An error's own code, or the first code among its causes that is not a wrapper's. */
function codeOf(error: unknown): string | undefined {
  const codes = chain(error)
    .map((cause) => (cause as { code?: unknown }).code)
    .filter((code): code is string => typeof code === 'string');
  return codes.find((code) => !WRAPPER_CODES.has(code)) ?? codes[0];
}

/** An answer larger than MAX_RESPONSE_BYTES: cut by axios (maxContentLength) or by undici (maxResponseSize). */
function tooLarge(error: unknown, code: string | undefined): boolean {
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') return true;
  return chain(error).some(
    (cause) => cause instanceof Error && /^maxContentLength size of \d+ exceeded$/.test(cause.message),
  );
}

/** An error and its causes, outermost first (axios wraps fetch's error, which wraps undici's). */
export function chain(error: unknown): object[] {
  const found: object[] = [];
  for (
    let at = error;
    typeof at === 'object' && at !== null && found.length < 8;
    at = (at as { cause?: unknown }).cause
  )
    found.push(at);
  return found;
}
