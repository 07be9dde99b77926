import { Expose, Transform } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { LOG_LEVELS, LogLevelName } from '../../common/log-levels';
import {
  API_KEY_FORMAT,
  API_KEY_FORMAT_RULE,
  REREGISTRATION_INTERVAL_HOURS,
  STATUS_UPDATE_INTERVAL_SECONDS,
} from './config.constants';
import { hostname } from 'node:os';
import { OutboundProxy } from './outbound-proxy';

/** "60" -> 60; "6O", "1e3", "60.5", " 60" stay strings so the integer rule reports them. */
function toInteger({ value }: { value: unknown }) {
  return typeof value === 'string' && /^[0-9]{1,9}$/.test(value) ? Number(value) : value;
}

/** Only the words true and false are booleans; "1", "yes" or "TRUE" are reported. */
function toBoolean({ value }: { value: unknown }) {
  if (value === 'true') return true;
  if (value === 'false') return false;
  return value;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const SECRET_DATA_KEY = /^[-._a-zA-Z0-9]{1,253}$/;
const STATUS_INTERVAL_RULE = `must be a whole number of seconds from ${STATUS_UPDATE_INTERVAL_SECONDS.min} to ${STATUS_UPDATE_INTERVAL_SECONDS.max}`;
const REREGISTRATION_INTERVAL_RULE = `must be a whole number of hours from ${REREGISTRATION_INTERVAL_HOURS.min} to ${REREGISTRATION_INTERVAL_HOURS.max}`;

/**
 * The operator's whole configuration, read once from the environment (SPEC section 6).
 * Property names are camelCase; each maps to the environment variable named in @Expose.
 * A field initialiser is the default, used only when the variable is absent (an empty value counts
 * as absent, as Kubernetes renders unset optional values that way); a malformed value is an error.
 */
export class OperatorConfig {
  @Expose({ name: 'OPERATOR_NAMESPACE' })
  @IsOptional()
  @Matches(DNS_LABEL, {
    message: 'must be a Kubernetes namespace name (lowercase letters, digits and "-", at most 63 characters)',
  })
  namespace: string = 'kube9-system';

  @Expose({ name: 'PORT' })
  @Transform(toInteger)
  @IsOptional()
  @IsInt({ message: 'must be a whole number from 1 to 65535' })
  @Min(1, { message: 'must be a whole number from 1 to 65535' })
  @Max(65535, { message: 'must be a whole number from 1 to 65535' })
  port: number = 8080;

  @Expose({ name: 'LOG_LEVEL' })
  @IsOptional()
  @IsIn(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` })
  logLevel: LogLevelName = 'info';

  @Expose({ name: 'STATUS_UPDATE_INTERVAL_SECONDS' })
  @Transform(toInteger)
  @IsOptional()
  @IsInt({ message: STATUS_INTERVAL_RULE })
  @Min(STATUS_UPDATE_INTERVAL_SECONDS.min, { message: STATUS_INTERVAL_RULE })
  @Max(STATUS_UPDATE_INTERVAL_SECONDS.max, { message: STATUS_INTERVAL_RULE })
  statusUpdateIntervalSeconds: number = 60;

  @Expose({ name: 'SERVER_URL' })
  @IsOptional()
  @IsString()
  serverUrl: string = 'https://api.kube9.dev';

  @Expose({ name: 'ALLOW_INSECURE_SERVER_URL' })
  @Transform(toBoolean)
  @IsOptional()
  @IsBoolean({ message: 'must be true or false' })
  allowInsecureServerUrl: boolean = false;

  /** Used when kube9-server's answer carries no reregistrationIntervalHours (SPEC section 3). */
  @Expose({ name: 'REREGISTRATION_INTERVAL_HOURS' })
  @Transform(toInteger)
  @IsOptional()
  @IsInt({ message: REREGISTRATION_INTERVAL_RULE })
  @Min(REREGISTRATION_INTERVAL_HOURS.min, { message: REREGISTRATION_INTERVAL_RULE })
  @Max(REREGISTRATION_INTERVAL_HOURS.max, { message: REREGISTRATION_INTERVAL_RULE })
  reregistrationIntervalHours: number = 24;

  /**
   * First wait after a transient registration failure (SPEC: 5 minutes), doubling up to 12
   * times this (SPEC: 1 hour). Lower it only for local development and tests.
   */
  @Expose({ name: 'REGISTRATION_BACKOFF_BASE_SECONDS' })
  @Transform(toInteger)
  @IsOptional()
  @IsInt({ message: 'must be a whole number of seconds from 1 to 3600' })
  @Min(1, { message: 'must be a whole number of seconds from 1 to 3600' })
  @Max(3600, { message: 'must be a whole number of seconds from 1 to 3600' })
  registrationBackoffBaseSeconds: number = 300;

  @Expose({ name: 'API_KEY_SECRET_NAME' })
  @IsOptional()
  @Matches(DNS_SUBDOMAIN, { message: 'must be a Kubernetes Secret name (lowercase letters, digits, "-" and ".")' })
  apiKeySecretName: string = 'kube9-operator-config';

  @Expose({ name: 'API_KEY_SECRET_KEY' })
  @IsOptional()
  @Matches(SECRET_DATA_KEY, { message: 'must be a Secret data key (letters, digits, "-", "_" and ".")' })
  apiKeySecretKey: string = 'apiKey';

  /** The key itself for local runs without a Secret. Never printed, not even when malformed. */
  @Expose({ name: 'API_KEY' })
  @IsOptional()
  @Matches(API_KEY_FORMAT, { message: API_KEY_FORMAT_RULE })
  apiKey?: string;

  @Expose({ name: 'OPERATOR_DEPLOYMENT_NAME' })
  @IsOptional()
  @Matches(DNS_SUBDOMAIN, { message: 'must be a Kubernetes Deployment name (lowercase letters, digits, "-" and ".")' })
  deploymentName?: string;

  /** This replica's identity in the leader-election Lease (the chart sets it from the Downward API). */
  @Expose({ name: 'POD_NAME' })
  @IsOptional()
  @Matches(/^\S{1,253}$/, { message: 'must be 1 to 253 characters without white space' })
  podName: string = hostname();

  /** Take part in Lease leader election (SPEC section 9); off keeps the single-replica behaviour. */
  @Expose({ name: 'LEADER_ELECTION' })
  @Transform(toBoolean)
  @IsOptional()
  @IsBoolean({ message: 'must be true or false' })
  leaderElection: boolean = false;

  /** Path of the kubeconfig for runs outside a pod; client-node's usual lookup when absent. */
  @Expose({ name: 'KUBECONFIG' })
  @IsOptional()
  @IsString()
  kubeconfigPath?: string;

  /** Set by the kubelet in every pod; selects the in-cluster configuration. */
  @Expose({ name: 'KUBERNETES_SERVICE_HOST' })
  @IsOptional()
  @IsString()
  kubernetesServiceHost?: string;

  /** HTTPS_PROXY, HTTP_PROXY, NO_PROXY (and their lower-case names), for registration only; set by loadOperatorConfig. */
  outboundProxy: OutboundProxy = {};

  get inCluster(): boolean {
    return this.kubernetesServiceHost !== undefined;
  }
}
