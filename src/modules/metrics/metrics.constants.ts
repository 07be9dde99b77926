/** Every metric of SPEC section 7, under one prefix. */
export const METRIC_PREFIX = 'kube9_operator_';

export const METRIC_NAMES = {
  info: 'kube9_operator_info',
  health: 'kube9_operator_health',
  statusWrites: 'kube9_operator_status_writes_total',
  lastStatusWrite: 'kube9_operator_last_status_write_timestamp_seconds',
  statusInterval: 'kube9_operator_status_update_interval_seconds',
  registrationAttempts: 'kube9_operator_registration_attempts_total',
  registered: 'kube9_operator_registered',
  apiKeyConfigured: 'kube9_operator_api_key_configured',
  nextRegistration: 'kube9_operator_next_registration_timestamp_seconds',
  isLeader: 'kube9_operator_is_leader',
} as const;

export const METRICS_PATH = 'metrics';

export const HEALTH_STATES = ['healthy', 'degraded', 'unhealthy'] as const;

export const STATUS_WRITE_RESULTS = ['success', 'error'] as const;
export type StatusWriteResult = (typeof STATUS_WRITE_RESULTS)[number];

/**
 * What one registration attempt came to, as `outcome` label values: a closed set, so the label
 * stays bounded whatever kube9-server answers.
 */
export const REGISTRATION_ATTEMPT_OUTCOMES = [
  'registered',
  'refused',
  'rate_limited',
  'server_error',
  'timeout',
  'network_error',
  'invalid_response',
] as const;
export type RegistrationAttemptOutcome = (typeof REGISTRATION_ATTEMPT_OUTCOMES)[number];
