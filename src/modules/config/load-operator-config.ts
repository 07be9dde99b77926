import { instanceToPlain, plainToInstance } from 'class-transformer';
import { ValidationError, validateSync } from 'class-validator';
import { SECRET_VARIABLES } from './config.constants';
import { OperatorConfig } from './operator-config';
import { outboundProxyFrom } from './outbound-proxy';

/** Where the status ConfigMap can still be written when the configuration is invalid. */
export interface StatusTarget {
  namespace: string;
  deploymentName?: string;
  inCluster: boolean;
  kubeconfigPath?: string;
}

/**
 * A configuration problem: the message names the variable and the rule, never a secret value.
 * `statusTarget` is set when the variables that say where the status goes are valid themselves.
 */
export class ConfigError extends Error {
  statusTarget?: StatusTarget;

  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The properties that say where the status ConfigMap goes. */
const TARGET_PROPERTIES = ['namespace', 'deploymentName', 'kubeconfigPath', 'kubernetesServiceHost'];

type Env = Record<string, string | undefined>;

/** Builds the validated configuration from an environment; throws ConfigError on the first problem. */
export function loadOperatorConfig(env: Env): OperatorConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const config = plainToInstance(OperatorConfig, present, {
    excludeExtraneousValues: true,
    exposeDefaultValues: true,
  });
  try {
    const [first] = validateSync(config, { skipMissingProperties: false, stopAtFirstError: true });
    if (first) throw configErrorFrom(first, present);
    checkServerUrl(config, present);
    config.outboundProxy = outboundProxyFrom(present);
  } catch (error) {
    if (error instanceof ConfigError) error.statusTarget = statusTargetOf(config);
    throw error;
  }
  return config;
}

/** Where the status goes, if every variable that says so is valid. */
function statusTargetOf(config: OperatorConfig): StatusTarget | undefined {
  const problems = validateSync(config, { skipMissingProperties: false });
  if (problems.some((problem) => TARGET_PROPERTIES.includes(problem.property))) return undefined;
  const { namespace, deploymentName, inCluster, kubeconfigPath } = config;
  return { namespace, deploymentName, inCluster, kubeconfigPath };
}

function configErrorFrom(error: ValidationError, env: Env): ConfigError {
  const variable = variableOf(error.property);
  const rule = Object.values(error.constraints ?? {})[0] ?? 'is invalid';
  return new ConfigError(variable, `${describe(variable, env)} ${rule}`);
}

function checkServerUrl(config: OperatorConfig, env: Env): void {
  const allowed = config.allowInsecureServerUrl
    ? 'an https:// URL (or http:// while ALLOW_INSECURE_SERVER_URL=true)'
    : 'an https:// URL (http:// only with ALLOW_INSECURE_SERVER_URL=true, for local development)';
  let url: URL;
  try {
    url = new URL(config.serverUrl);
  } catch {
    throw new ConfigError('SERVER_URL', `${describe('SERVER_URL', env)} must be ${allowed}`);
  }
  const secure = url.protocol === 'https:';
  const insecureAllowed = url.protocol === 'http:' && config.allowInsecureServerUrl;
  if ((!secure && !insecureAllowed) || url.username || url.password || url.search || url.hash) {
    throw new ConfigError(
      'SERVER_URL',
      `${describe('SERVER_URL', env)} must be ${allowed}, without credentials, query or fragment`,
    );
  }
}

/** `NAME="value"`, or just `NAME` for a secret (its value is never printed). */
function describe(variable: string, env: Env): string {
  if (SECRET_VARIABLES.has(variable)) return `${variable} (value hidden)`;
  return `${variable}=${JSON.stringify(env[variable] ?? '')}`;
}

/** The environment variable behind a property, from the class's own @Expose names. */
function variableOf(property: string): string {
  return variableNames().get(property) ?? property;
}

let propertyToVariable: Map<string, string> | undefined;

function variableNames(): Map<string, string> {
  if (!propertyToVariable) {
    const labelled = Object.fromEntries(Object.keys(new OperatorConfig()).map((key) => [key, key]));
    const plain = instanceToPlain(Object.assign(new OperatorConfig(), labelled), { excludeExtraneousValues: true });
    propertyToVariable = new Map(Object.entries(plain).map(([variable, property]) => [String(property), variable]));
  }
  return propertyToVariable;
}
