/*
 * The chart as the tests use it: installed by the real helm into a namespace,
 * and the operator run out of the cluster with the environment the chart's
 * Deployment sets and a token of the chart's own ServiceAccount, so the real
 * RBAC authorizer judges exactly the permissions the chart grants. (The shared
 * control plane has no node, so the Deployment's pod is never started there;
 * test/real-pod.e2e-spec.ts runs it on a worker node.)
 */
import { execFile } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { repoRoot } from './binaries';
import { adminKubeConfig, kubeconfigForToken, mintToken, runHelm } from './kube';
import { freePort, OperatorProcess, startOperator } from './operator-process';

export const CHART_DIR = path.join(repoRoot(), 'helm', 'kube9-operator');

/** The first commit with a worker node: its chart is 0.1.0, the first chart version. */
export const CHART_0_1_0_COMMIT = 'fd4c3e7ae1ff812e7306daeb2d83b8bee90356ce';
/** main before issue 25: chart 0.2.0, whose default image was kube9/kube9-operator. */
export const CHART_0_2_0_COMMIT = '3b933e2';

/**
 * The chart as it was at `commit`, taken from this repository's history with git archive into
 * `dir` and packaged there by `helm` (a path); returns the .tgz. Needs the history (a shallow
 * clone fails with a message saying so).
 */
export async function packageChartAt(commit: string, dir: string, helm: string): Promise<string> {
  const run = promisify(execFile);
  await fsp.mkdir(dir, { recursive: true });
  const archive = path.join(dir, 'chart.tar');
  try {
    await run('git', ['-C', repoRoot(), 'archive', '--output', archive, commit, 'helm/kube9-operator']);
  } catch (err) {
    throw new Error(
      `git archive ${commit} failed: the test needs the repository's history (git fetch --unshallow): ${(err as Error).message}`,
      { cause: err },
    );
  }
  await run('tar', ['-xf', archive, '-C', dir]);
  const { stdout } = await run(helm, ['package', path.join(dir, 'helm', 'kube9-operator'), '--destination', dir]);
  const tgz = /saved it to: (\S+)/.exec(stdout)?.[1];
  if (!tgz) throw new Error(`helm package said: ${stdout}`);
  return tgz;
}

/**
 * `helm install` (or upgrade) the chart, from its folder or from `chart` (e.g. `oci://…`, with
 * `--version` and the registry's flags in `extra`); throws with helm's message when it fails.
 */
export async function helmInstall(
  namespace: string,
  release: string,
  set: Record<string, string> = {},
  extra: string[] = [],
  chart: string = CHART_DIR,
): Promise<string> {
  const sets = Object.entries(set).flatMap(([key, value]) => ['--set', `${key}=${value}`]);
  const result = await runHelm(['upgrade', '--install', release, chart, '-n', namespace, ...sets, ...extra]);
  if (result.code !== 0) throw new Error(`helm install ${release} failed: ${result.stderr}`);
  return result.stdout;
}

/** The Deployment's container environment, with the Downward API namespace and Secret references resolved as the kubelet would. */
export async function chartEnvironment(namespace: string, release: string): Promise<Record<string, string>> {
  const apps = adminKubeConfig().makeApiClient(AppsV1Api);
  const name = release.includes('kube9-operator') ? release : `${release}-kube9-operator`;
  const deployment = await apps.readNamespacedDeployment({ name, namespace });
  const env: Record<string, string> = {};
  for (const variable of deployment.spec!.template.spec!.containers[0].env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (variable.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[variable.name] = namespace;
    else if (variable.valueFrom?.secretKeyRef) {
      const { name: secretName, key } = variable.valueFrom.secretKeyRef;
      const secret = await adminKubeConfig()
        .makeApiClient(CoreV1Api)
        .readNamespacedSecret({ name: secretName!, namespace });
      env[variable.name] = Buffer.from(secret.data![key], 'base64').toString('utf8');
    }
  }
  return env;
}

/** A kubeconfig whose user is the chart's ServiceAccount. */
export async function chartServiceAccountKubeconfig(namespace: string, release: string): Promise<string> {
  const apps = adminKubeConfig().makeApiClient(AppsV1Api);
  const name = release.includes('kube9-operator') ? release : `${release}-kube9-operator`;
  const deployment = await apps.readNamespacedDeployment({ name, namespace });
  const serviceAccount = deployment.spec!.template.spec!.serviceAccountName!;
  return kubeconfigForToken(await mintToken(namespace, serviceAccount), `${namespace}-${serviceAccount}`);
}

/**
 * Runs the operator as the chart would, out of the cluster; `env` adds to or overrides the
 * chart's. The HTTP port is a free one on this machine instead of the pod's containerPort.
 */
export async function runOperatorAsChart(
  namespace: string,
  release: string,
  env: Record<string, string> = {},
): Promise<OperatorProcess> {
  return startOperator({
    ...(await chartEnvironment(namespace, release)),
    KUBECONFIG: await chartServiceAccountKubeconfig(namespace, release),
    PORT: String(await freePort()),
    ...env,
  });
}
