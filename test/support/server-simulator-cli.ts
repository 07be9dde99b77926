/**
 * Runs the kube9-server simulator on its own, for the local demo.
 *
 *   node dist-test/test/support/server-simulator-cli.js [options]
 *
 * Prints `SERVER_URL=<url>` once listening (preceded by `CA_CERT=<file>` when
 * it made its own certificate), and stops on Ctrl-C or SIGTERM.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateTestTls, ServerSimulator, SimulatorOptions } from './server-simulator';

const USAGE = `Usage: server-simulator-cli [options]

Options (each also read from the environment variable shown; flags win):
  --port N                      KUBE9_SIM_PORT                 port, 0 = any free port (default 0)
  --host H                      KUBE9_SIM_HOST                 address to listen on (default 127.0.0.1)
  --https                       KUBE9_SIM_HTTPS=true           serve https with a generated test CA; prints CA_CERT=<file>
  --tls-cert FILE --tls-key FILE  KUBE9_SIM_TLS_CERT / _TLS_KEY  serve https with this certificate instead
  --valid-key K (repeatable)    KUBE9_SIM_VALID_KEYS=a,b       keys that register (default: any well-formed key)
  --revoked-key K (repeatable)  KUBE9_SIM_REVOKED_KEYS=a,b     keys answered 401 INVALID_API_KEY
  --expired-key K (repeatable)  KUBE9_SIM_EXPIRED_KEYS=a,b     keys answered 401 API_KEY_EXPIRED
  --status-interval S           KUBE9_SIM_STATUS_UPDATE_INTERVAL_SECONDS   configuration sent on success (default 60)
  --reregistration-hours H      KUBE9_SIM_REREGISTRATION_INTERVAL_HOURS    configuration sent on success (default 24)
  --rate-limit N                KUBE9_SIM_RATE_LIMIT_PER_HOUR  register attempts per cluster per hour (default 10)
  --verbose                     KUBE9_SIM_VERBOSE=true         one line per request (never the key)
  --help

Keys given as flags are visible in the process list; prefer the environment.`;

class UsageError extends Error {}

interface CliSettings {
  options: SimulatorOptions;
  https: boolean;
  tlsFiles?: { cert: string; key: string };
  verbose: boolean;
}

function readSettings(argv: string[], env: NodeJS.ProcessEnv): CliSettings | 'help' {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      https: { type: 'boolean' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'valid-key': { type: 'string', multiple: true },
      'revoked-key': { type: 'string', multiple: true },
      'expired-key': { type: 'string', multiple: true },
      'status-interval': { type: 'string' },
      'reregistration-hours': { type: 'string' },
      'rate-limit': { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';

  const list = (flag: string[] | undefined, name: string) =>
    flag ??
    env[name]
      ?.split(',')
      .map((k) => k.trim())
      .filter((k) => k !== '');
  const integer = (flag: string | undefined, name: string, min: number): number | undefined => {
    const raw = flag ?? env[name];
    if (raw === undefined) return undefined;
    if (!/^\d+$/.test(raw) || Number(raw) < min) throw new UsageError(`${name} must be an integer of at least ${min}`);
    return Number(raw);
  };
  const flag = (value: boolean | undefined, name: string): boolean => {
    if (value !== undefined) return value;
    const raw = env[name];
    if (raw === undefined || raw === '' || raw === 'false') return false;
    if (raw === 'true') return true;
    throw new UsageError(`${name} must be true or false`);
  };

  const tlsCert = values['tls-cert'] ?? env.KUBE9_SIM_TLS_CERT;
  const tlsKey = values['tls-key'] ?? env.KUBE9_SIM_TLS_KEY;
  if ((tlsCert === undefined) !== (tlsKey === undefined)) {
    throw new UsageError('KUBE9_SIM_TLS_CERT and KUBE9_SIM_TLS_KEY must be given together');
  }
  const statusUpdateIntervalSeconds = integer(values['status-interval'], 'KUBE9_SIM_STATUS_UPDATE_INTERVAL_SECONDS', 1);
  const reregistrationIntervalHours = integer(
    values['reregistration-hours'],
    'KUBE9_SIM_REREGISTRATION_INTERVAL_HOURS',
    1,
  );

  return {
    options: {
      port: integer(values.port, 'KUBE9_SIM_PORT', 0),
      host: values.host ?? env.KUBE9_SIM_HOST,
      validKeys: list(values['valid-key'], 'KUBE9_SIM_VALID_KEYS'),
      revokedKeys: list(values['revoked-key'], 'KUBE9_SIM_REVOKED_KEYS'),
      expiredKeys: list(values['expired-key'], 'KUBE9_SIM_EXPIRED_KEYS'),
      rateLimitPerHour: integer(values['rate-limit'], 'KUBE9_SIM_RATE_LIMIT_PER_HOUR', 1),
      configuration: {
        statusUpdateIntervalSeconds: statusUpdateIntervalSeconds ?? 60,
        reregistrationIntervalHours: reregistrationIntervalHours ?? 24,
      },
    },
    https: flag(values.https, 'KUBE9_SIM_HTTPS'),
    tlsFiles: tlsCert !== undefined && tlsKey !== undefined ? { cert: tlsCert, key: tlsKey } : undefined,
    verbose: flag(values.verbose, 'KUBE9_SIM_VERBOSE'),
  };
}

async function main(): Promise<number> {
  let settings: CliSettings | 'help';
  try {
    settings = readSettings(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}\n`);
    return 2;
  }
  if (settings === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }

  let caDir: string | undefined;
  const options = settings.options;
  if (settings.tlsFiles) {
    options.tls = { cert: readFileSync(settings.tlsFiles.cert), key: readFileSync(settings.tlsFiles.key) };
  } else if (settings.https) {
    const tls = generateTestTls();
    caDir = mkdtempSync(join(tmpdir(), 'kube9-sim-ca-'));
    const caFile = join(caDir, 'ca.crt');
    writeFileSync(caFile, tls.caCert);
    options.tls = { cert: tls.cert, key: tls.key };
    process.stdout.write(`CA_CERT=${caFile}\n`);
  }
  if (settings.verbose) {
    options.onRequest = (r) => {
      const problems = r.problems.length > 0 ? ` problems: ${r.problems.join('; ')}` : '';
      process.stdout.write(
        `${new Date(r.at).toISOString()} ${r.method} ${r.path} -> ${r.answeredStatus || 'no answer'}${problems}\n`,
      );
    };
  }

  const simulator = new ServerSimulator(options);
  const url = await simulator.start();
  process.stdout.write(`SERVER_URL=${url}\n`);

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  await simulator.stop();
  if (caDir) rmSync(caDir, { recursive: true, force: true });
  process.stderr.write(`stopped on ${signal}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`server simulator failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
