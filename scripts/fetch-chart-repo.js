// Mirrors the chart repository already published at URL into DIR, so that a release adds its
// chart to it (scripts/release.sh --chart-repo DIR merges DIR/index.yaml) and the site deployed
// from DIR still serves every earlier version (a GitHub Pages deployment replaces the whole site):
//
//   node scripts/fetch-chart-repo.js URL DIR      e.g. https://charts.kube9.io "$RUNNER_TEMP/chart-repo"
//
// Fetches URL/index.yaml, then every package it lists under URL (and its .prov, when the site
// has one), each checked against the digest the index gives it. An index that is not there
// (404: nothing published yet) leaves DIR empty and says so. Any other failure, or a package
// whose digest differs, stops with a message naming the URL; nothing is half-written to DIR.
const { Buffer } = require('node:buffer');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { URL } = require('node:url');
const yaml = require('js-yaml');

function fail(message) {
  console.error(`fetch-chart-repo: ${message}`);
  process.exit(1);
}

async function get(url) {
  let answer;
  try {
    answer = await globalThis.fetch(url, { redirect: 'follow' });
  } catch (err) {
    fail(`cannot fetch ${url}: ${err.cause?.message ?? err.message}`);
  }
  if (answer.status === 404) return null;
  if (!answer.ok) fail(`${url} answered ${answer.status} ${answer.statusText}`);
  return Buffer.from(await answer.arrayBuffer());
}

async function main() {
  const [base, dir] = process.argv.slice(2);
  if (!base || !dir || process.argv.length !== 4) fail('usage: node scripts/fetch-chart-repo.js URL DIR');
  const root = base.endsWith('/') ? base : `${base}/`;
  fs.mkdirSync(dir, { recursive: true });
  if (fs.readdirSync(dir).length > 0) fail(`${dir} is not empty: the mirror goes into an empty folder`);

  const indexUrl = new URL('index.yaml', root).href;
  const index = await get(indexUrl);
  if (index === null) {
    console.log(`nothing published at ${root} yet (${indexUrl}: 404): ${dir} starts empty`);
    return;
  }
  let parsed;
  try {
    parsed = yaml.load(index.toString('utf8'));
  } catch (err) {
    fail(`${indexUrl} is not YAML: ${err.message}`);
  }
  if (parsed?.apiVersion !== 'v1' || typeof parsed.entries !== 'object' || parsed.entries === null) {
    fail(`${indexUrl} is not a chart repository index (apiVersion v1 with entries)`);
  }
  const files = new Map(); // path under DIR -> content
  for (const [name, versions] of Object.entries(parsed.entries)) {
    for (const entry of versions ?? []) {
      const url = new URL(entry.urls?.[0] ?? '', root).href;
      if (!entry.urls?.[0]) fail(`${indexUrl}: ${name} ${entry.version} has no url`);
      // A package served from elsewhere (a release page, say) is not part of this site.
      if (!url.startsWith(root)) continue;
      const relative = decodeURIComponent(url.slice(root.length));
      const content = await get(url);
      if (content === null) fail(`${url} is listed in ${indexUrl} (${name} ${entry.version}) but is not there (404)`);
      const digest = crypto.createHash('sha256').update(content).digest('hex');
      if (entry.digest && digest !== entry.digest) {
        fail(`${url} has digest ${digest}, but ${indexUrl} says ${entry.digest} (${name} ${entry.version})`);
      }
      files.set(relative, content);
      const provenance = await get(`${url}.prov`);
      if (provenance !== null) files.set(`${relative}.prov`, provenance);
    }
  }
  files.set('index.yaml', index);
  for (const [relative, content] of files) {
    const target = path.resolve(dir, relative);
    if (!target.startsWith(path.resolve(dir) + path.sep)) fail(`${relative} would be written outside ${dir}`);
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, content);
  }
  console.log(`mirrored ${root} into ${dir}: ${[...files.keys()].sort().join(', ')}`);
}

main().catch((err) => fail(err.stack ?? String(err)));
