/**
 * What the status needs to know of registration; the registration module keeps it current.
 * Without a key it is NO_REGISTRATION.
 */
export interface RegistrationView {
  apiKeyConfigured: boolean;
  /** Holds a registration with kube9-server (clusterId set). */
  registered: boolean;
  clusterId?: string;
  /**
   * Registration gave up after too many transient failures in a row (the registration module
   * owns that rule): free tier until a retry succeeds.
   */
  givenUp: boolean;
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
  givenUp: false,
  refused: false,
  error: null,
};
