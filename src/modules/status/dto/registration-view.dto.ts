/**
 * What the status needs to know of registration; the registration module keeps it current.
 * Without a key it is NO_REGISTRATION.
 */
export interface RegistrationView {
  apiKeyConfigured: boolean;
  /** Holds a registration with kube9-server (clusterId set). */
  registered: boolean;
  clusterId?: string;
  /** Timeouts, network errors and 5xx in a row; 429 does not count (it keeps the current mode). */
  consecutiveTransientFailures: number;
  /** The server refused the key (401, 403) or the request (400); no retry until something changes. */
  refused: boolean;
  /**
   * Why the latest attempt failed, or why there is no registration yet; null after a success.
   * Without a key: why the key could not be read (the Secret is unreadable), else null.
   */
  error: string | null;
}

export const NO_REGISTRATION: RegistrationView = {
  apiKeyConfigured: false,
  registered: false,
  consecutiveTransientFailures: 0,
  refused: false,
  error: null,
};
