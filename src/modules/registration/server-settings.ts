import { Range, REREGISTRATION_INTERVAL_HOURS, STATUS_UPDATE_INTERVAL_SECONDS } from '../config/config.constants';
import { ServerConfigurationDto } from './dto/registration-response.dto';

/** The settings kube9-server may give: the operator's own configuration is the fallback. */
export interface Settings {
  statusUpdateIntervalSeconds: number;
  reregistrationIntervalHours: number;
}

export interface EffectiveSettings extends Settings {
  /** One sentence per server value that lay outside its range and was clamped into it. */
  clamped: string[];
}

/**
 * SPEC section 3: each setting kube9-server sends wins, clamped into the operator's range
 * (never a failed registration); a setting it leaves out, or no answer at all, falls back to
 * the operator's own.
 */
export function effectiveSettings(server: ServerConfigurationDto | undefined, own: Settings): EffectiveSettings {
  const clamped: string[] = [];
  const pick = (name: keyof Settings, range: Range): number => {
    const value = server?.[name];
    if (value === undefined) return own[name];
    const within = Math.min(range.max, Math.max(range.min, value));
    if (within !== value)
      clamped.push(`kube9-server sent ${name}=${value}, outside ${range.min}..${range.max}; using ${within}`);
    return within;
  };
  return {
    statusUpdateIntervalSeconds: pick('statusUpdateIntervalSeconds', STATUS_UPDATE_INTERVAL_SECONDS),
    reregistrationIntervalHours: pick('reregistrationIntervalHours', REREGISTRATION_INTERVAL_HOURS),
    clamped,
  };
}
