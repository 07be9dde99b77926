/*
 * Runs the built operator as a real process, the way production does (the
 * Dockerfile's CMD: dist/code-cache-loader.js, which loads dist/main.js with its
 * code cache) but with a kubeconfig, and collects every byte it prints so tests
 * can read its JSON logs and prove that no secret leaked.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { repoRoot } from './binaries';

/**
 * Everything the operators of this test run printed, for the no-leak check: in the run's
 * control-plane directory (fresh each run), else under .cache.
 */
export const OUTPUT_LOG = path.join(
  process.env.KUBE9_TEST_CP_DIR ?? path.join(repoRoot(), '.cache'),
  'operator-output',
  `operator-output-${process.pid}.log`,
);

export interface OperatorProcess {
  child: ChildProcess;
  port: number;
  baseUrl: string;
  /** performance.now() when the process was spawned. */
  spawnedAt: number;
  /** stdout and stderr as printed so far. */
  output(): string;
  /** Parsed JSON log lines so far (lines that are not JSON are skipped). */
  logs(): Array<Record<string, unknown>>;
  exited: Promise<ExitRecord>;
  /** Sends a signal and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<ExitRecord>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface ExitRecord {
  code: number | null;
  signal: NodeJS.Signals | null;
  atMs: number;
}

/** A child process whose output is kept, and appended to OUTPUT_LOG for the no-leak check. */
export interface RecordedProcess {
  child: ChildProcess;
  spawnedAt: number;
  output(): string;
  exited: Promise<ExitRecord>;
}

/** Spawns `file` with exactly `env`, recording what it prints; killed if the test process exits. */
export function spawnRecorded(file: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string): RecordedProcess {
  const chunks: string[] = [];
  mkdirSync(path.dirname(OUTPUT_LOG), { recursive: true });
  const spawnedAt = performance.now();
  const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const collect = (data: Buffer) => {
    const text = data.toString('utf8');
    chunks.push(text);
    appendFileSync(OUTPUT_LOG, text);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<ExitRecord>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal, atMs: performance.now() });
    });
  });
  return { child, spawnedAt, output: () => chunks.join(''), exited };
}

/**
 * The image's entry point, relative to its WORKDIR and to the repository: the last word of the
 * Dockerfile's CMD. It loads the operator's bundle (dist/main.js) with its V8 code cache.
 */
export const PRODUCTION_ENTRY = 'dist/code-cache-loader.js';

/**
 * The Node flags the image runs the operator with: those between `node` and its entry point
 * (PRODUCTION_ENTRY) in the Dockerfile's CMD, so that the tests and the benches run what ships.
 */
export function productionNodeFlags(): string[] {
  const dockerfile = readFileSync(path.join(repoRoot(), 'Dockerfile'), 'utf8');
  const cmd = [...dockerfile.matchAll(/^CMD (\[.*\])$/gm)].at(-1);
  const args = cmd ? (JSON.parse(cmd[1]) as string[]) : [];
  if (!/(^|\/)node$/.test(args[0] ?? '') || args.at(-1) !== PRODUCTION_ENTRY)
    throw new Error(`Dockerfile: CMD is not ["<path>/node", <flags>..., "${PRODUCTION_ENTRY}"]: ${cmd?.[1]}`);
  return args.slice(1, -1);
}

/**
 * Starts `node <the image's flags> dist/code-cache-loader.js` (the image's CMD; or another
 * build's `entry`) with exactly `env` (plus PATH and a free PORT unless given). The environment
 * of the test process is not inherited, so nothing leaks in by accident.
 */
export async function startOperator(
  env: Record<string, string>,
  nodeFlags: string[] = productionNodeFlags(),
  entry = path.join(repoRoot(), PRODUCTION_ENTRY),
): Promise<OperatorProcess> {
  const port = env.PORT ? Number(env.PORT) : await freePort();
  const { child, spawnedAt, output, exited } = spawnRecorded(
    process.execPath,
    [...nodeFlags, entry],
    { PATH: process.env.PATH ?? '', PORT: String(port), ...env },
    repoRoot(),
  );
  return {
    child,
    port,
    spawnedAt,
    baseUrl: `http://127.0.0.1:${port}`,
    output,
    logs: () =>
      output()
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .flatMap((line) => {
          try {
            return [JSON.parse(line) as Record<string, unknown>];
          } catch {
            return [];
          }
        }),
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('operator did not exit within 15 s')), 15_000);
      });
      try {
        return await Promise.race([exited, deadline]);
      } catch (error) {
        child.kill('SIGKILL');
        throw error;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Polls `probe` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Timed out after ${timeoutMs} ms waiting for ${what}${lastError instanceof Error ? `: ${lastError.message}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* keep the text */
  }
  return { status: response.status, body };
}
