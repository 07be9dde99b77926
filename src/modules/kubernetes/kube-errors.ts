import { ApiException } from '@kubernetes/client-node';
import { LeaseTimeUpError } from './leader-write';

/** The HTTP status of a failed Kubernetes request, or undefined when none was received. */
export function kubeStatusCode(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

/**
 * One short sentence for a failed Kubernetes request: what was attempted, what the API
 * server said (its Status message names the resource and the missing permission), or why
 * there was no answer. Never the request's credentials.
 */
export function describeKubeError(action: string, error: unknown): string {
  if (error instanceof ApiException) {
    const reason = statusMessage(error.body) ?? `HTTP ${error.code}`;
    const hint = error.code === 403 ? " (check the operator's Role and ClusterRole)" : '';
    return `Kubernetes API refused to ${action}: ${reason}${hint}`;
  }
  if (error instanceof LeaseTimeUpError) return `Did not ${action}, as leader: ${error.message}`;
  return `Kubernetes API unreachable while trying to ${action}: ${networkReason(error)}`;
}

function statusMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.slice(0, 200) || undefined;
    }
  }
  if (parsed && typeof parsed === 'object' && 'message' in parsed && typeof parsed.message === 'string') {
    return parsed.message;
  }
  return undefined;
}

function networkReason(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'no answer within the request timeout';
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return cause.code;
  return cause?.message ?? error.message;
}
