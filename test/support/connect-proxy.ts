/*
 * A corporate HTTPS proxy for the tests: the npm `proxy` package's CONNECT proxy, run as a
 * process of its own, listening on one given address (loopback, or the host end of a node's
 * network; never every address) and letting through only one user and password. What it prints
 * (the package's own debug lines) is kept: the CONNECTs it saw, and what an administrator of
 * such a proxy could read.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './binaries';
import { waitFor } from './operator-process';

/**
 * The proxy's process: `createProxy` from the package on an http.Server at PROXY_HOST, with
 * Basic credentials compared to PROXY_USER and PROXY_PASSWORD; prints its port once listening.
 */
const PROXY_MAIN = `
import * as http from 'node:http';
const { createProxy } = await import(process.env.PROXY_MODULE);
const expected = 'Basic ' + Buffer.from(process.env.PROXY_USER + ':' + process.env.PROXY_PASSWORD).toString('base64');
const server = createProxy(http.createServer());
server.authenticate = async (req) => req.headers['proxy-authorization'] === expected;
server.listen(0, process.env.PROXY_HOST, () => console.log('listening on port ' + server.address().port));
`;

export interface ConnectProxyOptions {
  /** The one address it listens on. */
  host: string;
  user: string;
  password: string;
}

export class ConnectProxy {
  private child?: ChildProcess;
  private output = '';
  /** Known once started. */
  port = 0;

  constructor(private readonly opts: ConnectProxyOptions) {}

  async start(): Promise<void> {
    const module = pathToFileURL(path.join(repoRoot(), 'node_modules', 'proxy', 'dist', 'proxy.js')).href;
    // An explicit environment: no proxy variable and no extra CA of this machine reaches it.
    this.child = spawn(process.execPath, ['--input-type=module', '--eval', PROXY_MAIN], {
      env: {
        PATH: process.env.PATH ?? '',
        DEBUG: 'proxy*',
        PROXY_MODULE: module,
        PROXY_HOST: this.opts.host,
        PROXY_USER: this.opts.user,
        PROXY_PASSWORD: this.opts.password,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (data: Buffer) => (this.output += data.toString('utf8'));
    this.child.stdout!.on('data', collect);
    this.child.stderr!.on('data', collect);
    const child = this.child;
    this.port = await waitFor(
      `the proxy to listen on ${this.opts.host}`,
      () => {
        if (child.exitCode !== null) throw new Error(`the proxy exited (${child.exitCode}):\n${this.output}`);
        const match = /listening on port (\d+)/.exec(this.output);
        return match ? Number(match[1]) : undefined;
      },
      15_000,
    );
  }

  /** The CONNECT requests it received (authorised or not), as "host:port". */
  connects(): string[] {
    return [...this.output.matchAll(/CONNECT (\S+) HTTP\/1\.1/g)].map((match) => match[1]);
  }

  /** Everything it printed: what a proxy's administrator could see. */
  log(): string {
    return this.output;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}
