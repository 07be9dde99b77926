import { cleanError } from '../../common/error-text';
import { OperatorStatusDto } from './dto/operator-status.dto';
import { RegistrationView } from './dto/registration-view.dto';
import { REGISTRATION_PENDING_ERROR } from './status.constants';

export interface StatusFacts {
  registration: RegistrationView;
  /** Why the latest status write to the Kubernetes API failed; null when it succeeded. */
  kubernetesError: string | null;
  /** Why the configuration is invalid (SPEC section 2): unhealthy, and the operator exits. */
  configurationError?: string;
  version: string;
  namespace: string;
  now: Date;
}

/** The whole status document from the operator's state: SPEC section 2, row by row. */
export function buildStatusDocument(facts: StatusFacts): OperatorStatusDto {
  const { registration } = facts;
  const tierState = tierFor(registration);
  const problem = facts.configurationError ?? facts.kubernetesError;
  const health = problem ? 'unhealthy' : tierState.health;
  const error = problem ?? tierState.error;
  const document: OperatorStatusDto = {
    mode: tierState.pro ? 'enabled' : 'operated',
    tier: tierState.pro ? 'pro' : 'free',
    version: facts.version,
    health,
    lastUpdate: facts.now.toISOString(),
    registered: tierState.registered,
    error: error === null ? null : cleanError(error),
    apiKeyConfigured: registration.apiKeyConfigured,
    namespace: facts.namespace,
  };
  if (tierState.registered && registration.clusterId) document.clusterId = registration.clusterId;
  return document;
}

interface TierState {
  pro: boolean;
  registered: boolean;
  health: 'healthy' | 'degraded';
  error: string | null;
}

function tierFor(registration: RegistrationView): TierState {
  const why = registration.error ?? REGISTRATION_PENDING_ERROR;
  if (!registration.apiKeyConfigured) {
    const keyUnknown = registration.error !== null;
    return { pro: false, registered: false, health: keyUnknown ? 'degraded' : 'healthy', error: registration.error };
  }
  if (registration.refused || registration.givenUp) {
    return { pro: false, registered: false, health: 'degraded', error: why };
  }
  if (registration.registered) {
    const failing = registration.error !== null;
    return { pro: true, registered: true, health: failing ? 'degraded' : 'healthy', error: registration.error };
  }
  return { pro: true, registered: false, health: 'degraded', error: why };
}

/** A change the extension would notice: published at once instead of at the next tick. */
export function differsForReaders(a: OperatorStatusDto | undefined, b: OperatorStatusDto): boolean {
  if (!a) return true;
  return (
    a.mode !== b.mode ||
    a.tier !== b.tier ||
    a.health !== b.health ||
    a.registered !== b.registered ||
    a.error !== b.error ||
    a.clusterId !== b.clusterId ||
    a.apiKeyConfigured !== b.apiKeyConfigured
  );
}
