// Warms the operator's V8 code cache in the image's code-cache stage (see the
// Dockerfile), where there is no shell: runs `<this Node> <args>` with PORT=0,
// which fails the configuration check right after every module of the bundle
// has run; dist/code-cache-loader.js writes the cache on that exit (see
// src/code-cache-loader.ts). Fails the build unless a cache for this
// architecture was written.
//
//   node scripts/warm-code-cache.js --no-opt --max-old-space-size=64 dist/code-cache-loader.js
'use strict';
const { spawnSync } = require('node:child_process');
const { readdirSync } = require('node:fs');
const { join } = require('node:path');

const args = process.argv.slice(2);
const run = spawnSync(process.execPath, args, { env: { ...process.env, PORT: '0' }, stdio: 'inherit' });
const directory = join(process.cwd(), 'dist', '.compile-cache');
const written = readdirSync(directory).filter((name) => name.startsWith(`main-${process.version}-${process.arch}-`));
if (written.length !== 1) {
  console.error(
    `warm-code-cache: expected one cache for Node ${process.version} ${process.arch} in ${directory} after ` +
      `\`${args.join(' ')}\` (exit ${run.status}), found ${JSON.stringify(readdirSync(directory))}`,
  );
  process.exit(1);
}
console.log(`warm-code-cache: ${process.arch} cache written, ${written[0]}`);
