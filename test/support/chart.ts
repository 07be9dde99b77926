/*
 * The chart as the tests use it: installed by the real helm into a namespace,
 * and the operator run out of the cluster with the environment the chart's
 * Deployment sets and a token of the chart's own ServiceAccount, so the real
 * RBAC authorizer judges exactly the permissions the chart grants. (The shared
 * control plane has no node, so the Deployment's pod is never started there;
 * test/real-pod.e2e-spec.ts runs it on a worker node.)
 */
import * as path from 'node:path';
import { AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { repoRoot } from './binaries';
import { adminKubeConfig, kubeconfigForToken, mintToken, runHelm } from './kube';
import { freePort, OperatorProcess, startOperator } from './operator-process';

export const CHART_DIR = path.join(repoRoot(), 'helm', 'kube9-operator');

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
