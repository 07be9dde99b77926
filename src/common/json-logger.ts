import { ConsoleLogger, LogLevel } from '@nestjs/common';
import { LogLevelName } from './log-levels';
import { redactSecrets } from './secret-redaction';

const LEVELS_FROM: Record<LogLevelName, LogLevel[]> = {
  debug: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'],
  info: ['fatal', 'error', 'warn', 'log'],
  warn: ['fatal', 'error', 'warn'],
  error: ['fatal', 'error'],
};

/** Nest's start-up chatter (one line per module and route): kept, but at debug. */
const CHATTY_CONTEXTS = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer']);

/** Nest's names for levels, as a cluster's log pipeline expects to read them. */
const LEVEL_NAME: Record<string, string> = { log: 'info', verbose: 'debug' };

/**
 * One JSON object per line ({level, time, message, context}) for the cluster's log
 * collector. Every line passes through the secret redaction, so a registered secret
 * (the API key) cannot reach the log even through an error message of a library.
 */
export class JsonLogger extends ConsoleLogger {
  constructor(level: LogLevelName) {
    super({ json: true, logLevels: LEVELS_FROM[level], colors: false });
  }

  protected override printMessages(
    messages: unknown[],
    context = '',
    logLevel: LogLevel = 'log',
    writeStreamType?: 'stdout' | 'stderr',
    errorStack?: unknown,
  ): void {
    if (logLevel === 'log' && CHATTY_CONTEXTS.has(context)) {
      if (!this.isLevelEnabled('debug')) return;
      logLevel = 'debug';
    }
    for (const message of messages) {
      const entry: Record<string, unknown> = {
        level: LEVEL_NAME[logLevel] ?? logLevel,
        time: new Date().toISOString(),
        message: redact(message),
      };
      if (context) entry.context = context;
      if (errorStack) entry.stack = redact(errorStack);
      process[writeStreamType ?? 'stdout'].write(`${JSON.stringify(entry)}\n`);
    }
  }
}

function redact(value: unknown): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (value instanceof Error) return redactSecrets(value.message);
  if (value !== null && typeof value === 'object') return JSON.parse(redactSecrets(JSON.stringify(value)));
  return value;
}
