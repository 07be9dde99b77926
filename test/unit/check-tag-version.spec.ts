/*
 * scripts/check-tag-version.sh, the release workflow's first step: a tag that is not
 * v<package.json's version> stops the release with a message naming both.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '@test/support/binaries';
import { runCommand } from '@test/support/command';

const root = repoRoot();
const { version } = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
const check = (...args: string[]) =>
  runCommand('bash', [path.join(root, 'scripts', 'check-tag-version.sh'), ...args], { cwd: root });

it("passes the tag v<package.json's version>", async () => {
  const result = await check(`v${version}`);
  expect(result).toEqual({ code: 0, stdout: `the tag v${version} is package.json's version ${version}\n`, stderr: '' });
});

it("stops for another version, naming the tag and package.json's version", async () => {
  const [major, minor, patch] = version.split('.').map(Number);
  const other = `v${major}.${minor}.${patch + 1}`;
  const result = await check(other);
  expect(result.code).toBe(1);
  expect(result.stderr).toContain(`the tag ${other} does not match package.json's version ${version}`);
  expect(result.stdout).toBe('');
});

it.each([[version], [`v${version}-rc.1`], [`release-${version}`], ['']])(
  'refuses the tag "%s", which is not vX.Y.Z, naming what is allowed',
  async (tag) => {
    const result = await check(tag);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(tag ? `the tag '${tag}' is not vX.Y.Z` : /usage: .*TAG \(the pushed tag, vX\.Y\.Z\)/);
  },
);
