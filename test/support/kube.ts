/*
 * Helpers the end-to-end tests share. They talk to the control plane that
 * test/support/global-setup.ts started, found through the environment:
 *   KUBE9_TEST_KUBECONFIG  admin kubeconfig
 *   KUBE9_TEST_HELM        helm binary
 *   KUBE9_TEST_CP_DIR      the control plane's directory
 * The ControlPlane object itself stays in Jest's main process; a test that
 * needs an API server outage starts its own with startControlPlane().
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import {
  ApiException,
  CoreV1Api,
  HttpMethod,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  RbacAuthorizationV1Api,
} from '@kubernetes/client-node';
import { writeTokenKubeconfig } from './control-plane';

export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run the end-to-end tests with --config test/jest-e2e.config.js (its global setup starts the control plane)`,
    );
  }
  return value;
}

/** A KubeConfig for the admin user (system:masters) of the test control plane. */
export function adminKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(requiredEnv('KUBE9_TEST_KUBECONFIG'));
  return kc;
}

/**
 * Server-side dry-run creates of objects exactly as rendered: the JSON goes as it is (client-node's
 * typed serializer would drop every field its models do not know), with `fieldValidation=Strict`, so
 * a field this API server does not know is refused by name instead of silently dropped (the
 * default, Warn, only adds a warning header). That is how a value that an older Kubernetes lacks
 * shows up.
 */
export class StrictDryRun extends KubernetesObjectApi {
  static forKubeConfig(kc: KubeConfig): StrictDryRun {
    const client = kc.makeApiClient(StrictDryRun);
    client.setDefaultNamespace(kc);
    return client;
  }

  /** Resolves when the API server would create `object`; rejects with its message otherwise. */
  async dryRun<T extends KubernetesObject>(object: T): Promise<T> {
    const context = this.configuration.baseServer.makeRequestContext(
      await this.specUriPath(object, 'create'),
      HttpMethod.POST,
    );
    context.setHeaderParam('Accept', 'application/json');
    context.setHeaderParam('Content-Type', 'application/json');
    context.setQueryParam('dryRun', 'All');
    context.setQueryParam('fieldValidation', 'Strict');
    context.setBody(JSON.stringify(object));
    return this.requestPromise<T>(context);
  }
}

/** A KubeConfig loaded from any kubeconfig file (e.g. one from `kubeconfigForToken`). */
export function kubeConfigFromFile(file: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return kc;
}

/** Creates a namespace named `<prefix>-<random>` and returns its name. */
export async function createTestNamespace(prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const base =
    prefix
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 50) || 'test';
  const name = `${base}-${randomBytes(3).toString('hex')}`;
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name, labels } } });
  return name;
}

/**
 * Deletes a namespace (a missing one is fine). With `wait`, resolves once it
 * is gone, which needs kube-controller-manager's namespace controller.
 */
export async function deleteTestNamespace(
  name: string,
  opts: { wait?: boolean; timeoutMs?: number } = {},
): Promise<void> {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  try {
    await core.deleteNamespace({ name });
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return;
    throw err;
  }
  if (!opts.wait) return;
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    try {
      await core.readNamespace({ name });
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return;
      throw err;
    }
    if (Date.now() > deadline) throw new Error(`namespace ${name} still exists after ${opts.timeoutMs ?? 60_000} ms`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * A token for a ServiceAccount from the TokenRequest API (as the admin). The
 * API server refuses an expiry under 600 seconds; default 3600.
 */
export async function mintToken(namespace: string, serviceAccount: string, expirationSeconds = 3600): Promise<string> {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  const answer = await core.createNamespacedServiceAccountToken({
    namespace,
    name: serviceAccount,
    body: { spec: { audiences: [], expirationSeconds } },
  });
  const token = answer.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${serviceAccount} returned no token`);
  return token;
}

/**
 * Writes a kubeconfig for the shared control plane whose user is `token`
 * (CA data embedded) and returns its path.
 */
export function kubeconfigForToken(token: string, name: string): string {
  const cluster = adminKubeConfig().getCurrentCluster();
  if (!cluster?.caData) throw new Error('the admin kubeconfig has no cluster CA data');
  return writeTokenKubeconfig(requiredEnv('KUBE9_TEST_CP_DIR'), cluster.server, cluster.caData, token, name);
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunHelmOptions {
  /** Default: the admin kubeconfig. */
  kubeconfig?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Default 120 s. */
  timeoutMs?: number;
}

/**
 * Runs the test helm binary with KUBECONFIG set and helm's cache, config and
 * data directories inside the control plane's directory (the user's own helm
 * setup is never read or changed). Never throws for a non-zero exit: look at
 * `code`.
 */
export function runHelm(args: string[], opts: RunHelmOptions = {}): Promise<HelmResult> {
  const helm = requiredEnv('KUBE9_TEST_HELM');
  const home = path.join(requiredEnv('KUBE9_TEST_CP_DIR'), 'helm');
  const dirs = { HELM_CACHE_HOME: 'cache', HELM_CONFIG_HOME: 'config', HELM_DATA_HOME: 'data' };
  for (const sub of Object.values(dirs)) mkdirSync(path.join(home, sub), { recursive: true });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KUBECONFIG: opts.kubeconfig ?? requiredEnv('KUBE9_TEST_KUBECONFIG'),
    ...Object.fromEntries(Object.entries(dirs).map(([k, sub]) => [k, path.join(home, sub)])),
    ...opts.env,
  };
  return new Promise((resolve) => {
    execFile(
      helm,
      args,
      { cwd: opts.cwd, env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
        const code = !e ? 0 : typeof e.code === 'number' ? e.code : -1;
        resolve({ code, stdout, stderr: e && code === -1 ? `${stderr}${e.message}` : stderr });
      },
    );
  });
}
/**
 * Every object in `namespace`, of every namespaced resource the API server serves (discovery),
 * as Kind/name; but what every namespace holds (the default ServiceAccount, kube-root-ca.crt)
 * and Events, which are history, not objects of the release (they expire after an hour).
 */
export async function everyObjectIn(namespace: string, kubeConfig: KubeConfig = adminKubeConfig()): Promise<string[]> {
  const options: https.RequestOptions = {};
  await kubeConfig.applyToHTTPSOptions(options);
  const get = (path: string) =>
    new Promise<any>((resolve, reject) => {
      https
        .get(new URL(path, kubeConfig.getCurrentCluster()!.server), options, (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () =>
            response.statusCode === 200
              ? resolve(JSON.parse(body))
              : reject(new Error(`GET ${path}: ${response.statusCode}`)),
          );
        })
        .on('error', reject);
    });
  const groups = (await get('/apis')) as { groups: { preferredVersion: { groupVersion: string } }[] };
  const bases = ['/api/v1', ...groups.groups.map((group) => `/apis/${group.preferredVersion.groupVersion}`)];
  const found: string[] = [];
  for (const base of bases) {
    const { resources } = (await get(base)) as {
      resources: { name: string; kind: string; namespaced: boolean; verbs: string[] }[];
    };
    for (const resource of resources) {
      if (!resource.namespaced || resource.name.includes('/') || !resource.verbs.includes('list')) continue;
      if (resource.kind === 'Event') continue;
      const { items } = (await get(`${base}/namespaces/${namespace}/${resource.name}`)) as {
        items: { metadata: { name: string } }[];
      };
      found.push(...items.map((item) => `${resource.kind}/${item.metadata.name}`));
    }
  }
  return found
    .filter((object) => object !== 'ServiceAccount/default' && object !== 'ConfigMap/kube-root-ca.crt')
    .sort();
}

/** ClusterRoles and ClusterRoleBindings whose name contains `text` (test namespaces are unique). */
export async function clusterScopedNamesWith(
  text: string,
  kubeConfig: KubeConfig = adminKubeConfig(),
): Promise<string[]> {
  const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  const [roles, bindings] = await Promise.all([rbac.listClusterRole(), rbac.listClusterRoleBinding()]);
  return [
    ...roles.items.map((role) => `ClusterRole/${role.metadata!.name}`),
    ...bindings.items.map((binding) => `ClusterRoleBinding/${binding.metadata!.name}`),
  ]
    .filter((name) => name.includes(text))
    .sort();
}
