// Bundles the compiled operator (tsc output in dist/tsc, which carries the
// decorator metadata Nest's injection needs) into dist/main.js (src/main.ts, the
// Nest bootstrap, with every dependency), and the image's small entry point
// dist/code-cache-loader.js that loads it with a V8 code cache.
// Why: @kubernetes/client-node's index loads every API group and all ~2,700
// models; bundled with tree-shaking, start-up and resident memory drop by
// about a half (see bench/operator-footprint.ts and the README).
// Packages Nest and Terminus load only if present stay external.
const esbuild = require('esbuild');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const optional = [
  '@nestjs/microservices',
  '@nestjs/microservices/*',
  '@nestjs/websockets',
  '@nestjs/websockets/*',
  '@nestjs/platform-fastify',
  '@nestjs/typeorm',
  '@nestjs/mongoose',
  '@nestjs/sequelize',
  '@mikro-orm/*',
  '@grpc/*',
  '@prisma/client',
  'typeorm',
  'mongoose',
  'sequelize',
  'class-transformer/storage',
  '@fastify/*',
  'cache-manager',
  'ioredis',
  'kafkajs',
  'mqtt',
  'nats',
  'amqplib',
  'amqp-connection-manager',
];

const common = {
  bundle: true,
  platform: 'node',
  target: 'node22',
  format: 'cjs',
  keepNames: true,
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
};

// NestJS 12 ships ES modules that call createRequire(import.meta.url); in a CommonJS
// bundle import.meta is empty, so it is given the bundle's own file URL.
const importMetaUrl = {
  define: { 'import.meta.url': '__kube9_import_meta_url' },
  banner: { js: 'var __kube9_import_meta_url = require("node:url").pathToFileURL(__filename).href;' },
};

/**
 * Rewrites every non-ASCII character of the bundle as a \\uXXXX escape. A few
 * dependencies (validator's locale patterns) carry non-ASCII regular expressions,
 * and a single such character makes V8 hold the whole 5 MB source as a two-byte
 * string: twice the memory. \\uXXXX means the same inside strings, templates,
 * regular expressions and identifiers, the only places esbuild leaves them.
 */
function asciiOnly(file) {
  const source = fs.readFileSync(file, 'utf8');
  const escaped = source.replace(
    /[\u0080-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  if (escaped !== source) fs.writeFileSync(file, escaped);
}

/**
 * Work that a dependency does when it is imported, which the operator never uses, moved to
 * its first use. Each rewrite names the file it applies to and the exact text it replaces,
 * which must occur once;
 * the build fails if that text is gone (a new version of the package), so a rewrite is
 * revisited rather than silently skipped. To measure what a rewrite saves
 * (bench/operator-footprint.ts), KUBE9_BUNDLE_EAGER lists the names to leave out (comma-separated,
 * or `all`).
 */
const lazyRewrites = [
  {
    name: 'nest-date-format',
    // Nest's logger modules each build an Intl.DateTimeFormat when they are imported, for the
    // timestamp of its coloured console format. That touches ICU's locale data: about 7 MiB of
    // resident memory. Our JsonLogger prints ISO times and never asks for that format, so the
    // formatter is built on its first use instead.
    file: /@nestjs[\\/]common[\\/]services[\\/](console-)?logger\.service\.js$/,
    replace: [['const dateTimeFormatter = new Intl.DateTimeFormat(', 'const dateTimeFormatter = lazyDateTimeFormat(']],
    append:
      'function lazyDateTimeFormat(locales, options) {\n' +
      '  let formatter;\n' +
      '  return { format: (date) => (formatter ??= new Intl.DateTimeFormat(locales, options)).format(date) };\n' +
      '}\n',
  },
  {
    name: 'class-validator-phone-number',
    // class-validator loads libphonenumber-js with its full metadata (a 157 kB JSON table) when
    // it is imported, for its isPhoneNumber check, which the operator's configuration never uses;
    // it is loaded on the first such check instead.
    file: /class-validator[\\/]cjs[\\/]decorator[\\/]string[\\/]IsPhoneNumber\.js$/,
    replace: [
      [
        'const max_1 = require("libphonenumber-js/max");',
        'let libphonenumber;\nconst max_1 = { get parsePhoneNumber() { return (libphonenumber ??= require("libphonenumber-js/max")).parsePhoneNumber; } };',
      ],
    ],
  },
  // Node defines its fetch classes (FormData, Headers, Request, Response, fetch) lazily: the
  // first touch of one of these globals loads and compiles Node's own copy of undici, about
  // 2.4 MB of heap that stays (issue 11: -2.9 MiB idle RSS). axios touches them when it is
  // imported; registration runs axios's fetch adapter on the undici package's fetch, Request and
  // Response (RegistrationClient), so Node's copy is never needed.
  {
    name: 'axios-fetch-adapter',
    // axios builds its default fetch adapter when it is imported, probing the globals by
    // constructing a Request and a Response; it is built on its first call instead (never: the
    // registration client's adapter is built from its own env). An adapter built from an env that
    // gives Request and Response no longer reads the globals' as defaults.
    file: /axios[\\/]lib[\\/]adapters[\\/]fetch\.js$/,
    replace: [
      ['const adapter = getFetch();', 'const adapter = (config) => getFetch()(config);'],
      [
        'Request: globalObject.Request,',
        "Request: env && utils.hasOwnProp(env, 'Request') ? undefined : globalObject.Request,",
      ],
      [
        'Response: globalObject.Response,',
        "Response: env && utils.hasOwnProp(env, 'Response') ? undefined : globalObject.Response,",
      ],
    ],
  },
  {
    name: 'axios-form-data',
    // axios reads globalThis.FormData when it is imported, for its isFormData check; it is read
    // on the first check instead (the first request that has a body).
    file: /axios[\\/]lib[\\/]utils\.js$/,
    replace: [
      [
        "const FormDataCtor = typeof G.FormData !== 'undefined' ? G.FormData : undefined;",
        "let globalFormData;\nconst formDataCtor = () => (globalFormData ??= [typeof G.FormData !== 'undefined' ? G.FormData : undefined])[0];",
      ],
      [
        'if (FormDataCtor && thing instanceof FormDataCtor) return true;',
        'const FormDataCtor = formDataCtor();\n  if (FormDataCtor && thing instanceof FormDataCtor) return true;',
      ],
    ],
  },
];

const lazyImports = {
  name: 'lazy-imports',
  setup(build) {
    const eager = (process.env.KUBE9_BUNDLE_EAGER ?? '').split(',');
    for (const rewrite of lazyRewrites) {
      if (eager.includes('all') || eager.includes(rewrite.name)) continue;
      build.onLoad({ filter: rewrite.file }, (args) => {
        let contents = fs.readFileSync(args.path, 'utf8');
        for (const [eager, lazy] of rewrite.replace) {
          if (contents.split(eager).length !== 2)
            throw new Error(`${args.path}: "${eager}" is not there once; revisit lazyRewrites in scripts/bundle.js`);
          contents = contents.replace(eager, lazy);
        }
        if (rewrite.append) contents += `\n${rewrite.append}`;
        return { contents, loader: 'js', resolveDir: path.dirname(args.path) };
      });
    }
  },
};

/**
 * Data that the operator never uses but its dependencies require only inside functions, kept
 * out of dist/main.js as files beside it (dist/lazy/): V8 keeps a bundle's whole source text
 * in its heap, so every byte of data in it costs memory in every process, used or not. Each such
 * require is left to run time (the bundle's require resolves from dist/), and the file is copied.
 * iconv-lite's code-page tables (body-parser loads them only to decode a request body in such a
 * charset) and undici's llhttp WebAssembly parsers (compiled on the first HTTP/1 request
 * through undici, which only registration makes).
 */
const outOfBundleFiles = [
  { name: 'iconv-lite', importer: /iconv-lite[\\/]encodings[\\/]dbcs-data\.js$/, filter: /^\.\/tables\/[\w-]+\.json$/ },
  {
    name: 'undici',
    importer: /undici[\\/]lib[\\/]dispatcher[\\/]client-h1\.js$/,
    filter: /^\.\.\/llhttp\/llhttp(_simd)?-wasm\.js$/,
  },
];
const copiedOutOfBundle = new Map();

const outOfBundle = {
  name: 'out-of-bundle',
  setup(build) {
    for (const entry of outOfBundleFiles) {
      build.onResolve({ filter: entry.filter }, (args) => {
        if (!entry.importer.test(args.importer)) return undefined;
        const source = path.join(args.resolveDir, args.path);
        const target = `./lazy/${entry.name}/${path.basename(source)}`;
        copiedOutOfBundle.set(path.join(root, 'dist', target), source);
        return { path: target, external: true };
      });
    }
  },
};

function copyOutOfBundle() {
  // As with lazyRewrites: a new version of a package that no longer matches fails the build.
  for (const entry of outOfBundleFiles) {
    if (
      ![...copiedOutOfBundle.keys()].some((target) =>
        target.includes(`${path.sep}lazy${path.sep}${entry.name}${path.sep}`),
      )
    ) {
      // Printed here: the build's catch below only sets the exit code.
      console.error(
        `nothing of ${entry.name} was kept out of the bundle; revisit outOfBundleFiles in scripts/bundle.js`,
      );
      throw new Error(`${entry.name}: nothing kept out of the bundle`);
    }
  }
  fs.rmSync(path.join(root, 'dist', 'lazy'), { recursive: true, force: true });
  for (const [target, source] of copiedOutOfBundle) {
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(source, target);
  }
}

/**
 * What the image ships of npm, for its SBOM: the image has no node_modules, so
 * the build writes, from esbuild's metafile (every file the bundles hold, and
 * the files kept out of them in dist/lazy), an npm lockfile (v3) that lists
 * exactly the bundled packages, each entry copied from package-lock.json:
 * dist/sbom/package-lock.json. An SBOM generator's npm lockfile cataloger
 * (syft's javascript-lock-cataloger, scripts/release.sh) reads it from the
 * image. The metafiles are kept as dist/sbom/metafile-*.json (tests compare).
 */
function writeBundledLockfile(metafiles) {
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  const files = [
    ...metafiles.flatMap((m) => Object.keys(m.inputs).map((input) => path.resolve(process.cwd(), input))),
    ...copiedOutOfBundle.values(),
  ];
  const packages = {};
  for (const file of files) {
    // The package directory, from the first node_modules on (node_modules may be a link to
    // another checkout's): node_modules/a, node_modules/@s/a, node_modules/a/node_modules/b.
    const parts = file.split(path.sep);
    const first = parts.indexOf('node_modules');
    if (first < 0) continue;
    const last = parts.lastIndexOf('node_modules');
    const dir = parts.slice(first, last + (parts[last + 1].startsWith('@') ? 3 : 2)).join('/');
    const entry = lock.packages[dir];
    if (!entry) throw new Error(`${file} is bundled but package-lock.json has no entry ${dir}`);
    // What names the package exactly; its dependency ranges are the lockfile's business.
    const kept = { version: entry.version };
    for (const field of ['resolved', 'integrity', 'license']) if (entry[field]) kept[field] = entry[field];
    packages[dir] = kept;
  }
  const sorted = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => a.localeCompare(b)));
  const out = path.join(root, 'dist', 'sbom');
  fs.rmSync(out, { recursive: true, force: true });
  fs.mkdirSync(out, { recursive: true });
  const manifest = {
    name: pkg.name,
    version: pkg.version,
    lockfileVersion: 3,
    requires: true,
    packages: { '': { name: pkg.name, version: pkg.version, license: pkg.license }, ...sorted },
  };
  fs.writeFileSync(path.join(out, 'package-lock.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  metafiles.forEach((m, i) => fs.writeFileSync(path.join(out, `metafile-${i}.json`), JSON.stringify(m)));
}

Promise.all([
  // The operator itself.
  esbuild.build({
    ...common,
    metafile: true,
    entryPoints: [path.join(root, 'dist', 'tsc', 'main.js')],
    outfile: path.join(root, 'dist', 'main.js'),
    external: optional,
    ...importMetaUrl,
    plugins: [lazyImports, outOfBundle],
  }),
  // The image's entry point: loads ./main at run time with its code cache (src/code-cache-loader.ts).
  esbuild.build({
    ...common,
    entryPoints: [path.join(root, 'dist', 'tsc', 'code-cache-loader.js')],
    metafile: true,
    outfile: path.join(root, 'dist', 'code-cache-loader.js'),
    external: ['./main'],
  }),
])
  .then((results) => {
    asciiOnly(path.join(root, 'dist', 'main.js'));
    copyOutOfBundle();
    writeBundledLockfile(results.map((r) => r.metafile));
  })
  .catch((err) => {
    if (!(err && Array.isArray(err.errors))) console.error(err); // esbuild has printed its own
    process.exit(1);
  });
