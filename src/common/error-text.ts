import { redactSecrets } from './secret-redaction';

export const MAX_ERROR_LENGTH = 500;

/** Short, single-line, never secret, at most 500 characters (longer ones cut and ended with "..."). */
export function cleanError(error: string): string {
  const text = redactSecrets(error).replace(/\s+/g, ' ').trim();
  return text.length <= MAX_ERROR_LENGTH ? text : `${text.slice(0, MAX_ERROR_LENGTH - 3)}...`;
}
