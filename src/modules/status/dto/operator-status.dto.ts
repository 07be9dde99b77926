/** The status document the kube9 extension reads (SPEC section 2). */
export type OperatorMode = 'operated' | 'enabled';
export type OperatorTier = 'free' | 'pro';
export type OperatorHealth = 'healthy' | 'degraded' | 'unhealthy';

export interface OperatorStatusDto {
  mode: OperatorMode;
  tier: OperatorTier;
  version: string;
  health: OperatorHealth;
  lastUpdate: string;
  registered: boolean;
  error: string | null;
  clusterId?: string;
  apiKeyConfigured: boolean;
  namespace: string;
}
