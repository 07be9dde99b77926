import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { ServerConfigurationDto } from './dto/registration-response.dto';
import { RegistrationState } from './registration-state';
import { CLUSTER_ID_FORMAT } from './registration.constants';

/**
 * The registration state as the ConfigMap `kube9-operator-state` keeps it: JSON, with times
 * as ISO strings so an administrator can read when the next attempt is due.
 */
const TIME_FIELDS = ['lastAttemptAt', 'lastSuccessAt', 'nextAttemptAt'] as const;

/** A saved state this version can trust, or what is wrong with it (never the text itself). */
export type SavedStateReading = { state: RegistrationState } | { problem: string };

export function toJson(state: RegistrationState): string {
  const plain: Record<string, unknown> = { ...state, recentAttempts: state.recentAttempts.map(iso) };
  for (const field of TIME_FIELDS) {
    const value = state[field];
    if (value !== undefined) plain[field] = iso(value);
  }
  return JSON.stringify(plain);
}

/**
 * Reads a saved state. Every field this version writes must be there with its type; fields it
 * does not know are ignored (a newer version may add some). The problem names fields and the
 * rule they break, never a value: the ConfigMap could hold anything, a key pasted by mistake
 * included, and JSON.parse's own message quotes the text, so it is not passed on.
 */
export function parseSavedState(text: string): SavedStateReading {
  let plain: unknown;
  try {
    plain = JSON.parse(text);
  } catch {
    return { problem: 'it is not valid JSON' };
  }
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain))
    return { problem: 'it is not a JSON object' };
  const saved = plain as Record<string, unknown>;
  const problems: string[] = [];
  const expect = (field: string, ok: boolean, rule: string) => {
    if (!ok) problems.push(`"${field}" ${field in saved ? 'is not' : 'is missing, expected'} ${rule}`);
  };

  expect('keyFingerprint', typeof saved.keyFingerprint === 'string', 'a string');
  expect('registered', typeof saved.registered === 'boolean', 'a boolean');
  expect('refused', typeof saved.refused === 'boolean', 'a boolean');
  expect(
    'consecutiveTransientFailures',
    Number.isInteger(saved.consecutiveTransientFailures) && (saved.consecutiveTransientFailures as number) >= 0,
    'a whole number of 0 or more',
  );
  if (saved.serverUrl !== undefined) expect('serverUrl', typeof saved.serverUrl === 'string', 'a string');
  if (saved.rejectedRequest !== undefined)
    expect('rejectedRequest', typeof saved.rejectedRequest === 'string', 'a string');
  expect('error', saved.error === null || typeof saved.error === 'string', 'a string or null');
  expect(
    'recentAttempts',
    Array.isArray(saved.recentAttempts) && saved.recentAttempts.every(isTime),
    'a list of ISO times',
  );
  for (const field of TIME_FIELDS) {
    if (saved[field] !== undefined) expect(field, isTime(saved[field]), 'an ISO time');
  }
  if (saved.clusterId !== undefined) {
    expect(
      'clusterId',
      typeof saved.clusterId === 'string' && CLUSTER_ID_FORMAT.test(saved.clusterId),
      'cls_ followed by 12 to 64 letters or digits',
    );
  } else if (saved.registered === true) {
    problems.push('"registered" is true without a "clusterId"');
  }
  const configuration =
    saved.serverConfiguration === undefined ? undefined : configurationOf(saved.serverConfiguration);
  if (typeof configuration === 'string') problems.push(`"serverConfiguration" ${configuration}`);
  if (problems.length > 0) return { problem: problems.join('; ') };

  return {
    state: {
      keyFingerprint: saved.keyFingerprint as string,
      ...(saved.serverUrl === undefined ? {} : { serverUrl: saved.serverUrl as string }),
      registered: saved.registered as boolean,
      clusterId: saved.clusterId as string | undefined,
      consecutiveTransientFailures: saved.consecutiveTransientFailures as number,
      refused: saved.refused as boolean,
      ...(saved.rejectedRequest === undefined ? {} : { rejectedRequest: saved.rejectedRequest as string }),
      error: saved.error as string | null,
      recentAttempts: (saved.recentAttempts as string[]).map((at) => Date.parse(at)),
      serverConfiguration: configuration as ServerConfigurationDto | undefined,
      ...Object.fromEntries(
        TIME_FIELDS.filter((field) => saved[field] !== undefined).map((field) => [
          field,
          Date.parse(saved[field] as string),
        ]),
      ),
    },
  };
}

/** The saved server configuration passes the same rules as a fresh answer; or the rule it breaks. */
function configurationOf(value: unknown): ServerConfigurationDto | string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'is not an object';
  const configuration = plainToInstance(ServerConfigurationDto, value);
  const [error] = validateSync(configuration);
  if (!error) return configuration;
  return `breaks a rule: ${Object.values(error.constraints ?? {})[0] ?? `${error.property} is not valid`}`;
}

function isTime(value: unknown): boolean {
  return typeof value === 'string' && Number.isFinite(Date.parse(value));
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
