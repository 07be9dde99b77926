/*
 * The Prometheus Operator's CustomResourceDefinitions for ServiceMonitor, PodMonitor and
 * PrometheusRule, from the Go module pinned in test/controlplane/go/prometheus-operator
 * (fetched by `go mod download` from the module proxy, verified against its go.sum, kept in
 * the Go module cache). Installed in the test control plane, they let the API server validate
 * the chart's monitoring objects against the Prometheus Operator's own OpenAPI schemas.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import {
  ApiException,
  ApiextensionsV1Api,
  KubeConfig,
  loadYaml,
  V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { repoRoot } from './binaries';

const execFileAsync = promisify(execFile);
const MODULE = 'github.com/prometheus-operator/prometheus-operator';
const KINDS = ['servicemonitors', 'podmonitors', 'prometheusrules'];

/** The CRDs of the pinned module version (downloaded on first use). */
export async function prometheusOperatorCrds(): Promise<V1CustomResourceDefinition[]> {
  const moduleDir = path.join(repoRoot(), 'test', 'controlplane', 'go', 'prometheus-operator');
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync('go', ['mod', 'download', '-json', MODULE], {
      cwd: moduleDir,
      env: { ...process.env, GOFLAGS: '-mod=mod' },
      maxBuffer: 4 << 20,
    }));
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `go mod download ${MODULE} failed (the Go toolchain and its module proxy are needed): ${e.stdout ?? ''}${e.stderr ?? e.message}`,
      {
        cause: err,
      },
    );
  }
  const { Dir: dir } = JSON.parse(stdout) as { Dir: string };
  // loadYaml maps the wire names (x-kubernetes-int-or-string, $ref) onto client-node's model, which
  // would otherwise drop them when it serializes the CRD.
  return KINDS.map((kind) =>
    loadYaml<V1CustomResourceDefinition>(
      readFileSync(path.join(dir, 'example', 'prometheus-operator-crd', `monitoring.coreos.com_${kind}.yaml`), 'utf8'),
    ),
  );
}

/** Creates the CRDs (an existing one is left as it is) and waits until the API server serves them. */
export async function installPrometheusOperatorCrds(kc: KubeConfig): Promise<string[]> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const names: string[] = [];
  for (const crd of await prometheusOperatorCrds()) {
    const name = crd.metadata!.name!;
    names.push(name);
    try {
      await api.createCustomResourceDefinition({ body: crd });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 409)) throw err;
    }
  }
  const deadline = Date.now() + 30_000;
  for (const name of names) {
    for (;;) {
      const crd = await api.readCustomResourceDefinition({ name });
      if (crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after 30 s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return names;
}

export async function deletePrometheusOperatorCrds(kc: KubeConfig, names: string[]): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  for (const name of names) {
    await api.deleteCustomResourceDefinition({ name }).catch((err: unknown) => {
      if (!(err instanceof ApiException && err.code === 404)) throw err;
    });
  }
}
