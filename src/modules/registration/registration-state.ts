import { createHash } from 'node:crypto';
import { backoffDelay } from '../../common/backoff';
import { OperatorConfig } from '../config/operator-config';
import { RegistrationView } from '../status/dto/registration-view.dto';
import { RegistrationRequestDto } from './dto/registration-request.dto';
import { ServerConfigurationDto } from './dto/registration-response.dto';
import { RegistrationOutcome } from './registration-outcome';
import {
  RATE_WINDOW_MS,
  REFUSED_RETRY_MS,
  REGISTRATIONS_PER_HOUR,
  TRANSIENT_FAILURES_BEFORE_FREE,
  transientBackoff,
} from './registration.constants';
import { effectiveSettings, Settings } from './server-settings';

/**
 * Everything the operator knows about its registration; kept in the state ConfigMap so a
 * restarted operator resumes it. Times are epoch milliseconds. Never the key: only a
 * one-way fingerprint, to tell whether the key changed.
 */
export interface RegistrationState {
  keyFingerprint: string;
  /**
   * The kube9-server this state is about (SERVER_URL). A state saved for another server is not
   * resumed: a registration with one server says nothing about another. States saved before
   * this field existed lack it and are taken as the current server's.
   */
  serverUrl?: string;
  registered: boolean;
  clusterId?: string;
  consecutiveTransientFailures: number;
  refused: boolean;
  /**
   * The request kube9-server rejected with a 400 (requestFingerprint): it is sent again as soon
   * as the server URL or a value of the body differs from it, without waiting out the 24 h.
   */
  rejectedRequest?: string;
  error: string | null;
  lastAttemptAt?: number;
  lastSuccessAt?: number;
  nextAttemptAt?: number;
  serverConfiguration?: ServerConfigurationDto;
  /** Attempts within the last hour, so that no restart or key change exceeds the server's limit. */
  recentAttempts: number[];
}

/**
 * What a registration request depends on, apart from the key: the server URL and the body's
 * values, as a SHA-256 (it holds nothing secret; the hash only keeps the state short).
 */
export function requestFingerprint(serverUrl: string, body: RegistrationRequestDto): string {
  const values = [
    serverUrl,
    body.operatorVersion,
    body.clusterIdentifier,
    body.kubernetesVersion,
    body.approximateNodeCount,
  ];
  return `sha256:${createHash('sha256').update(JSON.stringify(values)).digest('hex')}`;
}

export function initialState(keyFingerprint: string, serverUrl?: string): RegistrationState {
  return {
    keyFingerprint,
    ...(serverUrl === undefined ? {} : { serverUrl }),
    registered: false,
    consecutiveTransientFailures: 0,
    refused: false,
    error: null,
    recentAttempts: [],
  };
}

/** How long before another attempt fits within 10 per sliding hour (0 = now). */
export function delayUntilAllowed(recentAttempts: number[], now: number): number {
  const inWindow = recentAttempts.filter((at) => at > now - RATE_WINDOW_MS).sort((a, b) => a - b);
  if (inWindow.length < REGISTRATIONS_PER_HOUR) return 0;
  return inWindow[inWindow.length - REGISTRATIONS_PER_HOUR] + RATE_WINDOW_MS - now;
}

/** Records an attempt that is about to be sent. */
export function withAttempt(state: RegistrationState, now: number): RegistrationState {
  const recentAttempts = [...state.recentAttempts.filter((at) => at > now - RATE_WINDOW_MS), now];
  return { ...state, lastAttemptAt: now, recentAttempts };
}

/** The operator's own settings that the answer table needs. */
export interface RegistrationPolicy {
  /** REGISTRATION_BACKOFF_BASE_SECONDS. */
  backoffBaseSeconds: number;
  /** The operator's own settings, the fallback for those kube9-server leaves out. */
  own: Settings;
}

/** The policy of a configuration; its defaults are the config module's (OperatorConfig), never a copy. */
export function registrationPolicy(
  config: Pick<
    OperatorConfig,
    'registrationBackoffBaseSeconds' | 'statusUpdateIntervalSeconds' | 'reregistrationIntervalHours'
  > = new OperatorConfig(),
): RegistrationPolicy {
  return {
    backoffBaseSeconds: config.registrationBackoffBaseSeconds,
    own: {
      statusUpdateIntervalSeconds: config.statusUpdateIntervalSeconds,
      reregistrationIntervalHours: config.reregistrationIntervalHours,
    },
  };
}

/** The "5 transient failures in a row: free tier" rule (SPEC section 3); the status asks, through the view. */
export function hasGivenUp(state: Pick<RegistrationState, 'consecutiveTransientFailures'>): boolean {
  return state.consecutiveTransientFailures >= TRANSIENT_FAILURES_BEFORE_FREE;
}

/**
 * The SPEC's answer table as a pure transition: the state after an outcome, with the time of
 * the next attempt.
 */
export function applyOutcome(
  state: RegistrationState,
  outcome: RegistrationOutcome,
  now: number,
  policy: RegistrationPolicy = registrationPolicy(),
  random: () => number = Math.random,
): RegistrationState {
  switch (outcome.kind) {
    case 'registered': {
      const configuration = outcome.response.configuration;
      const { reregistrationIntervalHours } = effectiveSettings(configuration, policy.own);
      return {
        ...state,
        registered: true,
        clusterId: outcome.response.clusterId,
        consecutiveTransientFailures: 0,
        refused: false,
        error: null,
        lastSuccessAt: now,
        serverConfiguration: configuration,
        nextAttemptAt: now + reregistrationIntervalHours * 3_600_000,
      };
    }
    case 'rejected':
    case 'refused':
      return {
        ...state,
        registered: false,
        clusterId: undefined,
        consecutiveTransientFailures: 0,
        refused: true,
        error: outcome.reason,
        nextAttemptAt: now + REFUSED_RETRY_MS,
      };
    case 'rateLimited':
      return { ...state, error: outcome.reason, nextAttemptAt: now + outcome.retryAfterMs };
    case 'transient': {
      const failures = state.consecutiveTransientFailures + 1;
      const exhausted = hasGivenUp({ consecutiveTransientFailures: failures });
      const reason = exhausted
        ? `${outcome.reason} (${failures} failures in a row: free tier until registration succeeds)`
        : outcome.reason;
      return {
        ...state,
        registered: exhausted ? false : state.registered,
        clusterId: exhausted ? undefined : state.clusterId,
        consecutiveTransientFailures: failures,
        error: reason,
        nextAttemptAt: now + backoffDelay(failures, transientBackoff(policy.backoffBaseSeconds), random),
      };
    }
  }
}

/** The part of the state the status document shows. */
export function viewOf(
  state: RegistrationState | undefined,
  keyConfigured: boolean,
  keyProblem: string | null,
): RegistrationView {
  if (!keyConfigured) {
    return { apiKeyConfigured: false, registered: false, givenUp: false, refused: false, error: keyProblem };
  }
  if (keyProblem !== null) {
    return { apiKeyConfigured: true, registered: false, givenUp: false, refused: true, error: keyProblem };
  }
  const current = state ?? initialState('');
  return {
    apiKeyConfigured: true,
    registered: current.registered,
    clusterId: current.clusterId,
    givenUp: hasGivenUp(current),
    refused: current.refused,
    error: current.error,
  };
}
