/*
 * Prometheus' own tools: promtool from Debian's `prometheus` package
 * (test/node/install-packages.sh), to check and unit-test the chart's alerting rules and to lint
 * a /metrics scrape; and the Prometheus server built from its pinned Go module by
 * test/controlplane/build.sh (Debian's has no Kubernetes service discovery), for
 * test/support/prometheus-server.ts. KUBE9_TEST_PROMTOOL and KUBE9_TEST_PROMETHEUS override
 * their paths.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { repoRoot } from './binaries';

export const PROMTOOL = process.env.KUBE9_TEST_PROMTOOL ?? 'promtool';
export const PROMETHEUS =
  process.env.KUBE9_TEST_PROMETHEUS ?? path.join(repoRoot(), '.cache', 'bin', 'current', 'prometheus');

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs promtool with `args`, `input` on its stdin; never throws for a non-zero exit. */
export function promtool(args: string[], input?: string): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'ENOENT'
          ? new Error(`${PROMTOOL} is not installed (run test/node/install-packages.sh: Debian's prometheus package)`)
          : err,
      ),
    );
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}
