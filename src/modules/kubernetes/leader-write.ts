import {
  ConfigurationOptions,
  Observable,
  ObservableMiddleware,
  RequestContext,
  ResponseContext,
} from '@kubernetes/client-node';

/**
 * A leader's write that was not sent, or was abandoned in flight, because this replica's time
 * as the Lease holder ran out (SPEC section 9: never two writers).
 */
export class LeaseTimeUpError extends Error {
  override readonly name = 'LeaseTimeUpError';
}

export type LeaderWriteWindow = { send: false } | { send: true; cutAfterMs?: number };

/**
 * Whether a leader's write may be sent now, and when it must be abandoned: at the moment this
 * replica stops leading (`leadsUntilMs`, see LeaderElectionService.leadsUntil), so that no
 * write of this replica can reach the API server after a successor may have started. Without
 * this, a write sent just before the renew deadline could land up to the request timeout
 * (10 s) later, past the 5 s between the renew deadline and the end of the lease.
 * `cutAfterMs` is absent when there is no Lease to lose (election off): the request timeout
 * alone applies.
 */
export function leaderWriteWindow(input: { nowMs: number; leadsUntilMs: number | undefined }): LeaderWriteWindow {
  const { nowMs, leadsUntilMs } = input;
  if (leadsUntilMs === undefined || leadsUntilMs <= nowMs) return { send: false };
  if (leadsUntilMs === Number.POSITIVE_INFINITY) return { send: true };
  return { send: true, cutAfterMs: leadsUntilMs - nowMs };
}

/**
 * Per-request options for a leader's write: a middleware, run after the client's own (which
 * sets the request timeout), that refuses to send once the Lease time is up and otherwise adds
 * an abort at the end of the Lease time to the request's signal. It runs when the request is
 * about to be sent, so each request of a write (the PUT, a create after a 404, the PUT after a
 * 409) gets the time left at that moment.
 */
export function leaderWriteOptions(
  leadsUntil: () => number | undefined,
  now: () => number = Date.now,
): ConfigurationOptions {
  const middleware: ObservableMiddleware = {
    pre(context: RequestContext): Observable<RequestContext> {
      const window = leaderWriteWindow({ nowMs: now(), leadsUntilMs: leadsUntil() });
      if (!window.send) {
        return new Observable(
          Promise.reject(
            new LeaseTimeUpError('not sent: this replica does not hold the Lease (or its renew deadline has passed)'),
          ),
        );
      }
      if (window.cutAfterMs !== undefined) {
        const lease = new AbortController();
        setTimeout(
          () => lease.abort(new LeaseTimeUpError("abandoned in flight: this replica's Lease time ran out")),
          window.cutAfterMs,
        ).unref();
        const timeout = context.getSignal();
        context.setSignal(timeout ? AbortSignal.any([timeout, lease.signal]) : lease.signal);
      }
      return new Observable(Promise.resolve(context));
    },
    post(context: ResponseContext): Observable<ResponseContext> {
      return new Observable(Promise.resolve(context));
    },
  };
  // The object-parameter API objects take per-call middleware of the Observable kind.
  return { middleware: [middleware], middlewareMergeStrategy: 'append' };
}
