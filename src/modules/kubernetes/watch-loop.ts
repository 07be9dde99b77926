import { backoffDelay } from '../../common/backoff';
import { NamedTimers } from '../../common/named-timers';
import { KubernetesClients } from './kubernetes-clients';
import { WATCH_BACKOFF, WATCH_INACTIVITY_TIMEOUT_MS } from './kubernetes.constants';

export interface WatchLoopOptions<T> {
  /** The NamedTimers name of the re-open timer. */
  timer: string;
  path: string;
  /** The query of each open (a resumed watch gives its resourceVersion). */
  query: () => Record<string, string | number | boolean | undefined>;
  onEvent: (phase: string, object: T) => void;
  /** A watch that failed (not one the API server ended normally), with the failures in a row. */
  onFailure?: (error: unknown, failures: number) => void;
  /** Before each re-open, e.g. a read when the resourceVersion is gone; throwing counts as a failure. */
  beforeReopen?: () => Promise<void>;
}

/**
 * The one watch loop of the operator (the key's Secret, and a follower's view of the status
 * ConfigMap): a watch through the shared Kubernetes client, re-opened when it ends, after 1 s,
 * or with WATCH_BACKOFF while it keeps failing; an event resets the failures. client-node's
 * Watch gives up on a watch silent for 30 s; the objects watched here can be quiet for minutes,
 * so the limit is WATCH_INACTIVITY_TIMEOUT_MS.
 */
export class WatchLoop<T> {
  private abort?: AbortController;
  private failures = 0;
  private stopped = false;

  constructor(
    private readonly kube: Pick<KubernetesClients, 'watch'>,
    private readonly timers: Pick<NamedTimers, 'after' | 'clear'>,
    private readonly options: WatchLoopOptions<T>,
  ) {}

  async open(): Promise<void> {
    if (this.stopped) return;
    try {
      const watch = this.kube.watch();
      Object.assign(watch, { requestTimeoutMs: WATCH_INACTIVITY_TIMEOUT_MS });
      this.abort = await watch.watch(
        this.options.path,
        this.options.query(),
        (phase: string, object: T) => {
          this.failures = 0;
          this.options.onEvent(phase, object);
        },
        (error: unknown) => this.ended(error),
      );
    } catch (error) {
      this.ended(error);
    }
  }

  /** Ends normally (the API server's timeout) or with an error; either way it comes back. */
  ended(error: unknown): void {
    if (this.stopped) return;
    const failed = Boolean(error) && !(error instanceof Error && error.name === 'AbortError');
    if (failed) {
      this.failures += 1;
      this.options.onFailure?.(error, this.failures);
    }
    const delay = failed ? backoffDelay(this.failures, WATCH_BACKOFF) : WATCH_BACKOFF.baseMs;
    this.timers.after(this.options.timer, delay, () => this.reopen());
  }

  stop(): void {
    this.stopped = true;
    this.timers.clear(this.options.timer);
    this.abort?.abort();
  }

  private async reopen(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.options.beforeReopen?.();
    } catch (error) {
      return this.ended(error);
    }
    await this.open();
  }
}
