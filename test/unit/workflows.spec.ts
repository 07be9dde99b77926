/*
 * The GitHub workflows (.github/workflows/ci.yml, release.yml) cannot run here, so what they do
 * is checked here: actionlint (built from its pinned Go module by test/controlplane/build.sh)
 * passes both and fails a deliberately broken one; the release workflow names only npm scripts
 * that package.json has and only options that the scripts it calls accept (read from each
 * script's own `case` arms, so the check follows the scripts); each job declares its
 * permissions and only the publishing job may write; Dependabot covers every pinned Go module.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { repoRoot } from '@test/support/binaries';
import { runCommand } from '@test/support/command';

const root = repoRoot();
const workflowsDir = path.join(root, '.github', 'workflows');
const workflowFiles = ['ci.yml', 'release.yml'].map((name) => path.join(workflowsDir, name));
const actionlint = path.join(root, '.cache', 'bin', 'current', 'actionlint');

interface Step {
  run?: string;
  uses?: string;
  with?: Record<string, unknown>;
}
interface Job {
  'runs-on': string;
  permissions?: Record<string, string>;
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  permissions?: Record<string, string>;
  defaults?: { run?: { shell?: string } };
  jobs: Record<string, Job>;
}

function load(file: string): Workflow {
  return yaml.load(fs.readFileSync(file, 'utf8')) as Workflow;
}

/** Every `run:` of a workflow, backslash-continued lines joined. */
function runScripts(workflow: Workflow): string[] {
  return Object.values(workflow.jobs).flatMap((job) =>
    job.steps.filter((s) => s.run).map((s) => (s.run ?? '').replace(/\\\n\s*/g, ' ')),
  );
}

/** The options a bash script accepts: the `--name`, `--name=*` and `--a|--b` patterns of its `case` arms. */
function acceptedOptions(script: string): Set<string> {
  const text = fs.readFileSync(script, 'utf8');
  const arms = [...text.matchAll(/^\s*((?:["']?--[a-z][a-z0-9-]*(?:=\*)?["']?\s*\|?\s*)+)\)/gm)];
  return new Set(
    arms.flatMap((m) =>
      m[1].split('|').map((alt) =>
        alt
          .trim()
          .replace(/^["']|["']$/g, '')
          .replace(/=\*$/, ''),
      ),
    ),
  );
}

/** The `--options` among a command line's words (quoted values taken whole). */
function optionsIn(words: string): string[] {
  return [...words.matchAll(/"[^"]*"|'[^']*'|(\S+)/g)]
    .map((m) => m[1])
    .filter((w): w is string => w !== undefined && /^--[a-z]/.test(w))
    .map((w) => w.replace(/=.*$/, ''));
}

/** Runs actionlint without shellcheck or pyflakes, so that what it reports depends on nothing else installed. */
function lint(files: string[]) {
  return runCommand(actionlint, ['-shellcheck=', '-pyflakes=', '-no-color', ...files], { cwd: root });
}

beforeAll(async () => {
  const built = await runCommand('bash', [path.join(root, 'test', 'controlplane', 'build.sh'), 'actionlint'], {
    cwd: root,
    timeoutMs: 900_000,
  });
  if (built.code !== 0) throw new Error(`build.sh actionlint failed:\n${built.stdout}${built.stderr}`);
}, 900_000);

it('actionlint, pinned in test/controlplane/go/actionlint, finds nothing in either workflow', async () => {
  const pinned = /github\.com\/rhysd\/actionlint (v\S+)/.exec(
    fs.readFileSync(path.join(root, 'test', 'controlplane', 'go', 'actionlint', 'go.mod'), 'utf8'),
  )?.[1];
  const version = await runCommand(actionlint, ['-version']);
  expect(version.stdout.split('\n')[0]).toBe(pinned);
  const result = await lint(workflowFiles);
  expect({ code: result.code, out: result.stdout + result.stderr }).toEqual({ code: 0, out: '' });
});

it('actionlint fails a broken workflow, naming each mistake with its line', async () => {
  const broken = path.join('test', 'fixtures', 'workflows', 'broken.yml');
  const result = await lint([broken]);
  expect(result.code).toBe(1);
  expect(result.stdout).toContain(`${broken}:12:3: job "test" needs job "build" which does not exist`);
  expect(result.stdout).toMatch(new RegExp(`${broken}:18:\\d+: property "event_nam" is not defined`));
});

describe('ci.yml', () => {
  const ci = load(workflowFiles[0]);

  it('runs on pull requests and pushes to main, on Ubuntu, exactly .ci/run as root, with the machine cache kept', () => {
    expect(Object.keys(ci.on).sort()).toEqual(['pull_request', 'push']);
    expect(ci.on.push).toEqual({ branches: ['main'] });
    const jobs = Object.values(ci.jobs);
    expect(jobs.map((j) => j['runs-on'])).toEqual([expect.stringMatching(/^ubuntu-/)]);
    // …and, afterwards, the machine cache made readable for the cache action to save.
    expect(runScripts(ci)).toEqual([
      expect.stringMatching(/^sudo .*\bbash \.ci\/run$/),
      expect.stringMatching(/^sudo chown -R .*\/\.cache\/kube9-operator"/),
    ]);
  });
});

describe('release.yml', () => {
  const release = load(workflowFiles[1]);
  const scripts = runScripts(release);
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
  };

  it('runs on a tag vX.Y.Z and checks it against package.json with scripts/check-tag-version.sh first', () => {
    expect(release.on).toEqual({ push: { tags: ['v[0-9]+.[0-9]+.[0-9]+'] } });
    expect(release.jobs.version.steps.map((s) => s.run).filter(Boolean)).toEqual([
      'bash scripts/check-tag-version.sh "$GITHUB_REF_NAME"',
    ]);
    expect(release.jobs.test).toMatchObject({ needs: 'version' });
    expect(release.jobs.publish).toMatchObject({ needs: 'test' });
  });

  it('names only npm scripts that package.json has: the tests, test:long and release', () => {
    const named = scripts.flatMap((s) => [...s.matchAll(/\bnpm run (?:--silent )?([\w:-]+)/g)].map((m) => m[1]));
    expect(named.sort()).toEqual(['release', 'test:long']);
    const missing = named.filter((name) => !(name in pkg.scripts));
    expect({ missing, has: Object.keys(pkg.scripts) }).toEqual({ missing: [], has: expect.anything() });
    expect(scripts.some((s) => /\bbash \.ci\/run$/.test(s))).toBe(true);
  });

  it('gives npm run release only options scripts/release.sh accepts, and publishes to ghcr.io/<owner>', () => {
    const accepted = acceptedOptions(path.join(root, 'scripts', 'release.sh'));
    const calls = scripts.flatMap((s) => [...s.matchAll(/\bnpm run (?:--silent )?release -- ([^|\n]*)/g)]);
    expect(calls).toHaveLength(1);
    const used = optionsIn(calls[0][1]);
    expect(used).toEqual(
      expect.arrayContaining(['--registry', '--version', '--key', '--chart-repo', '--chart-repo-url', '--gpg-key']),
    );
    const unknown = used.filter((o) => !accepted.has(o));
    expect({ unknown, accepted: [...accepted].sort() }).toEqual({ unknown: [], accepted: expect.anything() });
    expect(calls[0][1]).toContain('--registry "ghcr.io/${OWNER,,}"');
  });

  it('calls only scripts that exist, with options they accept', () => {
    const calls = scripts.flatMap((s) => [
      ...s.matchAll(/\b(?:bash|node) (scripts\/[\w.-]+|test\/[\w./-]+)([^|\n>]*)/g),
    ]);
    expect(calls.length).toBeGreaterThanOrEqual(4);
    for (const [, script, args] of calls) {
      const file = path.join(root, script);
      expect({ script, exists: fs.existsSync(file) }).toEqual({ script, exists: true });
      if (script.endsWith('.sh')) {
        const unknown = optionsIn(args).filter((o) => !acceptedOptions(file).has(o));
        expect({ script, unknown }).toEqual({ script, unknown: [] });
      }
    }
  });

  it('takes only the cosign key, its password and the chart signing key from secrets', () => {
    const text = fs.readFileSync(workflowFiles[1], 'utf8');
    const secrets = [...new Set([...text.matchAll(/\$\{\{\s*secrets\.(\w+)\s*\}\}/g)].map((m) => m[1]))].sort();
    expect(secrets).toEqual(['COSIGN_PASSWORD', 'COSIGN_PRIVATE_KEY', 'HELM_KEY_PASSPHRASE', 'HELM_SIGNING_KEYRING']);
  });

  it('publishes the chart repository folder to GitHub Pages and attaches cosign.pub, the SBOM and the chart', () => {
    const steps = release.jobs.publish.steps;
    const upload = steps.find((s) => s.uses?.startsWith('actions/upload-pages-artifact@'));
    expect(upload?.with?.path).toBe('${{ runner.temp }}/chart-repo');
    expect(steps.some((s) => s.uses?.startsWith('actions/deploy-pages@'))).toBe(true);
    const fetchIndex = scripts.find((s) => s.includes('scripts/fetch-chart-repo.js'));
    expect(fetchIndex).toBe('node scripts/fetch-chart-repo.js "$CHART_REPO_URL" "$RUNNER_TEMP/chart-repo"');
    expect(scripts.find((s) => s.includes('scripts/release-assets.sh'))).toContain('--out "$RUNNER_TEMP/assets"');
    expect(scripts.find((s) => s.includes('gh release create'))).toContain('"$RUNNER_TEMP"/assets/*');
  });
});

it('runs every step with bash -eo pipefail (shell: bash), so that a piped command that fails fails its step', () => {
  for (const file of workflowFiles) {
    expect({ file, shell: load(file).defaults?.run?.shell }).toEqual({ file, shell: 'bash' });
  }
});

it('declares permissions per job, none at the top, and only the publishing job writes', () => {
  const writers: string[] = [];
  for (const file of workflowFiles) {
    const workflow = load(file);
    expect({ file, permissions: workflow.permissions }).toEqual({ file, permissions: {} });
    for (const [name, job] of Object.entries(workflow.jobs)) {
      expect({ job: name, declared: job.permissions !== undefined }).toEqual({ job: name, declared: true });
      for (const [scope, level] of Object.entries(job.permissions ?? {})) {
        if (level === 'write') writers.push(`${path.basename(file)} ${name} ${scope}`);
      }
    }
  }
  expect(writers.sort()).toEqual([
    'release.yml publish contents',
    'release.yml publish id-token',
    'release.yml publish packages',
    'release.yml publish pages',
  ]);
});

it('has Dependabot update npm, every pinned Go module, the actions and the Dockerfile, weekly and grouped', () => {
  const config = yaml.load(fs.readFileSync(path.join(root, '.github', 'dependabot.yml'), 'utf8')) as {
    updates: {
      'package-ecosystem': string;
      directory?: string;
      directories?: string[];
      schedule: object;
      groups: object;
    }[];
  };
  expect(config.updates.map((u) => u['package-ecosystem']).sort()).toEqual([
    'docker',
    'github-actions',
    'gomod',
    'npm',
  ]);
  for (const update of config.updates) {
    expect(update.schedule).toEqual({ interval: 'weekly' });
    expect(Object.keys(update.groups)).toHaveLength(1);
  }
  const gomod = config.updates.find((u) => u['package-ecosystem'] === 'gomod');
  const patterns = (gomod?.directories ?? []).map((d) => new RegExp(`^${d.replace(/\*/g, '[^/]+')}$`));
  const modules = fs
    .readdirSync(path.join(root, 'test', 'controlplane', 'go'))
    .map((name) => `/test/controlplane/go/${name}`)
    .concat('/test/node/pause');
  expect(modules).toContain('/test/controlplane/go/actionlint');
  for (const dir of modules) {
    expect(fs.existsSync(path.join(root, dir, 'go.mod'))).toBe(true);
    expect({ dir, covered: patterns.some((p) => p.test(dir)) }).toEqual({ dir, covered: true });
  }
});
