/*
 * The operator's Nest bootstrap: validate the configuration, create the app, shut down on SIGTERM
 * or SIGINT, listen. scripts/bundle.js bundles it with every dependency into dist/main.js; the
 * image starts that bundle through dist/code-cache-loader.js (src/code-cache-loader.ts), which
 * loads it with a V8 code cache.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { JsonLogger } from './common/json-logger';
import { ConfigError } from './modules/config/load-operator-config';
import { readOperatorConfigFromEnvironment } from './modules/config/read-environment';
import { OperatorConfig } from './modules/config/operator-config';
import { publishInvalidConfiguration } from './modules/status/invalid-configuration.status';

/** SIGTERM to exit: stop schedules, write a last status, close HTTP; forced after this long. */
const SHUTDOWN_DEADLINE_MS = 9_000;

/**
 * The validated configuration; an invalid one is first written to the status ConfigMap as
 * unhealthy (within 5 s, SPEC section 2), then logged in one line, and the process exits 1.
 */
async function configOrExit(): Promise<OperatorConfig> {
  try {
    return readOperatorConfigFromEnvironment();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const published = await publishInvalidConfiguration(error);
    process.stderr.write(
      `${JSON.stringify({ level: 'error', time: new Date().toISOString(), message: `Invalid configuration: ${error.message}; ${published}`, context: 'Bootstrap' })}\n`,
    );
    process.exit(1);
  }
}

async function bootstrap(): Promise<void> {
  const config = await configOrExit();
  const logger = new JsonLogger(config.logLevel);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), {
    logger,
    abortOnError: false,
  });
  // Express announces itself in X-Powered-By, and its weak ETags are its fingerprint (and of no
  // use on a live document served with no-store): the port tells no one what runs it.
  app.disable('x-powered-by');
  app.disable('etag');
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.log(`${signal} received, shutting down`, 'Bootstrap');
    setTimeout(() => {
      logger.error(`Shutdown took longer than ${SHUTDOWN_DEADLINE_MS} ms; exiting`, undefined, 'Bootstrap');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error(`Shutdown failed: ${String(error)}`, undefined, 'Bootstrap');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  await app.listen(config.port, '0.0.0.0');
  logger.log(`Listening on port ${config.port} in namespace ${config.namespace}`, 'Bootstrap');
}

bootstrap().catch((error: unknown) => {
  process.stderr.write(
    `${JSON.stringify({ level: 'fatal', time: new Date().toISOString(), message: `Start-up failed: ${error instanceof Error ? error.message : String(error)}`, context: 'Bootstrap' })}\n`,
  );
  process.exit(1);
});
