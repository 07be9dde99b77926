/*
 * A real Prometheus scrapes the chart's pod on the real worker node (issue 19): the Prometheus
 * server (built from its pinned Go module by test/controlplane/build.sh) discovers the pod through kubernetes_sd_configs against our API server,
 * with a ServiceAccount token whose Role allows only list and watch of what discovery reads in
 * the operator's namespace, and scrapes it over the pod network (from the host, through the
 * node's veth: the route test/node/network.sh gives the host to the pods; the guard that drops
 * forwarded traffic stays as it is, and its counters stay at zero). Two jobs:
 *
 * - `annotated-pods` (role pod): the usual relabelling on the prometheus.io/* annotations the
 *   chart puts on the pod by default;
 * - `servicemonitor` (role endpoints): built from the ServiceMonitor the chart renders for this
 *   release (its selector, namespace, port name, path and scheme), as the Prometheus Operator
 *   would turn it into a scrape configuration, so a target that is up proves the monitor's
 *   selector and port name find the pod.
 *
 * It also evaluates the chart's PrometheusRule on the live series. Tests query its HTTP API:
 * up == 1, kube9_operator_info free then pro after `helm upgrade --set apiKey`,
 * kube9_operator_status_writes_total rising, no alert firing.
 *
 * Starts its own control plane with a node, and needs root.
 *
 *   npx jest --config test/jest-e2e.config.js test/prometheus-scrape.e2e-spec.ts
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api, V1Pod } from '@kubernetes/client-node';
import * as yaml from 'js-yaml';
import { METRIC_NAMES } from '../src/modules/metrics/metrics.constants';
import { CHART_DIR } from './support/chart';
import type { ControlPlane } from './support/control-plane';
import { helm as helmClient } from './support/helm-render';
import { waitFor } from './support/operator-process';
import { PrometheusServer, startPrometheus } from './support/prometheus-server';
import {
  apiKeyUpgradeArgs,
  createNodeNamespace,
  helmOk,
  isReady,
  nodeInstallArgs,
  operatorPods,
  RELEASE,
  startRealNode,
} from './support/real-node';
import type { ServerSimulator } from './support/server-simulator';

const NAMESPACE = 'kube9-prom';
const MONITORING = 'kube9-monitoring';
const INTERVAL_SECONDS = 10;
const SCRAPE = '2s';

let cp: ControlPlane;
let kc: KubeConfig;
let core: CoreV1Api;
let simulator: ServerSimulator;
let prometheus: PrometheusServer | undefined;
const figures: string[] = [];

jest.setTimeout(300_000);

beforeAll(async () => {
  ({ cp, kc, core, simulator } = await startRealNode({ intervalSeconds: INTERVAL_SECONDS, namespaces: [NAMESPACE] }));
  await createNodeNamespace(core, cp, MONITORING, { pullSecret: false });
}, 1_600_000);

afterAll(async () => {
  if (figures.length) console.log(`[prometheus-scrape] ${figures.join('; ')}`);
  await prometheus?.stop();
  await simulator?.stop();
  await cp?.stop();
});

/** The chart's objects for this release, rendered with `values` (no cluster needed). */
function rendered(values: string[]): any[] {
  const result = helmClient(['template', RELEASE, CHART_DIR, '--namespace', NAMESPACE, ...values]);
  if (result.status !== 0) throw new Error(result.stderr);
  return (yaml.loadAll(result.stdout) as any[]).filter(Boolean);
}

/** A label name as Prometheus' Kubernetes discovery spells it in __meta_* labels. */
const metaName = (label: string) => label.replace(/[^a-zA-Z0-9_]/g, '_');

/**
 * The scrape job the Prometheus Operator makes of a ServiceMonitor endpoint (role endpoints):
 * keep the Service's that match the selector, in the monitor's namespaces, on the named port.
 */
function serviceMonitorJob(monitor: any, sd: Record<string, unknown>) {
  const [endpoint] = monitor.spec.endpoints as { port: string; path: string; scheme: string }[];
  const matchLabels = monitor.spec.selector.matchLabels as Record<string, string>;
  return {
    job_name: 'servicemonitor',
    scrape_interval: SCRAPE,
    metrics_path: endpoint.path,
    scheme: endpoint.scheme,
    kubernetes_sd_configs: [
      { ...sd, role: 'endpoints', namespaces: { names: monitor.spec.namespaceSelector.matchNames } },
    ],
    relabel_configs: [
      ...Object.entries(matchLabels).map(([label, value]) => ({
        source_labels: [
          `__meta_kubernetes_service_label_${metaName(label)}`,
          `__meta_kubernetes_service_labelpresent_${metaName(label)}`,
        ],
        regex: `(${value});true`,
        action: 'keep',
      })),
      { source_labels: ['__meta_kubernetes_endpoint_port_name'], regex: endpoint.port, action: 'keep' },
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      { source_labels: ['__meta_kubernetes_service_name'], target_label: 'service' },
    ],
  };
}

/** The usual job for pods that carry prometheus.io/scrape, /port and /path annotations (role pod). */
function annotatedPodsJob(sd: Record<string, unknown>) {
  return {
    job_name: 'annotated-pods',
    scrape_interval: SCRAPE,
    kubernetes_sd_configs: [{ ...sd, role: 'pod', namespaces: { names: [NAMESPACE] } }],
    relabel_configs: [
      { source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_scrape'], regex: 'true', action: 'keep' },
      {
        source_labels: ['__meta_kubernetes_pod_annotation_prometheus_io_path'],
        regex: '(.+)',
        target_label: '__metrics_path__',
      },
      {
        source_labels: ['__address__', '__meta_kubernetes_pod_annotation_prometheus_io_port'],
        regex: '([^:]+)(?::\\d+)?;(\\d+)',
        replacement: '$1:$2',
        target_label: '__address__',
      },
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
    ],
  };
}

/** Prometheus' identity: a ServiceAccount whose Role lets it list and watch what discovery reads, in the operator's namespace only. */
async function prometheusToken(): Promise<string> {
  await core.createNamespacedServiceAccount({ namespace: MONITORING, body: { metadata: { name: 'prometheus' } } });
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace: NAMESPACE,
    body: {
      metadata: { name: 'prometheus-discovery' },
      rules: [{ apiGroups: [''], resources: ['pods', 'services', 'endpoints'], verbs: ['list', 'watch'] }],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace: NAMESPACE,
    body: {
      metadata: { name: 'prometheus-discovery' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'prometheus-discovery' },
      subjects: [{ kind: 'ServiceAccount', name: 'prometheus', namespace: MONITORING }],
    },
  });
  return cp.mintToken(MONITORING, 'prometheus');
}

async function operatorPod(): Promise<V1Pod> {
  return waitFor('a Ready operator pod', async () => (await operatorPods(core, NAMESPACE)).find(isReady), 120_000, 250);
}

/** Waits until `promql` returns samples that `accept` takes; returns them. */
async function eventually(
  what: string,
  promql: string,
  accept: (samples: { labels: Record<string, string>; value: number }[]) => boolean,
) {
  return waitFor(
    what,
    async () => {
      const samples = await prometheus!.query(promql);
      return accept(samples) ? samples : undefined;
    },
    90_000,
    1_000,
  );
}

describe('a real Prometheus scraping the chart’s pod on a real node', () => {
  let pod: V1Pod;
  let token: string;

  it('discovers the pod with a least-privilege token and scrapes it over the pod network: up == 1 in both jobs', async () => {
    const t0 = performance.now();
    await helmOk(cp, nodeInstallArgs(cp, NAMESPACE, simulator.url, INTERVAL_SECONDS));
    pod = await operatorPod();
    token = await prometheusToken();
    const sd = {
      api_server: cp.server,
      tls_config: { ca_file: 'ca.crt' },
      authorization: { credentials_file: 'token' },
    };
    const monitor = rendered(['--set', 'metrics.serviceMonitor.enabled=true']).find((o) => o.kind === 'ServiceMonitor');
    const rule = rendered(['--set', 'metrics.prometheusRule.enabled=true']).find((o) => o.kind === 'PrometheusRule');
    prometheus = await startPrometheus(cp.dir, {
      files: { 'ca.crt': fs.readFileSync(cp.caPath, 'utf8'), token },
      config: {
        global: { scrape_interval: SCRAPE, evaluation_interval: SCRAPE },
        rule_files: ['rules.yml'],
        scrape_configs: [annotatedPodsJob(sd), serviceMonitorJob(monitor, sd)],
      },
      ruleFiles: { 'rules.yml': { groups: rule.spec.groups } },
    });

    const up = await eventually('up == 1 for the pod in both jobs', 'up', (samples) =>
      ['annotated-pods', 'servicemonitor'].every((job) => samples.some((s) => s.labels.job === job && s.value === 1)),
    );
    figures.push(`helm install to up == 1 in both jobs ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(up.map((s) => [s.labels.job, s.labels.pod, s.labels.namespace, s.labels.instance, s.value]).sort()).toEqual([
      ['annotated-pods', pod.metadata!.name, NAMESPACE, `${pod.status!.podIP}:8080`, 1],
      ['servicemonitor', pod.metadata!.name, NAMESPACE, `${pod.status!.podIP}:8080`, 1],
    ]);
    const servicemonitor = up.find((s) => s.labels.job === 'servicemonitor')!;
    expect(servicemonitor.labels.service).toBe(RELEASE);
  });

  it("Prometheus' token can list nothing outside the operator's namespace", async () => {
    const user = new KubeConfig();
    user.loadFromFile(cp.kubeconfigForToken(token, 'prometheus'));
    const asPrometheus = user.makeApiClient(CoreV1Api);
    await expect(asPrometheus.listPodForAllNamespaces()).rejects.toThrow(/403|forbidden/i);
    await expect(asPrometheus.listNamespacedPod({ namespace: MONITORING })).rejects.toThrow(/403|forbidden/i);
    await expect(asPrometheus.listNamespacedSecret({ namespace: NAMESPACE })).rejects.toThrow(/403|forbidden/i);
    await expect(asPrometheus.listNamespacedPod({ namespace: NAMESPACE })).resolves.toBeDefined();
  });

  it('reads kube9_operator_info as free, and kube9_operator_status_writes_total rising', async () => {
    const [info] = await eventually(
      'the free tier',
      `${METRIC_NAMES.info}{job="annotated-pods"}`,
      (samples) => samples.length === 1,
    );
    expect(info.labels).toMatchObject({
      mode: 'operated',
      tier: 'free',
      namespace: NAMESPACE,
      pod: pod.metadata!.name,
    });
    expect(info.value).toBe(1);

    const writes = `${METRIC_NAMES.statusWrites}{job="annotated-pods",result="success"}`;
    const [first] = await eventually(
      'a successful write counted',
      writes,
      (samples) => samples.length === 1 && samples[0].value >= 1,
    );
    const [later] = await eventually('another write counted', writes, (samples) => samples[0]?.value > first.value);
    expect(later.value).toBeGreaterThan(first.value);
    const errors = await prometheus!.query(`${METRIC_NAMES.statusWrites}{result="error"}`);
    expect(errors.map((e) => [e.labels.job, e.value]).sort()).toEqual([
      ['annotated-pods', 0],
      ['servicemonitor', 0],
    ]);
  });

  it('reads it as pro after `helm upgrade --set apiKey=…`', async () => {
    await helmOk(cp, apiKeyUpgradeArgs(NAMESPACE));
    const [info] = await eventually(
      'the pro tier',
      `${METRIC_NAMES.info}{job="servicemonitor"}`,
      (samples) => samples.length === 1 && samples[0].labels.tier === 'pro',
    );
    expect(info.labels).toMatchObject({ mode: 'enabled', tier: 'pro', pod: pod.metadata!.name });
    // Each job scrapes on its own schedule: both see the registration within a scrape or two.
    const registered = await eventually(
      'registered in both jobs',
      METRIC_NAMES.registered,
      (samples) => samples.length === 2 && samples.every((sample) => sample.value === 1),
    );
    expect(registered.map((sample) => sample.labels.job).sort()).toEqual(['annotated-pods', 'servicemonitor']);
    expect((await prometheus!.query('up')).map((s) => s.value)).toEqual([1, 1]);
  });

  it("evaluates the chart's alerts on the live series: every rule healthy, none firing", async () => {
    const data = await prometheus!.api<{ groups: { rules: { name: string; health: string; lastError?: string }[] }[] }>(
      'rules',
    );
    const rules = data.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => [r.name, r.health, r.lastError ?? '']).sort()).toEqual([
      ['Kube9OperatorRegistrationFailing', 'ok', ''],
      ['Kube9OperatorStatusNotWritten', 'ok', ''],
    ]);
    const alerts = await prometheus!.api<{ alerts: { labels: Record<string, string>; state: string }[] }>('alerts');
    expect(alerts.alerts).toEqual([]);
    // The expressions see the series they are about (not an empty vector by a wrong label).
    const [age] = await prometheus!.query(
      `time() - max by (namespace) (${METRIC_NAMES.lastStatusWrite}{namespace="${NAMESPACE}"})`,
    );
    expect(age.value).toBeLessThan(3 * INTERVAL_SECONDS);
  });

  it('stops cleanly: Prometheus gone, its port closed and its directory removed; the guard dropped nothing', async () => {
    const { url, dir, process: server } = prometheus!;
    await prometheus!.stop();
    prometheus = undefined;
    expect(server.running).toBe(false);
    await expect(fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();
    expect(fs.existsSync(path.join(dir, 'prometheus.yml'))).toBe(false);
    await helmOk(cp, ['uninstall', RELEASE, '-n', NAMESPACE, '--wait', '--timeout', '120s']);
    expect(await cp.node!.guardCounters()).toEqual({ forward_drops: 0, output_drops: 0 });
  });
});
