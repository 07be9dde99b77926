/*
 * Entry point of the built operator (dist/main.js). It turns on Node's on-disk
 * compile cache before loading the bundled operator (dist/bootstrap.js), so a
 * restarted process skips most of the parsing of the bundle; see the README's
 * footprint figures. Without a writable cache directory it simply starts cold.
 */
import { constants, enableCompileCache } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const candidates = [join(__dirname, '.compile-cache'), join(tmpdir(), 'kube9-operator-compile-cache')];
for (const directory of candidates) {
  if (enableCompileCache(directory).status !== constants.compileCacheStatus.FAILED) break;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
require('./bootstrap');
