/*
 * Helpers of the leader-election tests: several operator replicas, each the chart's
 * environment with its own POD_NAME and its own ServiceAccount (bound to the chart's Role and
 * ClusterRole), on a control plane that writes an audit log, so that every write is
 * attributed by the API server itself to the replica that made it.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { AppsV1Api, CoordinationV1Api, CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { CHART_DIR } from './chart';
import { ControlPlane } from './control-plane';
import { runHelm } from './kube';
import { freePort, OperatorProcess, startOperator } from './operator-process';

export const LEASE_NAME = 'kube9-operator-leader';
export const STATUS_NAME = 'kube9-operator-status';
export const STATE_NAME = 'kube9-operator-state';

export interface Cluster {
  controlPlane: ControlPlane;
  core: CoreV1Api;
  coordination: CoordinationV1Api;
  namespace: string;
  release: string;
}

export function clusterOf(controlPlane: ControlPlane, namespace: string, release = 'kube9-operator'): Cluster {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(controlPlane.kubeconfigPath);
  return {
    controlPlane,
    core: kubeConfig.makeApiClient(CoreV1Api),
    coordination: kubeConfig.makeApiClient(CoordinationV1Api),
    namespace,
    release,
  };
}

/** helm install of the chart into the cluster's namespace (created by helm). */
export async function installChart(cluster: Cluster, set: Record<string, string>): Promise<void> {
  const sets = Object.entries(set).flatMap(([key, value]) => ['--set', `${key}=${value}`]);
  const result = await runHelm(
    ['upgrade', '--install', cluster.release, CHART_DIR, '-n', cluster.namespace, '--create-namespace', ...sets],
    { kubeconfig: cluster.controlPlane.kubeconfigPath },
  );
  if (result.code !== 0) throw new Error(`helm install failed: ${result.stderr}`);
}

/** The Deployment's literal environment plus the namespace the Downward API would give. */
async function chartEnv(cluster: Cluster): Promise<Record<string, string>> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(cluster.controlPlane.kubeconfigPath);
  const apps = kubeConfig.makeApiClient(AppsV1Api);
  const deployment = await apps.readNamespacedDeployment({ name: cluster.release, namespace: cluster.namespace });
  const env: Record<string, string> = {};
  for (const variable of deployment.spec!.template.spec!.containers[0].env ?? []) {
    if (variable.value !== undefined) env[variable.name] = variable.value;
    else if (variable.valueFrom?.fieldRef?.fieldPath === 'metadata.namespace') env[variable.name] = cluster.namespace;
  }
  return env;
}

/** A ServiceAccount named after the replica, bound to the chart's Role and ClusterRole. */
async function replicaAccount(cluster: Cluster, name: string): Promise<string> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(cluster.controlPlane.kubeconfigPath);
  const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  const namespace = cluster.namespace;
  await cluster.core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  const subjects = [{ kind: 'ServiceAccount', name, namespace }];
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: `replica-${name}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: cluster.release },
      subjects,
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: `${namespace}-replica-${name}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${cluster.release}-${namespace}` },
      subjects,
    },
  });
  const token = await cluster.controlPlane.mintToken(namespace, name);
  return cluster.controlPlane.kubeconfigForToken(token, `${namespace}-${name}`);
}

export interface Replica {
  name: string;
  /** The API server's name for its user. */
  user: string;
  process: OperatorProcess;
}

/**
 * With KUBE9_LEADER_LOG_DIR set, keeps each replica's output and the API server's audit log
 * there, for reading a failed run afterwards.
 */
export function saveLeaderLogs(replicas: Iterable<Replica>, controlPlane: ControlPlane | undefined): void {
  const dir = process.env.KUBE9_LEADER_LOG_DIR;
  if (!dir) return;
  for (const replica of replicas) writeFileSync(`${dir}/${replica.name}.log`, replica.process.output());
  if (controlPlane?.auditLogPath) copyFileSync(controlPlane.auditLogPath, `${dir}/audit.log`);
}

/** Starts one replica as the chart would run it, as POD_NAME=name with ServiceAccount name. */
export async function startReplica(cluster: Cluster, name: string, env: Record<string, string> = {}): Promise<Replica> {
  const kubeconfig = await replicaAccount(cluster, name);
  const process = await startOperator({
    ...(await chartEnv(cluster)),
    KUBECONFIG: kubeconfig,
    POD_NAME: name,
    PORT: String(await freePort()),
    ...env,
  });
  return { name, user: `system:serviceaccount:${cluster.namespace}:${name}`, process };
}

export async function leaseHolder(
  cluster: Cluster,
): Promise<{ holder: string; acquireTime?: number; renewTime?: number } | undefined> {
  try {
    const lease = await cluster.coordination.readNamespacedLease({ name: LEASE_NAME, namespace: cluster.namespace });
    const time = (value: unknown) => (value ? new Date(value as string | Date).getTime() : undefined);
    return {
      holder: lease.spec?.holderIdentity ?? '',
      acquireTime: time(lease.spec?.acquireTime),
      renewTime: time(lease.spec?.renewTime),
    };
  } catch {
    return undefined;
  }
}

export async function statusDocument(cluster: Cluster): Promise<Record<string, unknown> | undefined> {
  try {
    const configMap = await cluster.core.readNamespacedConfigMap({ name: STATUS_NAME, namespace: cluster.namespace });
    return JSON.parse(configMap.data!.status) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** One write the API server completed, from its audit log. */
export interface AuditedWrite {
  at: number;
  user: string;
  verb: string;
  resource: string;
  name: string;
  code: number;
  /** For Lease writes: the holder the request wrote. */
  holder?: string;
  /** The pod whose ServiceAccount token made the request (a pod's bound token names it). */
  pod?: string;
}

export function auditedWrites(controlPlane: ControlPlane, namespace: string): AuditedWrite[] {
  const text = readFileSync(controlPlane.auditLogPath!, 'utf8');
  const writes: AuditedWrite[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    const event = JSON.parse(line) as {
      stage: string;
      verb: string;
      user: { username: string; extra?: Record<string, string[]> };
      objectRef?: { resource?: string; namespace?: string; name?: string };
      responseStatus?: { code?: number };
      requestObject?: { metadata?: { name?: string }; spec?: { holderIdentity?: string } };
      stageTimestamp: string;
    };
    if (event.stage !== 'ResponseComplete' || event.objectRef?.namespace !== namespace) continue;
    writes.push({
      at: Date.parse(event.stageTimestamp),
      user: event.user.username,
      verb: event.verb,
      resource: event.objectRef.resource ?? '',
      name: event.objectRef.name || event.requestObject?.metadata?.name || '',
      code: event.responseStatus?.code ?? 0,
      holder: event.objectRef.resource === 'leases' ? (event.requestObject?.spec?.holderIdentity ?? '') : undefined,
      pod: event.user.extra?.['authentication.kubernetes.io/pod-name']?.[0],
    });
  }
  return writes.sort((a, b) => a.at - b.at);
}

/**
 * Every successful write of the status or state ConfigMap or of an Event, checked against the
 * Lease holder at that moment as the successful Lease writes in the same audit log say it.
 * Returns the writes that did not come from the holder (empty when all did). `userOf` names the
 * writer a holder is, as `writerOf` names the writer of a write (by default its user; replicas
 * that are pods of one ServiceAccount are told apart by their pod).
 */
export function writesNotFromHolder(
  writes: AuditedWrite[],
  userOf: (holder: string) => string,
  writerOf: (write: AuditedWrite) => string | undefined = (write) => write.user,
): AuditedWrite[] {
  let holderUser: string | undefined;
  const offenders: AuditedWrite[] = [];
  for (const write of writes) {
    const ok = write.code >= 200 && write.code < 300;
    if (!ok) continue;
    if (write.resource === 'leases' && write.name === LEASE_NAME) {
      holderUser = write.holder ? userOf(write.holder) : undefined;
      continue;
    }
    const operatorObject =
      (write.resource === 'configmaps' && (write.name === STATUS_NAME || write.name === STATE_NAME)) ||
      write.resource === 'events';
    const fromAReplica = write.user.startsWith('system:serviceaccount:');
    if (operatorObject && fromAReplica && writerOf(write) !== holderUser) offenders.push(write);
  }
  return offenders;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
