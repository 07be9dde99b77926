import { HEALTH_STATES } from './metrics.constants';

/** The part of the status document the metrics show (structurally a subset of OperatorStatusDto). */
export interface ServedStatus {
  version: string;
  mode: string;
  tier: string;
  health: (typeof HEALTH_STATES)[number];
  registered: boolean;
  apiKeyConfigured: boolean;
}

export interface StatusMetricValues {
  /** The one series of kube9_operator_info (value 1). */
  info: { version: string; mode: string; tier: string };
  /** kube9_operator_health: 1 on the current state, 0 on the others, every state present. */
  health: Array<{ state: (typeof HEALTH_STATES)[number]; value: 0 | 1 }>;
  registered: 0 | 1;
  apiKeyConfigured: 0 | 1;
}

/**
 * SPEC section 7 from the status document this replica serves: the metrics say what the status
 * says, so the two can never tell different stories. Labels take only closed sets and the
 * operator's own version; never the error text, the clusterId or anything from the key.
 */
export function statusMetricValues(status: ServedStatus): StatusMetricValues {
  return {
    info: { version: status.version, mode: status.mode, tier: status.tier },
    health: HEALTH_STATES.map((state) => ({ state, value: state === status.health ? 1 : 0 })),
    registered: status.registered ? 1 : 0,
    apiKeyConfigured: status.apiKeyConfigured ? 1 : 0,
  };
}
