/**
 * Values that must never be printed. The registration module registers the API key
 * here as soon as it reads it; the logger and every error text built for the status
 * document pass through redactSecrets.
 */
const secrets = new Set<string>();

export const REDACTED = '[redacted]';

export function registerSecret(value: string | undefined): void {
  if (value && value.length >= 4) secrets.add(value);
}

export function redactSecrets(text: string): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join(REDACTED);
  return out;
}
