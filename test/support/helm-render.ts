/*
 * The chart rendered by the real helm v3 client, no cluster needed: `helm
 * template` with --set / --set-string pairs or a values file, parsed into
 * objects. helm keeps its cache and configuration in a temporary home, never
 * the user's. The binary: KUBE9_TEST_HELM, else .cache/bin/current/helm.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as yaml from 'js-yaml';
import { repoRoot } from './binaries';

export const CHART = join(repoRoot(), 'helm', 'kube9-operator');
const HELM = resolve(repoRoot(), process.env.KUBE9_TEST_HELM ?? '.cache/bin/current/helm');

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
}

export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface Values {
  set?: Record<string, string | number | boolean>;
  setString?: Record<string, string>;
  valuesFile?: Record<string, unknown>;
}

/** A helm with its own home; close() removes it. */
export class HelmRenderer {
  private readonly home = mkdtempSync(join(tmpdir(), 'kube9-helm-'));
  private files = 0;

  constructor(
    private readonly release = 'kube9-operator',
    private readonly namespace = 'kube9-system',
  ) {}

  run(args: string[]): HelmResult {
    const result = spawnSync(HELM, args, {
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '',
        HOME: this.home,
        HELM_CACHE_HOME: join(this.home, 'cache'),
        HELM_CONFIG_HOME: join(this.home, 'config'),
        HELM_DATA_HOME: join(this.home, 'data'),
        KUBECONFIG: join(this.home, 'no-kubeconfig'),
      },
    });
    if (result.error) {
      throw new Error(`cannot run ${HELM} (build it with test/controlplane/build.sh helm)`, { cause: result.error });
    }
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  args({ set = {}, setString = {}, valuesFile }: Values): string[] {
    const fileArgs: string[] = [];
    if (valuesFile) {
      const path = join(this.home, `values-${++this.files}.yaml`);
      writeFileSync(path, yaml.dump(valuesFile));
      fileArgs.push('--values', path);
    }
    return [
      ...fileArgs,
      ...Object.entries(set).flatMap(([key, value]) => ['--set', `${key}=${value}`]),
      ...Object.entries(setString).flatMap(([key, value]) => ['--set-string', `${key}=${value}`]),
    ];
  }

  template(values: Values = {}): HelmResult {
    return this.run(['template', this.release, CHART, '--namespace', this.namespace, ...this.args(values)]);
  }

  lint(values: Values = {}): HelmResult {
    return this.run(['lint', '--strict', CHART, '--namespace', this.namespace, ...this.args(values)]);
  }

  render(values: Values = {}): K8sObject[] {
    const result = this.template(values);
    if (result.status !== 0) throw new Error(`helm template failed (${result.status}):\n${result.stderr}`);
    return yaml.loadAll(result.stdout).filter((doc): doc is K8sObject => doc !== null && doc !== undefined);
  }

  close(): void {
    rmSync(this.home, { recursive: true, force: true });
  }
}
