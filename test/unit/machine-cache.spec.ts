/*
 * The per-machine cache of test/support/machine-cache.sh (what build.sh and images.sh keep
 * outside the clone), with a small file standing for a built tool: an entry is taken only for
 * its own key, a damaged or partial one is found, removed with one line and stored again, and
 * `clean` empties it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

const SCRIPT = path.join(__dirname, '..', 'support', 'machine-cache.sh');

let dir: string;
let cache: string;
let work: string;

/** Runs `commands` in bash with the library sourced; its status, stdout and stderr. */
function run(commands: string) {
  const r = spawnSync('bash', ['-c', `set -euo pipefail; source "${SCRIPT}"; ${commands}`], {
    env: { ...process.env, KUBE9_MACHINE_CACHE: cache },
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const keyOf = (inputs: string) => run(`printf '%s' '${inputs}' | mc_key`).stdout.trim();
/** Stores work/built/tool (content `content`) under `key`. */
function store(key: string, content: string) {
  writeFileSync(path.join(work, 'built', 'tool'), content);
  return run(`mc_store tools tool-v1 ${key} 'inputs of ${content}' "${work}/built" tool`);
}
/** Takes the entry of `key` into work/taken; the tool's content when it was taken. */
function take(key: string) {
  rmSync(path.join(work, 'taken'), { recursive: true, force: true });
  const r = run(`mc_take tools tool-v1 ${key} "${work}/taken" tool`);
  const file = path.join(work, 'taken', 'tool');
  return { ...r, content: r.status === 0 && existsSync(file) ? readFileSync(file, 'utf8') : undefined };
}
const entries = () => (existsSync(path.join(cache, 'tools')) ? readdirSync(path.join(cache, 'tools')) : []);

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'kube9-machine-cache-'));
  cache = path.join(dir, 'cache');
  work = path.join(dir, 'work');
  execFileSync('mkdir', ['-p', path.join(work, 'built')]);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the per-machine cache', () => {
  it('gives back what was stored under the same key, checked, and keeps its inputs', () => {
    const key = keyOf('go1.26 amd64 go.sum A');
    expect(key).toMatch(/^[0-9a-f]{64}$/);
    expect(store(key, 'binary A').status).toBe(0);

    expect(take(key)).toMatchObject({ status: 0, content: 'binary A', stderr: '' });
    expect(entries()).toEqual([`tool-v1-${key}`]);
    const entry = path.join(cache, 'tools', `tool-v1-${key}`);
    expect(readFileSync(path.join(entry, 'INPUTS'), 'utf8')).toBe('inputs of binary A\n');
    expect(readFileSync(path.join(entry, 'SHA256SUMS'), 'utf8')).toMatch(/^[0-9a-f]{64} {2}tool\n$/);
  });

  it('misses for another key: nothing built from other inputs is taken', () => {
    store(keyOf('go.sum A'), 'binary A');

    const other = take(keyOf('go.sum B'));
    expect(other.status).toBe(1);
    expect(other.content).toBeUndefined();
    expect(other.stderr).toBe('');
    expect(existsSync(path.join(work, 'taken', 'tool'))).toBe(false);
  });

  it('finds a damaged entry (an interrupted copy), removes it with one line, and takes the one stored again', () => {
    const key = keyOf('go.sum A');
    store(key, 'binary A, the whole of it');
    truncateSync(path.join(cache, 'tools', `tool-v1-${key}`, 'tool'), 6);

    const damaged = take(key);
    expect(damaged.status).toBe(1);
    expect(damaged.content).toBeUndefined();
    expect(damaged.stderr.trim().split('\n')).toEqual([
      `machine cache: tools/tool-v1-${key.slice(0, 12)}… is damaged (a file does not match SHA256SUMS): removed; building it again`,
    ]);
    expect(entries()).toEqual([]);

    store(key, 'binary A, built again');
    expect(take(key)).toMatchObject({ status: 0, content: 'binary A, built again', stderr: '' });
  });

  it('finds an entry without its checksums or with another key inside', () => {
    const key = keyOf('go.sum A');
    store(key, 'binary A');
    rmSync(path.join(cache, 'tools', `tool-v1-${key}`, 'SHA256SUMS'));
    expect(take(key).stderr).toContain('is damaged (no SHA256SUMS)');
    expect(entries()).toEqual([]);

    store(key, 'binary A');
    writeFileSync(path.join(cache, 'tools', `tool-v1-${key}`, 'KEY'), `${keyOf('go.sum B')}\n`);
    expect(take(key)).toMatchObject({ status: 1, content: undefined });
    expect(entries()).toEqual([]);
  });

  it('keeps the first of two stores of one key, and leaves no temporary directory', () => {
    const key = keyOf('go.sum A');
    store(key, 'binary A');
    store(key, 'binary A again');

    expect(take(key).content).toBe('binary A');
    expect(entries()).toEqual([`tool-v1-${key}`]);
  });

  it('`clean` empties it', () => {
    store(keyOf('go.sum A'), 'binary A');
    const r = spawnSync('bash', [SCRIPT, 'clean'], {
      env: { ...process.env, KUBE9_MACHINE_CACHE: cache },
      encoding: 'utf8',
    });

    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^machine cache ${cache} emptied \\(.+\\)\\n$`));
    expect(existsSync(cache)).toBe(false);
  });
});
