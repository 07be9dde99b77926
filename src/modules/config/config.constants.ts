/** Environment variables whose values are secret: their values never appear in an error. */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set(['API_KEY']);

export interface Range {
  min: number;
  max: number;
}

/**
 * Seconds between status writes (SPEC sections 2 and 6). The upper bound keeps every reader
 * under the extension's 5-minute staleness rule; kube9-server's value is clamped into it too.
 */
export const STATUS_UPDATE_INTERVAL_SECONDS: Range = { min: 10, max: 240 };
/** Hours between re-registrations (SPEC sections 3 and 6); kube9-server's value is clamped into it. */
export const REREGISTRATION_INTERVAL_HOURS: Range = { min: 1, max: 720 };

/** The API key's format (SPEC section 3), and the one sentence that describes it. */
export const API_KEY_FORMAT = /^kdy_(prod|dev)_[a-z0-9]+$/;
export const API_KEY_FORMAT_RULE =
  'must have the form kdy_prod_… or kdy_dev_… (lowercase letters and digits after the prefix)';

/** The status ConfigMap (SPEC section 2), which Events regard when the Deployment's name is unknown. */
export const STATUS_CONFIGMAP_NAME = 'kube9-operator-status';
