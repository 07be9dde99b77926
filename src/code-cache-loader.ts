/*
 * The image's entry point (dist/code-cache-loader.js, the Dockerfile's CMD). It loads the
 * operator's bundle (dist/main.js, the Nest bootstrap of src/main.ts with every dependency) with
 * a V8 code cache, so that a starting process neither parses nor compiles the bundle's functions
 * again. `node dist/main.js` runs the same operator, only without the cache.
 *
 * Why not Node's own compile cache (module.enableCompileCache): Node writes its cache right
 * after compiling the bundle, before running it, so the cache holds the top level only. Every
 * module of the bundle is a function that runs once at start-up, and those functions were still
 * compiled on every start: about a third of the CPU time to the first status write (see the
 * README's footprint figures). The cache written here comes from the script after it ran, so it
 * holds every function compiled by then.
 *
 * The cache file is named by the bundle's length and CRC-32 and by V8's version and flags
 * (v8.cachedDataVersionTag), so a cache is only offered to the very bundle and Node it was made
 * for; V8 checks it again and rejects one that does not fit. It is read from dist/.compile-cache
 * (written at image build, read-only in the pod), else from the temporary directory. With no
 * usable cache, the operator starts cold and writes one to the first writable of the two, 10 s
 * after start or at exit, for the next start (later, V8 may have dropped the bytecode of
 * functions that ran only at start-up). A missing or unwritable cache changes nothing but start-up time.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { debuglog } from 'node:util';
import { cachedDataVersionTag } from 'node:v8';
import { Script } from 'node:vm';
import { crc32 } from 'node:zlib';

/** A cold start writes its cache this long after start, when start-up has compiled what it needs. */
const CACHE_WRITE_DELAY_MS = 10_000;

/** The operator's bundle (src/main.ts, bundled by scripts/bundle.js). */
const file = join(__dirname, 'main.js');
const directories = [join(__dirname, '.compile-cache'), join(tmpdir(), 'kube9-operator-compile-cache')];
/** NODE_DEBUG=kube9_code_cache says which cache was used or written. */
const debug = debuglog('kube9_code_cache');

/**
 * The cache's file name: `main-` (the operator bundle, dist/main.js), then this Node and V8 (version
 * and flags) and this bundle (length and CRC-32).
 */
function cacheNameFor(source: string): string {
  return [
    'main',
    process.version,
    process.arch,
    cachedDataVersionTag().toString(16),
    source.length.toString(16),
    crc32(source).toString(16),
  ].join('-');
}

function readCache(cacheName: string): Buffer | undefined {
  for (const directory of directories) {
    const path = join(directory, cacheName);
    if (existsSync(path)) {
      debug('reading %s', path);
      return readFileSync(path);
    }
  }
  debug('no cache for %s', cacheName);
  return undefined;
}

function writeCache(script: Script, cacheName: string): void {
  const data = script.createCachedData();
  for (const directory of directories) {
    try {
      mkdirSync(directory, { recursive: true });
      // Written aside, then renamed: a process starting meanwhile never reads half a cache.
      const partial = join(directory, `${cacheName}.${process.pid}`);
      writeFileSync(partial, data, { mode: 0o644 });
      renameSync(partial, join(directory, cacheName));
      debug('wrote %s', join(directory, cacheName));
      return;
    } catch (error) {
      // Not writable here (the image's directory is read-only): try the next one.
      debug('cannot write in %s: %s', directory, (error as NodeJS.ErrnoException).code);
    }
  }
}

/** import() inside the bundle resolves as it would in a module loaded by require(). */
function importFromBundle(specifier: string) {
  return import(specifier);
}

/**
 * Compiles the bundle with its cache. Nothing here outlives the call but the script: neither the
 * bundle's text (V8 keeps its own, wrapped, copy) nor the cache's buffer.
 */
function compile(): { script: Script; cacheName: string; cacheUsed: boolean } {
  const source = readFileSync(file, 'utf8');
  const cacheName = cacheNameFor(source);
  const cachedData = readCache(cacheName);
  const script = new Script(Module.wrap(source), {
    filename: file,
    cachedData,
    importModuleDynamically: importFromBundle,
  });
  const cacheUsed = cachedData !== undefined && !script.cachedDataRejected;
  if (cachedData !== undefined) debug(cacheUsed ? 'cache accepted' : 'cache rejected by V8');
  return { script, cacheName, cacheUsed };
}

const { script, cacheName, cacheUsed } = compile();
if (!cacheUsed) {
  // Once start-up is over, or at exit if that comes first (the image build exits right after loading).
  let written = false;
  const write = () => {
    if (!written) writeCache(script, cacheName);
    written = true;
  };
  setTimeout(write, CACHE_WRITE_DELAY_MS).unref();
  process.once('exit', write);
}

const operator = new Module(file, module);
operator.filename = file;
operator.paths = module.paths;
const run = script.runInThisContext() as (
  exports: unknown,
  require: NodeJS.Require,
  module: Module,
  filename: string,
  dirname: string,
) => void;
run.call(operator.exports, operator.exports, createRequire(file), operator, file, __dirname);
operator.loaded = true;
