import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';

/** The versions of the binaries test/controlplane/build.sh chose. */
export interface BinaryVersions {
  kubernetes: string;
  kubeControllerManager: string;
  etcd: string;
  helm: string;
}

export interface Binaries {
  /** `.cache/bin/current`: kube-apiserver, kube-controller-manager, etcd, helm. */
  binDir: string;
  versions: BinaryVersions;
}

/** The repository root (this file is test/support/binaries.ts, or its build in dist-test/). */
export function repoRoot(): string {
  let dir = __dirname;
  while (path.basename(dir) !== 'test') {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the repository root above ${__dirname}`);
    dir = parent;
  }
  const candidate = path.dirname(dir);
  return path.basename(candidate) === 'dist-test' ? path.dirname(candidate) : candidate;
}

/**
 * Runs test/controlplane/build.sh, which builds the control-plane binaries
 * and helm that are missing from .cache/bin (a warm run builds nothing), and
 * returns where they are. Its output goes to stderr, so stdout stays free for
 * whoever prints machine-readable lines (the cluster CLI).
 */
export async function ensureBinaries(): Promise<Binaries> {
  const root = repoRoot();
  const script = path.join(root, 'test', 'controlplane', 'build.sh');
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn('bash', [script], { cwd: root, stdio: ['ignore', 2, 2] });
    child.on('error', reject);
    child.on('exit', (status, signal) => resolve(signal ? null : status));
  });
  if (code !== 0) {
    throw new Error(`${script} failed (exit ${code ?? 'by signal'}); its output is above`);
  }
  const binDir = path.join(root, '.cache', 'bin', 'current');
  const versions = JSON.parse(await readFile(path.join(binDir, 'versions.json'), 'utf8')) as BinaryVersions;
  return { binDir, versions };
}
