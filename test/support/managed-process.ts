/*
 * Child processes of the test cluster (control plane and worker node), each
 * with its own log file.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** How long a SIGTERMed process may take before SIGKILL. */
export const STOP_GRACE_MS = 10_000;

/** Whether a process exists (one of another user counts). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// Child processes. Every child is recorded here so that it can be killed
// when this Node process exits, however it exits. On Linux the children are
// started through `setpriv --pdeathsig KILL`, so the kernel kills them even
// when this process is SIGKILLed or crashes; they also stay in this process
// group (detached: false), so a signal to the group (Ctrl-C) reaches them.

const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveChildren) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

let setprivPath: string | null | undefined;
function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform === 'linux') {
    for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat('/usr/bin', '/bin')) {
      const candidate = path.join(dir, 'setpriv');
      if (dir && fs.existsSync(candidate)) {
        setprivPath = candidate;
        break;
      }
    }
  }
  return setprivPath;
}

export interface ManagedProcessOptions {
  /** A command the binary runs under, e.g. `['nsenter', '--net=…', '--']`. */
  prefix?: string[];
  /** Extra environment variables. */
  env?: Record<string, string>;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ManagedProcess {
  private child: ChildProcess | undefined;
  private exitPromise: Promise<ExitInfo> | undefined;
  /** Set when the running child has exited. */
  exited: ExitInfo | undefined;

  constructor(
    readonly name: string,
    private readonly binary: string,
    private readonly args: string[],
    readonly logPath: string,
    private readonly opts: ManagedProcessOptions = {},
  ) {}

  get running(): boolean {
    return this.child !== undefined && this.exited === undefined;
  }

  start(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    installExitHook();
    const log = fs.openSync(this.logPath, 'a');
    fs.writeSync(log, `\n=== ${new Date().toISOString()} ${this.binary} ${this.args.join(' ')}\n`);
    const setpriv = findSetpriv();
    const argv = [...(this.opts.prefix ?? []), this.binary, ...this.args];
    const [command, args] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', ...argv]] : [argv[0], argv.slice(1)];
    try {
      const child = spawn(command, args, {
        stdio: ['ignore', log, log],
        detached: false,
        env: this.opts.env ? { ...process.env, ...this.opts.env } : process.env,
      });
      this.child = child;
      this.exited = undefined;
      liveChildren.add(child);
      this.exitPromise = new Promise<ExitInfo>((resolve) => {
        const done = (info: ExitInfo) => {
          liveChildren.delete(child);
          if (this.child === child) this.exited = info;
          resolve(info);
        };
        child.once('exit', (code, signal) => done({ code, signal }));
        child.once('error', (err) => {
          fs.appendFileSync(this.logPath, `spawn failed: ${err.message}\n`);
          done({ code: -1, signal: null });
        });
      });
    } finally {
      fs.closeSync(log);
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs` (0: SIGKILL at once). Resolves once the process is gone. */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  async stop(graceMs = STOP_GRACE_MS): Promise<void> {
    const child = this.child;
    if (!child || !this.exitPromise || this.exited) return;
    if (graceMs <= 0) {
      child.kill('SIGKILL');
      await this.exitPromise;
      return;
    }
    child.kill('SIGTERM');
    const timer = new Promise<'timeout'>((resolve) => setTimeout(resolve, graceMs, 'timeout').unref());
    if ((await Promise.race([this.exitPromise, timer])) === 'timeout') {
      child.kill('SIGKILL');
      await this.exitPromise;
    }
  }

  /** The last lines of the log, for error messages. */
  tail(lines = 40): string {
    try {
      const text = fs.readFileSync(this.logPath, 'utf8').trimEnd().split('\n');
      return text.slice(-lines).join('\n').slice(-6000);
    } catch {
      return '(no log)';
    }
  }

  describeExit(): string {
    const e = this.exited;
    if (!e) return `${this.name} is running`;
    return `${this.name} exited (${e.signal ? `signal ${e.signal}` : `code ${e.code}`})`;
  }
}
