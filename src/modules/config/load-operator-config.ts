import { instanceToPlain, plainToInstance } from 'class-transformer';
import { ValidationError, validateSync } from 'class-validator';
import { SECRET_VARIABLES } from './config.constants';
import { OperatorConfig } from './operator-config';
import { outboundProxyFrom } from './outbound-proxy';

/** A configuration problem: the message names the variable and the rule, never a secret value. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Builds the validated configuration from an environment; throws ConfigError on the first problem. */
export function loadOperatorConfig(env: Env): OperatorConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const config = plainToInstance(OperatorConfig, present, {
    excludeExtraneousValues: true,
    exposeDefaultValues: true,
  });
  const [first] = validateSync(config, { skipMissingProperties: false, stopAtFirstError: true });
  if (first) throw configErrorFrom(first, present);
  checkServerUrl(config, present);
  config.outboundProxy = outboundProxyFrom(present);
  return config;
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
