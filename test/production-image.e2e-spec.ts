/*
 * The production image, proven without Docker (no engine runs here). The
 * files are laid out exactly as the Dockerfile's final stage COPYs them (read
 * from the Dockerfile itself), the code cache is warmed as its build stage
 * warms it, and the stage's CMD runs in a bubblewrap sandbox shaped like the
 * pod: uid and gid 1000 (on the host too: bwrap is started through setpriv
 * when the tests run as root), PID 1 in its own PID namespace, a read-only
 * root with only /tmp writable, the Node 22 binary at /nodejs/bin/node as
 * in the distroless nodejs22 images, and nothing of this repository visible but the
 * layout at /app. The network is shared with the host, so the operator
 * reaches the test API server on 127.0.0.1 and listens on a free port instead
 * of the image's 8080.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { AppsV1Api } from '@kubernetes/client-node';
import { repoRoot } from './support/binaries';
import { chartEnvironment, chartServiceAccountKubeconfig, helmInstall } from './support/chart';
import { adminKubeConfig, createTestNamespace, deleteTestNamespace, mintToken } from './support/kube';
import { TEST_KEYS } from './support/keys';
import { freePort, getJson, spawnRecorded, waitFor } from './support/operator-process';
import { ServerSimulator } from './support/server-simulator';
import { readConfigMap, readStatus, STATUS_CONFIGMAP } from './support/status';

const ROOT = repoRoot();
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const RELEASE = 'kube9-operator';
const OPERATOR_UID = 1000;
/** The distroless images' PATH (the CMD names Node by its full path). */
const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const KUBECONFIG_DIR = '/var/run/kube9';
const RUNS_AS_ROOT = process.getuid?.() === 0;
/** The sandbox's processes as the host sees them: uid 1000 when setpriv could switch to it. */
const HOST_UID = RUNS_AS_ROOT ? OPERATOR_UID : process.getuid!();

// ---------------------------------------------------------------- the Dockerfile

interface CopyInstruction {
  from?: string;
  chown?: string;
  sources: string[];
  destination: string;
}

interface Stage {
  name?: string;
  image: string;
  /** FROM --platform=…, as written (e.g. `$BUILDPLATFORM`). */
  platform?: string;
  instructions: Array<{ keyword: string; args: string }>;
}

/** Instructions by stage: continuation lines joined, comments dropped, ARG defaults substituted into FROM. */
function readDockerfile(file: string): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (/^\s*#/.test(line)) continue;
    if (line.trimEnd().endsWith('\\')) {
      pending += `${line.trimEnd().slice(0, -1)} `;
      continue;
    }
    const joined = (pending + line).trim();
    pending = '';
    if (joined) logical.push(joined);
  }
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword, rest] = /^(\S+)\s*(.*)$/.exec(line)!;
    const upper = keyword.toUpperCase();
    if (upper === 'ARG' && stages.length === 0) {
      const [name, value = ''] = rest.split('=');
      args[name] = value;
    } else if (upper === 'FROM') {
      const words = rest.replace(/\$\{(\w+)\}/g, (_, arg: string) => args[arg] ?? '').split(/\s+/);
      const platform = words[0].startsWith('--platform=') ? words.shift()!.slice('--platform='.length) : undefined;
      const [image, , name] = words;
      stages.push({ image, name, platform, instructions: [] });
    } else {
      stages.at(-1)!.instructions.push({ keyword: upper, args: rest });
    }
  }
  return stages;
}

function instructionsOf(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

function copiesOf(stage: Stage): CopyInstruction[] {
  return instructionsOf(stage, 'COPY').map((args) => {
    if (args.startsWith('[')) throw new Error(`COPY in JSON form is not emulated: ${args}`);
    const words = args.split(/\s+/);
    const flags = words.filter((w) => w.startsWith('--'));
    const paths = words.filter((w) => !w.startsWith('--'));
    const unknown = flags.filter((f) => !f.startsWith('--from=') && !f.startsWith('--chown='));
    if (unknown.length) throw new Error(`COPY flags not emulated: ${unknown.join(' ')}`);
    const flag = (name: string) => flags.find((f) => f.startsWith(`--${name}=`))?.slice(name.length + 3);
    return { from: flag('from'), chown: flag('chown'), sources: paths.slice(0, -1), destination: paths.at(-1)! };
  });
}

function envOf(stage: Stage): Record<string, string> {
  return Object.fromEntries(
    instructionsOf(stage, 'ENV').flatMap((args) =>
      args.split(/\s+/).map((pair) => pair.split('=') as [string, string]),
    ),
  );
}

/**
 * Whether .dockerignore leaves `file` (relative to the context) out: its rules in
 * order, the last match winning, `!` re-including; a rule matching a parent
 * directory matches the file, `*` stays within one path segment, `**` does not.
 */
function dockerignored(file: string, dockerignore: string): boolean {
  const rules = dockerignore
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!');
      const pattern = path.posix.normalize(negate ? line.slice(1) : line).replace(/^\/+/, '');
      const source = pattern
        .split(/(\*\*|\*|\?)/)
        .map((part) =>
          part === '**'
            ? '.*'
            : part === '*'
              ? '[^/]*'
              : part === '?'
                ? '[^/]'
                : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
        )
        .join('');
      return { negate, regex: new RegExp(`^${source}(/.*)?$`) };
    });
  let ignored = false;
  for (const rule of rules) if (rule.regex.test(file)) ignored = !rule.negate;
  return ignored;
}

// ---------------------------------------------------------------- the sandbox

const NODE = realpathSync(path.join(ROOT, 'node_modules', '.bin', 'node'));

interface SandboxOptions {
  /** Host directory bound at /app. */
  app: string;
  /** Bind /app read-write (the build stage); read-only otherwise. */
  writableApp?: boolean;
  /** uid and gid inside the sandbox; 1000 unless emulating a root build step. */
  uid?: number;
  /** Extra read-only binds: host path to sandbox path. */
  binds?: Record<string, string>;
  env: Record<string, string>;
  command: string[];
}

/** The bwrap arguments of a pod-like sandbox: read-only root, /tmp writable, PID 1, uid 1000. */
function bwrapArgs(opts: SandboxOptions): string[] {
  const uid = String(opts.uid ?? OPERATOR_UID);
  return [
    '--unshare-user',
    '--uid',
    uid,
    '--gid',
    uid,
    '--unshare-pid',
    '--as-pid-1',
    '--die-with-parent',
    '--ro-bind',
    '/usr',
    '/usr',
    '--ro-bind',
    sandboxNode(),
    '/nodejs/bin/node',
    '--symlink',
    'usr/bin',
    '/bin',
    '--symlink',
    'usr/sbin',
    '/sbin',
    '--symlink',
    'usr/lib',
    '/lib',
    '--symlink',
    'usr/lib64',
    '/lib64',
    '--ro-bind',
    '/etc',
    '/etc',
    opts.writableApp ? '--bind' : '--ro-bind',
    opts.app,
    '/app',
    ...Object.entries(opts.binds ?? {}).flatMap(([from, to]) => ['--ro-bind', from, to]),
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--tmpfs',
    '/tmp',
    '--remount-ro',
    '/',
    '--chdir',
    '/app',
    '--clearenv',
    ...Object.entries(opts.env).flatMap(([name, value]) => ['--setenv', name, value]),
    '--',
    ...opts.command,
  ];
}

/** As root, bwrap itself is started as uid 1000 so the host sees the operator as uid 1000 too. */
function sandboxCommandLine(opts: SandboxOptions): [string, string[]] {
  return RUNS_AS_ROOT
    ? ['setpriv', [`--reuid=${OPERATOR_UID}`, `--regid=${OPERATOR_UID}`, '--clear-groups', 'bwrap', ...bwrapArgs(opts)]]
    : ['bwrap', bwrapArgs(opts)];
}

interface Sandboxed {
  child: ChildProcess;
  spawnedAt: number;
  output(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; atMs: number }>;
  /** The host PID of the sandbox's PID 1 (the command), once it has been exec'd. */
  commandPid(): Promise<number>;
}

const sandboxes = new Set<ChildProcess>();

/** Starts the sandbox; everything it prints also goes to OUTPUT_LOG for the no-leak check. */
function startSandbox(opts: SandboxOptions): Sandboxed {
  const [file, args] = sandboxCommandLine(opts);
  const { child, spawnedAt, output, exited } = spawnRecorded(file, args, {});
  sandboxes.add(child);
  void exited.then(() => sandboxes.delete(child));
  const expected = opts.command.join('\0') + '\0';
  return {
    child,
    spawnedAt,
    output,
    exited,
    commandPid: () =>
      waitFor('the sandboxed command', () => {
        const children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')
          .trim()
          .split(/\s+/)
          .filter(Boolean);
        return children.map(Number).find((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8') === expected);
      }),
  };
}

async function runSandbox(opts: SandboxOptions): Promise<{ code: number | null; output: string; ms: number }> {
  const sandbox = startSandbox(opts);
  const exit = await sandbox.exited;
  return { code: exit.code, output: sandbox.output(), ms: exit.atMs - sandbox.spawnedAt };
}

/** Sends `signal` to the sandbox's PID 1, as the kubelet does to a container's, and waits for the exit. */
async function signalAndWait(sandbox: Sandboxed, signal: NodeJS.Signals, timeoutMs = 15_000) {
  process.kill(await sandbox.commandPid(), signal);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the sandbox did not exit within ${timeoutMs} ms of ${signal}`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([sandbox.exited, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

function statusLine(pid: number, field: string): string[] {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${field}:`));
  return line!
    .slice(field.length + 1)
    .trim()
    .split(/\s+/);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// ---------------------------------------------------------------- files as the image holds them

/** Temporary directories, removed after the file's tests. */
const tempDirs: string[] = [];

/** A directory others may enter (mkdtemp makes 0700 ones), as root's directories in an image are. */
function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.push(dir);
  chmodSync(dir, 0o755);
  return dir;
}

let nodeCopy: string | undefined;

/**
 * The Node 22 binary, copied where uid 1000 can reach it: the repository may sit in a
 * directory only root can enter (CI clones into a mkdtemp folder, mode 0700).
 */
function sandboxNode(): string {
  if (!nodeCopy || !existsSync(nodeCopy)) {
    nodeCopy = path.join(tempDir('kube9-node-'), 'node');
    copyFileSync(NODE, nodeCopy);
    chmodSync(nodeCopy, 0o755);
  }
  return nodeCopy;
}

function walk(dir: string, base = dir): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return lstatSync(full).isDirectory() ? walk(full, base) : [path.relative(base, full)];
  });
}

function chownTree(dir: string, uid: number): void {
  chownSync(dir, uid, uid);
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (lstatSync(full).isDirectory()) chownTree(full, uid);
    else chownSync(full, uid, uid);
  }
}

/** `chmod -R a+rX,go-w`. */
function makeReadable(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (lstatSync(full).isDirectory()) makeReadable(full);
    else chmodSync(full, statSync(full).mode & 0o100 ? 0o755 : 0o644);
  }
}

/**
 * The code-cache stage's /app: the repository's build output, the cache warmed
 * by the stage's RUN (scripts/warm-code-cache.js, which runs the CMD with
 * PORT=0) as `warmUid` at /app, then made root's and world-readable (the final
 * stage's COPY --chown=0:0).
 */
async function buildStage(warmUid: number): Promise<string> {
  const dir = tempDir('kube9-image-build-');
  copyFileSync(path.join(ROOT, 'package.json'), path.join(dir, 'package.json'));
  cpSync(path.join(ROOT, 'dist'), path.join(dir, 'dist'), {
    recursive: true,
    filter: (src) => !src.includes('.compile-cache'),
  });
  const cache = path.join(dir, 'dist', '.compile-cache');
  mkdirSync(cache);
  if (RUNS_AS_ROOT) chownSync(cache, OPERATOR_UID, OPERATOR_UID);
  mkdirSync(path.join(dir, 'scripts'));
  copyFileSync(path.join(ROOT, 'scripts', 'warm-code-cache.js'), path.join(dir, 'scripts', 'warm-code-cache.js'));
  const warm = await runSandbox({
    app: dir,
    writableApp: true,
    uid: warmUid,
    env: { PATH: IMAGE_PATH },
    command: warmRun,
  });
  if (
    warm.code !== 0 ||
    !warm.output.includes('Invalid configuration: PORT=') ||
    !warm.output.includes('cache written')
  ) {
    throw new Error(
      `the code-cache warm-up did not stop at the configuration check (exit ${warm.code}): ${warm.output}`,
    );
  }
  if (RUNS_AS_ROOT) chownTree(cache, 0);
  makeReadable(cache);
  rmSync(path.join(dir, 'scripts'), { recursive: true });
  return dir;
}

/** The final stage's WORKDIR (/app) built from its COPY instructions. */
function finalStageLayout(stage: Stage, build: string): string {
  const workdir = instructionsOf(stage, 'WORKDIR').at(-1);
  if (workdir !== '/app')
    throw new Error(`the final stage's WORKDIR is ${workdir}; the sandbox binds the layout at /app`);
  const app = tempDir('kube9-image-app-');
  for (const copy of copiesOf(stage)) {
    // Root's, as COPY makes files without --chown: the layout here is made root's and read-only as a whole.
    if (copy.chown !== undefined && copy.chown !== '0:0')
      throw new Error(`COPY --chown=${copy.chown} into the final stage is not emulated`);
    const destination = path.join(app, path.relative('/app', path.resolve('/app', copy.destination)));
    const intoDirectory = copy.destination.endsWith('/') || copy.sources.length > 1;
    for (const source of copy.sources) {
      // The build and code-cache stages' /app are one directory here (buildStage).
      const staged = copy.from === 'build' || copy.from === 'code-cache';
      if (copy.from !== undefined && !staged) throw new Error(`COPY --from=${copy.from} is not emulated`);
      if (staged && !source.startsWith('/app/'))
        throw new Error(`COPY --from=${copy.from} of ${source}: only /app is emulated`);
      const from = staged ? path.join(build, source.slice('/app/'.length)) : path.join(ROOT, source);
      if (!existsSync(from))
        throw new Error(`COPY source ${source} does not exist in the ${copy.from ?? 'context'} (${from})`);
      const target =
        statSync(from).isDirectory() || !intoDirectory ? destination : path.join(destination, path.basename(source));
      mkdirSync(path.dirname(target), { recursive: true });
      cpSync(from, target, { recursive: true });
    }
  }
  makeReadable(app);
  return app;
}

/** A read-only directory for the sandbox holding `files`, readable by uid 1000 only. */
function secretDir(prefix: string, files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  tempDirs.push(dir);
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content, { mode: 0o400 });
  if (RUNS_AS_ROOT) chownTree(dir, OPERATOR_UID);
  return dir;
}

// ---------------------------------------------------------------- the tests

const stages = readDockerfile(path.join(ROOT, 'Dockerfile'));
const finalStage = stages.at(-1)!;
const buildStageDefinition = stages.find((s) => s.name === 'build')!;
const codeCacheStage = stages.find((s) => s.name === 'code-cache')!;
/** The code-cache stage's RUN, in exec form (its base has no shell). */
const warmRun = JSON.parse(instructionsOf(codeCacheStage, 'RUN').at(-1)!) as string[];
/** The image's environment: the node images' PATH, then the final stage's ENV. */
const imageEnv = { PATH: IMAGE_PATH, ...envOf(finalStage) };
const cmd = JSON.parse(instructionsOf(finalStage, 'CMD').at(-1)!) as string[];
let app: string;
let appWithoutCache: string;

beforeAll(async () => {
  try {
    execFileSync('bwrap', ['--version']);
  } catch {
    throw new Error('bwrap (Debian package bubblewrap) is needed for this test: apt-get install bubblewrap');
  }
  expect(execFileSync(NODE, ['--version'], { encoding: 'utf8' })).toMatch(/^v22\./);
  for (const file of ['code-cache-loader.js', 'main.js']) {
    if (!existsSync(path.join(ROOT, 'dist', file))) throw new Error(`dist/${file} is missing: run npm run build first`);
  }
  const build = await buildStage(OPERATOR_UID);
  app = finalStageLayout(finalStage, build);
  appWithoutCache = tempDir('kube9-image-nocache-');
  cpSync(app, appWithoutCache, { recursive: true, filter: (src) => !src.includes('.compile-cache') });
}, 60_000);

afterEach(() => {
  for (const child of sandboxes) child.kill('SIGKILL');
});

afterAll(() => {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the Dockerfile', () => {
  it('final stage: distroless Node 22 for the target, uid 1000, CMD /nodejs/bin/node --no-opt --max-old-space-size=64 dist/code-cache-loader.js, port 8080, no HEALTHCHECK', () => {
    expect(finalStage.image).toBe('gcr.io/distroless/nodejs22-debian12');
    expect(finalStage.platform).toBe('$TARGETPLATFORM');
    // The bundle is built once, on the build machine's platform, with npm (which the runtime lacks).
    expect(buildStageDefinition.image).toMatch(/^node:22(-|$)/);
    expect(buildStageDefinition.platform).toBe('$BUILDPLATFORM');
    expect(codeCacheStage.image).toBe(finalStage.image);
    expect(codeCacheStage.platform).toBe('$TARGETPLATFORM');
    expect(instructionsOf(finalStage, 'USER')).toEqual(['1000:1000']);
    expect(instructionsOf(finalStage, 'ENTRYPOINT')).toEqual(['[]']);
    expect(cmd).toEqual(['/nodejs/bin/node', '--no-opt', '--max-old-space-size=64', 'dist/code-cache-loader.js']);
    expect(instructionsOf(finalStage, 'EXPOSE')).toEqual(['8080']);
    expect(instructionsOf(finalStage, 'HEALTHCHECK')).toEqual([]);
  });

  it('build context: .dockerignore keeps every file a COPY names and leaves the rest out', () => {
    const dockerignore = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8');
    const copied = stages
      .flatMap(copiesOf)
      .filter((copy) => copy.from === undefined)
      .flatMap((copy) => copy.sources)
      .flatMap((source) =>
        statSync(path.join(ROOT, source)).isDirectory()
          ? walk(path.join(ROOT, source)).map((file) => path.posix.join(source, file))
          : [source],
      );

    expect(copied).toEqual(
      expect.arrayContaining([
        'package.json',
        'package-lock.json',
        'tsconfig.json',
        'tsconfig.build.json',
        'scripts/bundle.js',
        'src/main.ts',
        'src/code-cache-loader.ts',
      ]),
    );
    expect(copied.filter((file) => dockerignored(file, dockerignore))).toEqual([]);
    for (const left of [
      'node_modules/.package-lock.json',
      'dist/main.js',
      'test/no-leak.e2e-spec.ts',
      '.git/HEAD',
      '.cache/bin/current',
      'helm/kube9-operator/Chart.yaml',
      'scripts/test.sh',
    ]) {
      expect([left, dockerignored(left, dockerignore)]).toEqual([left, true]);
    }
  });

  it("code-cache stage: warms the code cache with the CMD's Node and flags, as uid 1000, the final stage's user", () => {
    const steps = codeCacheStage.instructions.map((i) => `${i.keyword} ${i.args}`);
    // With the CMD's flags: the code cache is used only under the V8 flags that wrote it.
    expect(warmRun).toEqual([cmd[0], 'scripts/warm-code-cache.js', ...cmd.slice(1)]);
    const warm = steps.findIndex((step) => step.startsWith('RUN ['));

    expect(warm).toBeGreaterThan(-1);
    expect(
      steps
        .slice(0, warm)
        .filter((step) => step.startsWith('USER '))
        .at(-1),
    ).toBe('USER 1000:1000');
  });

  it('ships package.json and the bundle with its warmed cache, its out-of-bundle data and its SBOM lockfile; no node_modules', () => {
    const files = walk(app).sort();

    expect(readdirSync(app).sort()).toEqual(['dist', 'package.json']);
    expect(files.filter((file) => !file.startsWith('dist/.compile-cache/'))).toEqual([
      'dist/code-cache-loader.js',
      'dist/code-cache-loader.js.map',
      ...readdirSync(path.join(ROOT, 'dist', 'lazy'), { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)))
        .sort(),
      'dist/main.js',
      'dist/main.js.map',
      // The bundled npm packages as an npm lockfile, for the SBOM (scripts/bundle.js).
      'dist/sbom/package-lock.json',
      'package.json',
    ]);
    expect(files.filter((file) => file.startsWith('dist/.compile-cache/'))).toEqual([
      expect.stringMatching(/^dist\/\.compile-cache\/main-v22\.\d+\.\d+-x64-[0-9a-f]+-[0-9a-f]+-[0-9a-f]+$/),
    ]);
  });
});

describe('the sandbox is shaped like the pod', () => {
  it('runs as uid and gid 1000; / and /app are read-only, /tmp is writable; no node_modules to resolve', async () => {
    const probe = `
      const fs = require('node:fs');
      const writes = {};
      for (const dir of ['/', '/app', '/app/dist', '/app/dist/.compile-cache', '/usr/local/bin', '/etc', '/tmp']) {
        try { fs.writeFileSync(dir.replace(/\\/$/, '') + '/write-probe', 'x'); writes[dir] = 'written'; } catch (e) { writes[dir] = e.code; }
      }
      let nest;
      try { require.resolve('@nestjs/core'); nest = 'resolved'; } catch (e) { nest = e.code; }
      console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), pid: process.pid, writes, nest }));`;

    const run = await runSandbox({ app, env: imageEnv, command: ['node', '-e', probe] });
    const id = await runSandbox({ app, env: imageEnv, command: ['id', '-u'] });
    const touch = await runSandbox({ app, env: imageEnv, command: ['touch', '/app/probe'] });

    expect(run.code).toBe(0);
    expect(JSON.parse(run.output)).toEqual({
      uid: OPERATOR_UID,
      gid: OPERATOR_UID,
      // setpriv --clear-groups; a non-root runner's own groups show up as the overflow gid.
      groups: RUNS_AS_ROOT ? [OPERATOR_UID] : expect.arrayContaining([OPERATOR_UID]),
      pid: 1,
      writes: {
        '/': 'EROFS',
        '/app': 'EROFS',
        '/app/dist': 'EROFS',
        '/app/dist/.compile-cache': 'EROFS',
        '/usr/local/bin': 'EROFS',
        '/etc': 'EROFS',
        '/tmp': 'written',
      },
      nest: 'MODULE_NOT_FOUND',
    });
    expect(id.output.trim()).toBe(String(OPERATOR_UID));
    expect(touch.code).not.toBe(0);
    expect(touch.output).toContain('Read-only file system');
  });
});

describe("free tier: KUBECONFIG of the chart's ServiceAccount", () => {
  let namespace: string;
  let kubeDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    namespace = await createTestNamespace('image-free');
    await helmInstall(namespace, RELEASE, { statusUpdateIntervalSeconds: '10' });
    kubeDir = secretDir('kube9-image-kubeconfig-', {
      kubeconfig: readFileSync(await chartServiceAccountKubeconfig(namespace, RELEASE), 'utf8'),
    });
    env = { ...imageEnv, ...(await chartEnvironment(namespace, RELEASE)), KUBECONFIG: `${KUBECONFIG_DIR}/kubeconfig` };
  });

  afterAll(() => deleteTestNamespace(namespace));

  it('publishes operated / free, healthy, as uid 1000 and PID 1, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const options: SandboxOptions = {
      app,
      binds: { [kubeDir]: KUBECONFIG_DIR },
      env: { ...env, PORT: String(port) },
      command: cmd,
    };
    const [file, args] = sandboxCommandLine(options);
    console.log(`[production-image] sandbox: ${file} ${args.join(' ')}`);
    const sandbox = startSandbox(options);
    const pid = await sandbox.commandPid();

    const status = await waitFor('the status ConfigMap', () => readStatus(namespace), 10_000, 20);
    const firstStatusMs = performance.now() - sandbox.spawnedAt;

    expect(status).toMatchObject({
      mode: 'operated',
      tier: 'free',
      health: 'healthy',
      registered: false,
      error: null,
      version: VERSION,
      namespace,
    });
    expect((await readConfigMap(namespace, STATUS_CONFIGMAP))!.metadata!.ownerReferences).toEqual([
      expect.objectContaining({ kind: 'Deployment', name: RELEASE }),
    ]);
    expect((await getJson(`http://127.0.0.1:${port}/api/v1/status`)).body).toEqual(await readStatus(namespace));
    expect((await getJson(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    expect(statusLine(pid, 'Uid')).toEqual(Array(4).fill(String(HOST_UID)));
    expect(statusLine(pid, 'Gid')).toEqual(Array(4).fill(String(HOST_UID)));
    expect(statusLine(pid, 'NSpid')).toEqual([String(pid), '1']);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toBe(`${cmd.join('\0')}\0`);
    console.log(`[production-image] free tier: first status ${Math.round(firstStatusMs)} ms after spawn`);

    const signalledAt = performance.now();
    const exit = await signalAndWait(sandbox, 'SIGTERM');

    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.atMs - signalledAt).toBeLessThan(10_000);
    expect(sandbox.output()).toContain('SIGTERM received, shutting down');
  });

  it('starts and answers /healthz with the warmed cache and without it (the time of each is reported, not compared)', async () => {
    const startToHealthy = async (layout: string) => {
      const port = await freePort();
      const sandbox = startSandbox({
        app: layout,
        binds: { [kubeDir]: KUBECONFIG_DIR },
        env: { ...env, PORT: String(port) },
        command: cmd,
      });
      await waitFor(
        '/healthz',
        async () => ((await getJson(`http://127.0.0.1:${port}/healthz`)).status === 200 ? true : undefined),
        10_000,
        10,
      );
      const ms = performance.now() - sandbox.spawnedAt;
      expect((await signalAndWait(sandbox, 'SIGTERM')).code).toBe(0);
      return ms;
    };
    const warm: number[] = [];
    const cold: number[] = [];
    for (let i = 0; i < 3; i++) {
      warm.push(await startToHealthy(app));
      cold.push(await startToHealthy(appWithoutCache));
    }

    // Reported, not asserted: this includes the first calls to the API server.
    console.log(
      `[production-image] spawn to /healthz 200, median of 3: warmed read-only cache ${Math.round(median(warm))} ms, ` +
        `without ${Math.round(median(cold))} ms; warm ${warm.map(Math.round).join('/')}, cold ${cold.map(Math.round).join('/')}`,
    );
  });
});

describe('pro tier: the in-cluster configuration, as the kubelet mounts it', () => {
  let simulator: ServerSimulator;
  let namespace: string;
  let serviceAccountDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    simulator = new ServerSimulator({ validKeys: [TEST_KEYS.chart] });
    const serverUrl = await simulator.start();
    namespace = await createTestNamespace('image-pro');
    await helmInstall(namespace, RELEASE, { apiKey: TEST_KEYS.chart, serverUrl, allowInsecureServerUrl: 'true' });
    const deployment = await adminKubeConfig()
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: RELEASE, namespace });
    const serviceAccount = deployment.spec!.template.spec!.serviceAccountName!;
    const cluster = adminKubeConfig().getCurrentCluster()!;
    serviceAccountDir = secretDir('kube9-image-sa-', {
      token: await mintToken(namespace, serviceAccount),
      'ca.crt': Buffer.from(cluster.caData!, 'base64').toString('utf8'),
      namespace,
    });
    const server = new URL(cluster.server);
    env = {
      ...imageEnv,
      ...(await chartEnvironment(namespace, RELEASE)),
      KUBERNETES_SERVICE_HOST: server.hostname,
      KUBERNETES_SERVICE_PORT: server.port,
    };
  });

  afterAll(async () => {
    await simulator?.stop();
    await deleteTestNamespace(namespace);
  });

  it("registers (enabled / pro, healthy) with the key from the chart's Secret, and exits 0 on SIGTERM", async () => {
    const port = await freePort();
    const sandbox = startSandbox({
      app,
      binds: { [serviceAccountDir]: SERVICE_ACCOUNT_DIR },
      env: { ...env, PORT: String(port) },
      command: cmd,
    });
    const pid = await sandbox.commandPid();

    const status = await waitFor(
      'a registered status',
      async () => {
        const current = await readStatus(namespace);
        return current?.registered === true ? current : undefined;
      },
      15_000,
      100,
    );

    expect(status).toMatchObject({
      mode: 'enabled',
      tier: 'pro',
      health: 'healthy',
      registered: true,
      error: null,
      apiKeyConfigured: true,
      version: VERSION,
    });
    expect(simulator.requests).toHaveLength(1);
    expect(simulator.requests[0].problems).toEqual([]);
    const pem = Buffer.from(adminKubeConfig().getCurrentCluster()!.caData!, 'base64').toString('utf8');
    expect((simulator.requests[0].body as { clusterIdentifier: string }).clusterIdentifier).toBe(
      `sha256:${createHash('sha256').update(new X509Certificate(pem).raw).digest('hex')}`,
    );
    expect(statusLine(pid, 'Uid')).toEqual(Array(4).fill(String(HOST_UID)));

    const exit = await signalAndWait(sandbox, 'SIGTERM');

    expect(exit).toMatchObject({ code: 0, signal: null });
  });
});

describe('the code cache warmed in the build stage', () => {
  const loadOnly = { ...imageEnv, PORT: '0', NODE_DEBUG: 'kube9_code_cache' };

  it('is used read-only: the cache for dist/main.js is accepted and nothing is written', async () => {
    const run = await runSandbox({ app, env: loadOnly, command: cmd });

    expect(run.output).toMatch(/reading \/app\/dist\/\.compile-cache\/main-v22\S+\n/);
    expect(run.output).toContain('cache accepted');
    expect(run.output).not.toContain('wrote');
  });

  it('loads the bundle faster than a cold start', async () => {
    const warm: number[] = [];
    const cold: number[] = [];
    for (let i = 0; i < 7; i++) {
      warm.push((await runSandbox({ app, env: { ...imageEnv, PORT: '0' }, command: cmd })).ms);
      cold.push((await runSandbox({ app: appWithoutCache, env: { ...imageEnv, PORT: '0' }, command: cmd })).ms);
    }

    console.log(
      `[production-image] load to exit (PORT=0), 7 runs each: warmed read-only cache min ${Math.round(Math.min(...warm))} ms, median ${Math.round(median(warm))} ms; ` +
        `without (cold, cache written to /tmp) min ${Math.round(Math.min(...cold))} ms, median ${Math.round(median(cold))} ms`,
    );
    // The fastest run of each: other load on the machine only ever adds time.
    expect(Math.min(...warm)).toBeLessThan(Math.min(...cold));
  });

  it('is not used with other V8 flags: the operator starts cold and writes its own cache to /tmp', async () => {
    const run = await runSandbox({
      app,
      env: loadOnly,
      command: [cmd[0], '--max-semi-space-size=2', ...cmd.slice(1)],
    });

    expect(run.output).toContain('no cache for main-v22');
    expect(run.output).toContain('cannot write in /app/dist/.compile-cache: EROFS');
    expect(run.output).toMatch(/wrote \/tmp\/kube9-operator-compile-cache\/main-v22\S+\n/);
  });
});
