import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';

/** The versions of the binaries test/controlplane/build.sh chose. */
export interface BinaryVersions {
  /** The chosen control plane's kube-apiserver (see `KubernetesChoice`). */
  kubernetes: string;
  kubeControllerManager: string;
  etcd: string;
  helm: string;
}

/**
 * Which Kubernetes the control plane runs: the newest (go/kube, every test)
 * or the oldest minor the chart supports (go/kube-oldest, Chart.yaml's
 * kubeVersion floor). Chosen by KUBE9_TEST_KUBERNETES.
 */
export type KubernetesChoice = 'newest' | 'oldest';
const KUBERNETES_CHOICES: readonly KubernetesChoice[] = ['newest', 'oldest'];

export interface Binaries {
  /** `.cache/bin/current`: kube-apiserver, kube-controller-manager, etcd, helm (and the node's binaries). */
  binDir: string;
  kubernetes: KubernetesChoice;
  /** The control plane's kube-apiserver and kube-controller-manager, at the chosen version. */
  kubeApiserver: string;
  kubeControllerManager: string;
  versions: BinaryVersions;
}

/** KUBE9_TEST_KUBERNETES: unset or `newest`, or `oldest`; anything else is refused. */
export function chosenKubernetes(env: NodeJS.ProcessEnv = process.env): KubernetesChoice {
  const value = env.KUBE9_TEST_KUBERNETES ?? '';
  if (value === '') return 'newest';
  const choice = KUBERNETES_CHOICES.find((c) => c === value);
  if (!choice) {
    throw new Error(
      `KUBE9_TEST_KUBERNETES=${JSON.stringify(value)} is not known; allowed: ${KUBERNETES_CHOICES.join(', ')} (unset means newest)`,
    );
  }
  return choice;
}

/** What build.sh writes to versions.json: the newest control plane's versions and the oldest one's. */
interface VersionsFile extends BinaryVersions {
  kubernetesOldest?: string;
  kubeControllerManagerOldest?: string;
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
export async function ensureBinaries(kubernetes: KubernetesChoice = chosenKubernetes()): Promise<Binaries> {
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
  const file = JSON.parse(await readFile(path.join(binDir, 'versions.json'), 'utf8')) as VersionsFile;
  const { kubernetesOldest, kubeControllerManagerOldest, ...newest } = file;
  if (kubernetes === 'newest') {
    return {
      binDir,
      kubernetes,
      kubeApiserver: path.join(binDir, 'kube-apiserver'),
      kubeControllerManager: path.join(binDir, 'kube-controller-manager'),
      versions: newest,
    };
  }
  if (!kubernetesOldest || !kubeControllerManagerOldest) {
    throw new Error(`${binDir}/versions.json names no oldest control plane; ${script} did not build it`);
  }
  return {
    binDir,
    kubernetes,
    kubeApiserver: path.join(binDir, 'kube-apiserver-oldest'),
    kubeControllerManager: path.join(binDir, 'kube-controller-manager-oldest'),
    versions: { ...newest, kubernetes: kubernetesOldest, kubeControllerManager: kubeControllerManagerOldest },
  };
}
