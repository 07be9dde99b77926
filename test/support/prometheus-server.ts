/*
 * A real Prometheus server for the tests (built by test/controlplane/build.sh from its pinned Go
 * module; test/support/promtool.ts names the binary): its own configuration, data directory and loopback port, queried through
 * its HTTP API. stop() ends the process and removes the directory.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { ManagedProcess } from './managed-process';
import { freePort } from './operator-process';
import { PROMETHEUS } from './promtool';

export interface PrometheusServer {
  url: string;
  dir: string;
  process: ManagedProcess;
  /** GET /api/v1/<endpoint>?<params>: the `data` of a success, else throws with Prometheus' error. */
  api<T = any>(endpoint: string, params?: Record<string, string>): Promise<T>;
  /** An instant query's samples: their labels and value. */
  query(promql: string): Promise<{ labels: Record<string, string>; value: number }[]>;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** The configuration (prometheus.yml), as an object. */
  config: Record<string, unknown>;
  /** Rule files to write beside it, by file name (the config's rule_files names them). */
  ruleFiles?: Record<string, unknown>;
  /** Files the configuration refers to (a CA, a token), by file name. */
  files?: Record<string, string>;
  timeoutMs?: number;
}

/** Starts Prometheus in a new directory under `parent`; resolves once /-/ready answers 200. */
export async function startPrometheus(parent: string, opts: PrometheusOptions): Promise<PrometheusServer> {
  const dir = await fsp.mkdtemp(path.join(parent, 'prometheus-'));
  for (const [name, content] of Object.entries(opts.files ?? {})) {
    await fsp.writeFile(path.join(dir, name), content, { mode: 0o600 });
  }
  for (const [name, content] of Object.entries(opts.ruleFiles ?? {})) {
    await fsp.writeFile(path.join(dir, name), yaml.dump(content));
  }
  const configPath = path.join(dir, 'prometheus.yml');
  await fsp.writeFile(configPath, yaml.dump(opts.config));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const process = new ManagedProcess(
    'prometheus',
    PROMETHEUS,
    [
      `--config.file=${configPath}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=info',
    ],
    path.join(dir, 'prometheus.log'),
    // Relative paths in the configuration are the directory's.
    { prefix: ['env', '-C', dir] },
  );
  process.start();
  const stop = async () => {
    await process.stop(5_000);
    await fsp.rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  for (;;) {
    if (process.exited) {
      const log = fs.readFileSync(process.logPath, 'utf8').slice(-3000);
      await stop();
      throw new Error(`${process.describeExit()} (built by test/controlplane/build.sh prometheus?):\n${log}`);
    }
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
    if (ready?.status === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Prometheus not ready after ${opts.timeoutMs ?? 30_000} ms: ${process.tail()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }

  const api = async <T>(endpoint: string, params: Record<string, string> = {}): Promise<T> => {
    const response = await fetch(`${url}/api/v1/${endpoint}?${new URLSearchParams(params).toString()}`, {
      signal: AbortSignal.timeout(10_000),
    });
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${endpoint} failed: ${body.error ?? response.status}`);
    return body.data;
  };
  return {
    url,
    dir,
    process,
    api,
    async query(promql) {
      const data = await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>('query', {
        query: promql,
      });
      return data.result.map((r) => ({ labels: r.metric, value: Number(r.value[1]) }));
    },
    stop,
  };
}
