/** SPEC section 2's name; declared in config, the lowest module, so that kubernetes/ can name it too. */
export { STATUS_CONFIGMAP_NAME } from '../config/config.constants';
export const STATUS_CONFIGMAP_KEY = 'status';
export const STATUS_LABELS: Readonly<Record<string, string>> = {
  'app.kubernetes.io/name': 'kube9-operator',
  'app.kubernetes.io/component': 'status',
};

export const MAX_DOCUMENT_BYTES = 4096;

/** Shown while a key is configured and the first registration has not been answered yet. */
export const REGISTRATION_PENDING_ERROR = 'Registration with kube9-server is pending';

/** Retries of a failed status write start here and double up to the status interval. */
export const WRITE_RETRY_BASE_MS = 1_000;
/** The final write on shutdown is abandoned after this long, so the process exits in time. */
export const SHUTDOWN_WRITE_TIMEOUT_MS = 5_000;

export const STATUS_PUBLISH_TIMER = 'status-publish';
export const STATUS_RETRY_TIMER = 'status-write-retry';
