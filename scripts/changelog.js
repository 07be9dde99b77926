// Reads one version's section of CHANGELOG.md (Keep a Changelog):
//
//   node scripts/changelog.js X.Y.Z          the section's text, for the release page's notes
//   node scripts/changelog.js X.Y.Z --json   its entries, [{ "kind": "added", "description": "…" }, …],
//                                            in the form of the chart's artifacthub.io/changes
//
// Exits 1, naming the version and the versions CHANGELOG.md has, when it has no section for it,
// or when a section holds a heading that is not one of Keep a Changelog's kinds.
const fs = require('node:fs');
const path = require('node:path');

const KINDS = ['added', 'changed', 'deprecated', 'removed', 'fixed', 'security'];

function fail(message) {
  console.error(`changelog: ${message}`);
  process.exit(1);
}

const [version, flag] = process.argv.slice(2);
if (!version || (flag !== undefined && flag !== '--json') || process.argv.length > 4) {
  fail('usage: node scripts/changelog.js X.Y.Z [--json]');
}
const file = path.join(__dirname, '..', 'CHANGELOG.md');
const lines = fs.readFileSync(file, 'utf8').split('\n');
const heading = /^## \[([^\]]+)\]/;
const start = lines.findIndex((line) => heading.exec(line)?.[1] === version);
if (start < 0) {
  const known = lines.map((line) => heading.exec(line)?.[1]).filter(Boolean);
  fail(`${file} has no section "## [${version}]" (it has: ${known.join(', ')})`);
}
let end = lines.findIndex((line, i) => i > start && /^## /.test(line));
if (end < 0) end = lines.length;
const section = lines.slice(start + 1, end);

if (flag !== '--json') {
  process.stdout.write(`${section.join('\n').trim()}\n`);
  process.exit(0);
}
const entries = [];
let kind = null;
for (const line of section) {
  const sub = /^### (.+)$/.exec(line);
  if (sub) {
    kind = sub[1].trim().toLowerCase();
    if (!KINDS.includes(kind)) fail(`[${version}]: "### ${sub[1]}" is not one of ${KINDS.join(', ')}`);
  } else if (/^- /.test(line)) {
    if (!kind) fail(`[${version}]: the entry "${line}" is under no ### heading`);
    entries.push({ kind, description: line.slice(2).trim() });
  } else if (/^\s+\S/.test(line) && entries.length > 0) {
    entries[entries.length - 1].description += ` ${line.trim()}`;
  }
}
process.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
