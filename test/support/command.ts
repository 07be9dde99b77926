import { execFile } from 'node:child_process';

export interface CommandResult {
  /** The exit code; -1 when the command could not start or was killed. */
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command and resolves with its exit code and output; never rejects for a non-zero
 * exit (look at `code`). Asynchronous, so a server in the same process keeps answering it.
 */
export function runCommand(
  file: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: opts.cwd, env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
        const code = !e ? 0 : typeof e.code === 'number' ? e.code : -1;
        resolve({ code, stdout, stderr: e && code === -1 ? `${stderr}${e.message}` : stderr });
      },
    );
  });
}
