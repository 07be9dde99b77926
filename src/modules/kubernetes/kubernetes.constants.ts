/** Injection token of the KubernetesClients bundle. */
export const KUBERNETES_CLIENTS = Symbol('KUBERNETES_CLIENTS');

/** Every request to the Kubernetes API is abandoned after this long. */
export const KUBERNETES_REQUEST_TIMEOUT_MS = 10_000;
