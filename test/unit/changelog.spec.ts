/*
 * CHANGELOG.md (Keep a Changelog) follows the version: the section for package.json's version
 * exists, and the chart's artifacthub.io/changes annotation holds the same entries, read through
 * scripts/changelog.js, the script the release workflow takes the release notes from. The
 * licence is MIT everywhere it is named.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { repoRoot } from '@test/support/binaries';
import { runCommand } from '@test/support/command';

const root = repoRoot();
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  version: string;
  license: string;
};
const chart = yaml.load(fs.readFileSync(path.join(root, 'helm', 'kube9-operator', 'Chart.yaml'), 'utf8')) as {
  version: string;
  annotations: Record<string, string>;
};

function changelog(...args: string[]) {
  return runCommand(process.execPath, [path.join(root, 'scripts', 'changelog.js'), ...args], { cwd: root });
}

it("has a section for package.json's version, with entries of Keep a Changelog's kinds", async () => {
  const result = await changelog(pkg.version, '--json');
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  const entries = JSON.parse(result.stdout) as { kind: string; description: string }[];
  expect(entries.length).toBeGreaterThan(0);
  for (const entry of entries) {
    expect(['added', 'changed', 'deprecated', 'removed', 'fixed', 'security']).toContain(entry.kind);
    expect(entry.description).toMatch(/\S/);
  }
  const notes = await changelog(pkg.version);
  expect(notes.stdout).toMatch(/^### (Added|Changed|Deprecated|Removed|Fixed|Security)\n/);
  expect(notes.stdout).not.toContain('## [');
});

it("puts the same entries in the chart's artifacthub.io/changes annotation", async () => {
  const entries = JSON.parse((await changelog(pkg.version, '--json')).stdout) as unknown[];
  expect(chart.version).toBe(pkg.version);
  expect(yaml.load(chart.annotations['artifacthub.io/changes'])).toEqual(entries);
});

it('has the versions newest first, 0.1.0 and 0.2.0 among them, each dated', () => {
  const text = fs.readFileSync(path.join(root, 'CHANGELOG.md'), 'utf8');
  const versions = [...text.matchAll(/^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$/gm)].map((m) => m[1]);
  expect(versions).toEqual(expect.arrayContaining(['0.2.0', '0.1.0']));
  const order = versions.map((v) => v.split('.').map(Number));
  const sorted = [...order].sort((a, b) => b[0] - a[0] || b[1] - a[1] || b[2] - a[2]);
  expect(order).toEqual(sorted);
  expect(text).toMatch(/^## \[Unreleased\]$/m);
});

it('refuses a version it has no section for, naming it and the versions it has', async () => {
  const result = await changelog('9.9.9', '--json');
  expect(result.code).toBe(1);
  expect(result.stderr).toContain('has no section "## [9.9.9]" (it has: Unreleased, ');
  expect(result.stderr).toContain(pkg.version);
});

it('is MIT licensed: LICENSE, package.json and the chart say so', () => {
  expect(fs.readFileSync(path.join(root, 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} /);
  expect(pkg.license).toBe('MIT');
  expect(chart.annotations['artifacthub.io/license']).toBe('MIT');
});
