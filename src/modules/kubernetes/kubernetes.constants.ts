/** Injection token of the KubernetesClients bundle. */
export const KUBERNETES_CLIENTS = Symbol('KUBERNETES_CLIENTS');

/** Every request to the Kubernetes API is abandoned after this long. */
export const KUBERNETES_REQUEST_TIMEOUT_MS = 10_000;

/** Where a pod finds its service-account credentials (the in-cluster configuration reads them here). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
