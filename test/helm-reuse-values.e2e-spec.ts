/*
 * `helm upgrade --reuse-values` from every earlier chart (SPEC §5): helm then renders this chart's
 * templates with the values of the chart that was installed (its values.yaml with the user's
 * values on top; nothing of this chart's values.yaml), so every value added since must fall back
 * to its default. The templates fill those in from files/added-since-0.1.0.yaml.
 *
 * Kept by rendering the current templates with each earlier chart's values.yaml in place of this
 * one (what --reuse-values does), free, pro and with an existing Secret: the render must equal the
 * current chart's with the earlier values given as a values file (each earlier value kept, each
 * later one at its default). Then the real thing on the shared control plane: the earlier chart
 * installed, upgraded to this one with --reuse-values alone.
 *
 *   npx jest --config test/jest-e2e.config.js test/helm-reuse-values.e2e-spec.ts
 */
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { CHART_0_1_0_COMMIT, CHART_0_2_0_COMMIT, packageChartAt } from './support/chart';
import { CHART, HELM, helm, NAMESPACE, RELEASE, removeHelmScratch, ROOT, scratchPath } from './support/helm-render';
import { TEST_KEYS } from './support/keys';
import { createTestNamespace, deleteTestNamespace, runHelm } from './support/kube';

/** Every earlier chart: 0.1.0 (the first with a worker node) and 0.2.0 (main before issue 25). */
const EARLIER_CHARTS = [
  { version: '0.1.0', commit: CHART_0_1_0_COMMIT },
  { version: '0.2.0', commit: CHART_0_2_0_COMMIT },
];
const ADDED_FILE = join(CHART, 'files', 'added-since-0.1.0.yaml');

type Tree = Record<string, unknown>;
const isMap = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The earlier chart's file `name` from the repository's history. */
function earlierFile(commit: string, name: string): string {
  try {
    return execFileSync('git', ['-C', ROOT, 'show', `${commit}:helm/kube9-operator/${name}`], { encoding: 'utf8' });
  } catch (err) {
    throw new Error(`git show ${commit} failed: the test needs the repository's history (git fetch --unshallow)`, {
      cause: err,
    });
  }
}

/** The keys of `current` that `earlier` lacks (recursing into maps both have), with current's values. */
function addedSince(current: Tree, earlier: Tree): Tree {
  const out: Tree = {};
  for (const [key, value] of Object.entries(current)) {
    if (!(key in earlier)) out[key] = value;
    else if (isMap(value) && isMap(earlier[key])) {
      const nested = addedSince(value, earlier[key]);
      if (Object.keys(nested).length) out[key] = nested;
    }
  }
  return out;
}

/** Paths of `tree` whose value is not the one at the same path of `reference`. */
function differing(tree: Tree, reference: Tree, prefix = ''): string[] {
  return Object.entries(tree).flatMap(([key, value]) => {
    const at = `${prefix}${key}`;
    if (!(key in reference)) return [`${at} (not in values.yaml)`];
    if (isMap(value) && isMap(reference[key])) return differing(value, reference[key], `${at}.`);
    return JSON.stringify(value) === JSON.stringify(reference[key]) ? [] : [`${at}: ${JSON.stringify(value)}`];
  });
}

/** Paths of `needed` that `have` lacks. */
function missing(needed: Tree, have: Tree, prefix = ''): string[] {
  return Object.entries(needed).flatMap(([key, value]) => {
    if (!(key in have)) return [`${prefix}${key}`];
    return isMap(value) && isMap(have[key]) ? missing(value, have[key], `${prefix}${key}.`) : [];
  });
}

const current = yaml.load(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Tree;
const addedFile = yaml.load(readFileSync(ADDED_FILE, 'utf8')) as { generation: number; values: Tree };
const added = addedFile.values;

/** This chart's templates with `valuesYaml` as its values.yaml: what --reuse-values renders with. */
function chartWithValues(valuesYaml: string): string {
  const dir = scratchPath('chart');
  cpSync(CHART, dir, { recursive: true });
  writeFileSync(join(dir, 'values.yaml'), valuesYaml);
  return dir;
}

const USER_VALUES: [string, string[]][] = [
  ['free, no values', []],
  ['pro, --set apiKey', ['--set', `apiKey=${TEST_KEYS.chart}`]],
  ['pro, existingSecret', ['--set', 'existingSecret=kube9-key']],
];

afterAll(() => removeHelmScratch());

describe('files/added-since-0.1.0.yaml', () => {
  it('holds each of its values exactly as values.yaml does', () => {
    expect(differing(added, current)).toEqual([]);
  });

  it.each(EARLIER_CHARTS)('holds every value added after chart $version', ({ commit }) => {
    const earlier = yaml.load(earlierFile(commit, 'values.yaml')) as Tree;
    expect(missing(addedSince(current, earlier), added)).toEqual([]);
  });

  it.each(EARLIER_CHARTS)(
    'is of a later generation than chart $version values.yaml, and of the generation of this one',
    ({ commit }) => {
      const earlier = yaml.load(earlierFile(commit, 'values.yaml')) as Tree;
      expect(Number(earlier.valuesGeneration ?? 0)).toBeLessThan(addedFile.generation);
      expect(current.valuesGeneration).toBe(addedFile.generation);
    },
  );
});

describe.each(EARLIER_CHARTS)('the templates with chart $version values.yaml, as --reuse-values renders', (earlier) => {
  const earlierValues = earlierFile(earlier.commit, 'values.yaml');

  it.each(USER_VALUES)('%s: renders what this chart renders with those values given', (_name, args) => {
    const reused = helm(['template', RELEASE, chartWithValues(earlierValues), '-n', NAMESPACE, ...args]);
    expect({ status: reused.status, stderr: reused.stderr }).toEqual({ status: 0, stderr: '' });
    const file = `${scratchPath('earlier-values')}.yaml`;
    writeFileSync(file, earlierValues);
    const given = helm(['template', RELEASE, CHART, '-n', NAMESPACE, '-f', file, ...args]);
    expect(given.status).toBe(0);
    // The chart's path appears in no object; the objects must be the same, byte for byte.
    expect(reused.stdout).toBe(given.stdout);
  });
});

describe('helm upgrade --reuse-values from each earlier chart (shared control plane)', () => {
  const namespaces: string[] = [];
  afterAll(async () => {
    for (const namespace of namespaces) {
      await runHelm(['uninstall', RELEASE, '-n', namespace, '--ignore-not-found']);
      await deleteTestNamespace(namespace);
    }
  });

  it.each(EARLIER_CHARTS)('from $version, free and pro, with --reuse-values alone', async (earlier) => {
    const chart = await packageChartAt(earlier.commit, scratchPath(`chart-${earlier.version}`), HELM);
    for (const [tier, args] of [
      ['free', []],
      ['pro', ['--set', `apiKey=${TEST_KEYS.chart}`]],
    ] as const) {
      const namespace = await createTestNamespace(`reuse-${earlier.version.replace(/\./g, '')}-${tier}`);
      namespaces.push(namespace);
      const installed = await runHelm(['install', RELEASE, chart, '-n', namespace, ...args]);
      expect(installed.stderr).toBe('');
      const upgraded = await runHelm(['upgrade', RELEASE, CHART, '-n', namespace, '--reuse-values']);
      expect({ tier, code: upgraded.code, stderr: upgraded.stderr }).toEqual({ tier, code: 0, stderr: '' });
      const values = (JSON.parse((await runHelm(['get', 'values', RELEASE, '-n', namespace, '-o', 'json'])).stdout) ??
        {}) as { apiKey?: string };
      expect(values.apiKey).toBe(tier === 'pro' ? TEST_KEYS.chart : undefined);
      const manifest = (await runHelm(['get', 'manifest', RELEASE, '-n', namespace])).stdout;
      expect(manifest).toContain(
        `helm.sh/chart: kube9-operator-${(yaml.load(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { version: string }).version}`,
      );
    }
  });
});
