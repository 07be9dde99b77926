/*
 * The chart rendered by the real helm v3 client, without a cluster: what the
 * chart tests share (`helm template`, `helm lint`, and picking objects out of
 * the render). helm keeps its cache and configuration in a scratch directory,
 * never in the user's home; a spec calls removeHelmScratch() in its afterAll.
 *
 * The helm binary: KUBE9_TEST_HELM, else .cache/bin/current/helm (built by
 * test/controlplane/build.sh).
 */
import type { V1Container, V1Deployment, V1EnvVar, V1PodSpec, V1PolicyRule } from '@kubernetes/client-node';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as yaml from 'js-yaml';
import { repoRoot } from './binaries';

export const ROOT = repoRoot();
export const CHART = join(ROOT, 'helm', 'kube9-operator');
export const HELM = resolve(ROOT, process.env.KUBE9_TEST_HELM ?? '.cache/bin/current/helm');
/** The release and namespace `template()` renders for; the release name makes FULLNAME. */
export const RELEASE = 'kube9-operator';
export const NAMESPACE = 'kube9-system';
export const FULLNAME = 'kube9-operator';

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}

export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

let scratch: string | undefined;
let scratchFiles = 0;

/** helm's home for this test file, created on first use. */
function helmHome(): string {
  scratch ??= mkdtempSync(join(tmpdir(), 'kube9-helm-'));
  return scratch;
}

/** A new path inside the scratch directory. */
export function scratchPath(prefix: string): string {
  return join(helmHome(), `${prefix}-${++scratchFiles}`);
}

export function removeHelmScratch(): void {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  scratch = undefined;
}

export function helm(args: string[]): HelmResult {
  const home = helmHome();
  const result = spawnSync(HELM, args, {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH ?? '',
      HOME: home,
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_DATA_HOME: join(home, 'data'),
      KUBECONFIG: join(home, 'no-kubeconfig'),
    },
  });
  if (result.error) {
    throw new Error(`cannot run ${HELM} (build it with test/controlplane/build.sh helm)`, { cause: result.error });
  }
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * Values for `helm template` and `helm lint`: `--set` and `--set-string`
 * pairs, and a values file (`-f`), which is where a user's floats come from
 * (`--set` turns only integers and booleans into non-strings).
 */
export type Sets = {
  set?: Record<string, string | number | boolean>;
  setString?: Record<string, string>;
  valuesFile?: Record<string, unknown>;
};

export function setArgs({ set = {}, setString = {}, valuesFile }: Sets): string[] {
  const fileArgs: string[] = [];
  if (valuesFile) {
    const path = `${scratchPath('values')}.yaml`;
    writeFileSync(path, yaml.dump(valuesFile));
    fileArgs.push('--values', path);
  }
  return [
    ...fileArgs,
    ...Object.entries(set).flatMap(([key, value]) => ['--set', `${key}=${value}`]),
    ...Object.entries(setString).flatMap(([key, value]) => ['--set-string', `${key}=${value}`]),
  ];
}

export function template(sets: Sets = {}): HelmResult {
  return helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, ...setArgs(sets)]);
}

/** The objects `helm template` renders; throws with helm's message when it fails. */
export function render(sets: Sets = {}): K8sObject[] {
  const result = template(sets);
  if (result.status !== 0) {
    throw new Error(`helm template failed (${result.status}):\n${result.stderr}`);
  }
  return yaml.loadAll(result.stdout).filter((doc): doc is K8sObject => doc !== null && doc !== undefined);
}

/** `helm lint --strict` of the chart with these values. */
export function lint(sets: Sets = {}): HelmResult {
  return helm(['lint', '--strict', CHART, '--namespace', NAMESPACE, ...setArgs(sets)]);
}

export function find<T>(objects: K8sObject[], kind: string, name?: string): T | undefined {
  return objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name)) as T | undefined;
}

/** The one object of this kind; throws when there is none or more than one. */
export function only<T>(objects: K8sObject[], kind: string): T {
  const matches = objects.filter((o) => o.kind === kind);
  if (matches.length !== 1) {
    throw new Error(`expected one ${kind}, rendered: ${JSON.stringify(matches.map((o) => o.metadata.name))}`);
  }
  return matches[0] as T;
}

export function deploymentOf(objects: K8sObject[]): V1Deployment {
  return only<V1Deployment>(objects, 'Deployment');
}

/** The Deployment's one container; throws when it has another count. */
export function operatorContainer(deployment: V1Deployment): V1Container {
  const containers = deployment.spec!.template.spec!.containers;
  if (containers.length !== 1) throw new Error(`expected one container, found ${containers.length}`);
  return containers[0];
}

export function envOf(deployment: V1Deployment): Record<string, V1EnvVar> {
  return Object.fromEntries((operatorContainer(deployment).env ?? []).map((e) => [e.name, e]));
}

export function envValues(deployment: V1Deployment): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(envOf(deployment)).map(([name, e]) => [name, e.value]));
}

/** Sorted copies, so rule order inside a Role does not matter. */
export function normaliseRules(rules: V1PolicyRule[] = []): V1PolicyRule[] {
  return rules
    .map((r) => ({
      apiGroups: [...(r.apiGroups ?? [])].sort(),
      resources: [...(r.resources ?? [])].sort(),
      verbs: [...r.verbs].sort(),
      ...(r.resourceNames ? { resourceNames: [...r.resourceNames].sort() } : {}),
    }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

/**
 * The checks of the "restricted" Pod Security Standard that a pod spec can
 * fail: privilege, escalation, capabilities, non-root, seccomp, host
 * namespaces, volume types. Returns the violations, empty when compliant.
 */
export function restrictedViolations(spec: V1PodSpec): string[] {
  const violations: string[] = [];
  const pod = spec.securityContext ?? {};
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) violations.push('host namespaces');
  const allowedVolumeTypes = [
    'configMap',
    'csi',
    'downwardAPI',
    'emptyDir',
    'ephemeral',
    'persistentVolumeClaim',
    'projected',
    'secret',
  ];
  for (const volume of spec.volumes ?? []) {
    const types = Object.keys(volume).filter((k) => k !== 'name');
    if (!types.every((t) => allowedVolumeTypes.includes(t))) violations.push(`volume ${volume.name}: ${types}`);
  }
  if (pod.runAsUser === 0) violations.push('pod runAsUser 0');
  const podSeccomp = pod.seccompProfile?.type;
  if (podSeccomp !== undefined && !['RuntimeDefault', 'Localhost'].includes(podSeccomp)) violations.push('pod seccomp');
  for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
    const sc = c.securityContext ?? {};
    if (sc.privileged) violations.push(`${c.name}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) violations.push(`${c.name}: allowPrivilegeEscalation not false`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) violations.push(`${c.name}: capabilities not dropping ALL`);
    const added = (sc.capabilities?.add ?? []).filter((cap) => cap !== 'NET_BIND_SERVICE');
    if (added.length > 0) violations.push(`${c.name}: adds capabilities ${added}`);
    if ((sc.runAsNonRoot ?? pod.runAsNonRoot) !== true) violations.push(`${c.name}: runAsNonRoot not true`);
    if (sc.runAsUser === 0) violations.push(`${c.name}: runAsUser 0`);
    const seccomp = sc.seccompProfile?.type ?? podSeccomp;
    if (seccomp === undefined || !['RuntimeDefault', 'Localhost'].includes(seccomp)) {
      violations.push(`${c.name}: seccompProfile not RuntimeDefault or Localhost`);
    }
    if ((c.ports ?? []).some((p) => p.hostPort)) violations.push(`${c.name}: hostPort`);
  }
  return violations;
}
