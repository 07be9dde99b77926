/** Injection token of the KubernetesClients bundle. */
export const KUBERNETES_CLIENTS = Symbol('KUBERNETES_CLIENTS');

/** Every request to the Kubernetes API is abandoned after this long. */
export const KUBERNETES_REQUEST_TIMEOUT_MS = 10_000;

/** The API server ends a Secret watch after this long; it is then resumed from its resourceVersion. */
export const SECRET_WATCH_TIMEOUT_SECONDS = 1800;
/**
 * client-node's Watch aborts a watch that receives nothing for 30 s. A quiet Secret sends
 * nothing but bookmarks (about one a minute), and the status ConfigMap changes at least every
 * 240 s, so that would re-open the watches twice a minute. Five minutes still finds a dead
 * connection, without extra requests in the steady state.
 */
export const WATCH_INACTIVITY_TIMEOUT_MS = 5 * 60_000;
/** A dropped watch is re-established after 1 s, doubling to 30 s while it keeps failing. */
export const WATCH_BACKOFF = { baseMs: 1_000, capMs: 30_000, jitter: 0.5 };
