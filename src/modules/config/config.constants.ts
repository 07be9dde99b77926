export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

/** Environment variables whose values are secret: their values never appear in an error. */
export const SECRET_VARIABLES: ReadonlySet<string> = new Set(['API_KEY']);
