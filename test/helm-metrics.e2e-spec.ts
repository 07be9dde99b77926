/**
 * The chart's metrics values (SPEC sections 5 and 7), rendered by the real helm
 * client. The Prometheus Operator and its CRDs are not installed here, so the
 * ServiceMonitor, PodMonitor and PrometheusRule are checked for their shape:
 * the fields the Prometheus Operator requires, selectors that match the
 * Service's and the pod's labels, port names that exist, and alert expressions
 * that parse as PromQL (Prometheus' own Lezer grammar) and use only metrics the
 * operator exports.
 *
 *   npx jest --config test/jest-e2e.config.js test/helm-metrics.e2e-spec.ts
 */
import type { V1Deployment, V1Service } from '@kubernetes/client-node';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { METRIC_NAMES } from '../src/modules/metrics/metrics.constants';
import {
  K8sObject as RenderedObject,
  lint,
  NAMESPACE,
  only as onlyOne,
  removeHelmScratch,
  render,
  Sets as Values,
  template,
} from './support/helm-render';

/** The Prometheus Operator's pattern for a Duration (monitoring.coreos.com/v1 CRDs). */
const DURATION = /^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$/;

/** A rendered object whose spec the tests read (ServiceMonitor, PodMonitor, PrometheusRule). */
type K8sObject = RenderedObject & { spec?: any };

afterAll(() => removeHelmScratch());

function only<T = K8sObject>(objects: K8sObject[], kind: string): T {
  return onlyOne<T>(objects, kind);
}

function kinds(objects: K8sObject[]): string[] {
  return objects.map((o) => o.kind);
}

function podAnnotations(objects: K8sObject[]): Record<string, string> {
  return only<V1Deployment>(objects, 'Deployment').spec!.template.metadata!.annotations ?? {};
}

const MONITORING_KINDS = ['ServiceMonitor', 'PodMonitor', 'PrometheusRule'];

/** Every `key: value` of `selector` is among `labels`. */
function selects(selector: Record<string, string>, labels: Record<string, string> = {}): boolean {
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

describe('defaults: no Prometheus Operator objects, scrape annotations on the pod', () => {
  let objects: K8sObject[];

  beforeAll(() => {
    objects = render();
  });

  it('renders no ServiceMonitor, PodMonitor or PrometheusRule', () => {
    expect(kinds(objects).filter((kind) => MONITORING_KINDS.includes(kind))).toEqual([]);
  });

  it("annotates the pod with prometheus.io/scrape, the container's http port and /metrics", () => {
    const deployment = only<V1Deployment>(objects, 'Deployment');
    const http = deployment.spec!.template.spec!.containers[0].ports!.find((p) => p.name === 'http')!;

    expect(podAnnotations(objects)).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(http.containerPort),
      'prometheus.io/path': '/metrics',
    });
  });

  it('follows containerPort', () => {
    expect(podAnnotations(render({ set: { containerPort: 9090 } }))['prometheus.io/port']).toBe('9090');
  });

  it.each<[string, Values]>([
    ['metrics.scrapeAnnotations=false', { set: { 'metrics.scrapeAnnotations': false } }],
    ['a ServiceMonitor', { set: { 'metrics.serviceMonitor.enabled': true } }],
    ['a PodMonitor', { set: { 'metrics.podMonitor.enabled': true } }],
  ])('leaves them out with %s (no double scrape)', (_name, values) => {
    const annotations = podAnnotations(render(values));
    expect(Object.keys(annotations).filter((key) => key.startsWith('prometheus.io/'))).toEqual([]);
    expect(annotations['checksum/config']).toMatch(/^[0-9a-f]{64}$/);
  });

  it("keeps the user's own prometheus.io/scrape annotation, without a duplicate key", () => {
    const annotations = podAnnotations(render({ setString: { 'podAnnotations.prometheus\\.io/scrape': 'false' } }));
    expect(annotations['prometheus.io/scrape']).toBe('false');
    expect(annotations['prometheus.io/path']).toBeUndefined();
  });
});

describe('metrics.serviceMonitor', () => {
  let objects: K8sObject[];
  let monitor: K8sObject;

  beforeAll(() => {
    objects = render({
      set: {
        'metrics.serviceMonitor.enabled': true,
        'metrics.serviceMonitor.interval': '45s',
        'metrics.serviceMonitor.scrapeTimeout': '15s',
        'metrics.serviceMonitor.labels.release': 'prometheus',
      },
    });
    monitor = only(objects, 'ServiceMonitor');
  });

  it('is a monitoring.coreos.com/v1 ServiceMonitor in the release namespace, with its extra labels', () => {
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.metadata.namespace).toBe(NAMESPACE);
    expect(monitor.metadata.labels).toMatchObject({
      'app.kubernetes.io/name': 'kube9-operator',
      release: 'prometheus',
    });
  });

  it("selects the chart's Service by its labels, in its namespace", () => {
    const service = only<V1Service>(objects, 'Service');
    const selector = monitor.spec.selector.matchLabels as Record<string, string>;

    expect(Object.keys(selector).length).toBeGreaterThan(0);
    expect(selects(selector, service.metadata!.labels)).toBe(true);
    expect(monitor.spec.namespaceSelector).toEqual({ matchNames: [NAMESPACE] });
  });

  it("scrapes /metrics on a port the Service names, which reaches the container's http port", () => {
    const service = only<V1Service>(objects, 'Service');
    const deployment = only<V1Deployment>(objects, 'Deployment');
    const [endpoint] = monitor.spec.endpoints as Array<Record<string, string>>;
    const servicePort = service.spec!.ports!.find((p) => p.name === endpoint.port);

    expect(monitor.spec.endpoints).toHaveLength(1);
    expect(servicePort).toBeDefined();
    expect(deployment.spec!.template.spec!.containers[0].ports!.map((p) => p.name)).toContain(servicePort!.targetPort);
    expect(endpoint).toEqual({ port: 'http', path: '/metrics', scheme: 'http', interval: '45s', scrapeTimeout: '15s' });
  });

  it('leaves interval and scrapeTimeout to Prometheus when empty', () => {
    const bare = only(
      render({
        set: { 'metrics.serviceMonitor.enabled': true },
        setString: { 'metrics.serviceMonitor.interval': '', 'metrics.serviceMonitor.scrapeTimeout': '' },
      }),
      'ServiceMonitor',
    );
    expect(bare.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', scheme: 'http' }]);
  });
});

describe('metrics.podMonitor', () => {
  let objects: K8sObject[];
  let monitor: K8sObject;

  beforeAll(() => {
    objects = render({
      set: { 'metrics.podMonitor.enabled': true, 'metrics.podMonitor.labels.team': 'platform' },
    });
    monitor = only(objects, 'PodMonitor');
  });

  it('is a monitoring.coreos.com/v1 PodMonitor in the release namespace, with its extra labels', () => {
    expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(monitor.metadata.namespace).toBe(NAMESPACE);
    expect(monitor.metadata.labels).toMatchObject({ team: 'platform' });
  });

  it("selects the operator's pods by their labels and scrapes /metrics on the container port named http", () => {
    const template = only<V1Deployment>(objects, 'Deployment').spec!.template;
    const selector = monitor.spec.selector.matchLabels as Record<string, string>;
    const [endpoint] = monitor.spec.podMetricsEndpoints as Array<Record<string, string>>;

    expect(selects(selector, template.metadata!.labels)).toBe(true);
    expect(monitor.spec.namespaceSelector).toEqual({ matchNames: [NAMESPACE] });
    expect(template.spec!.containers[0].ports!.map((p) => p.name)).toContain(endpoint.port);
    expect(endpoint).toEqual({ port: 'http', path: '/metrics', scheme: 'http', interval: '30s', scrapeTimeout: '10s' });
  });

  it('can be rendered next to a ServiceMonitor', () => {
    const both = render({ set: { 'metrics.podMonitor.enabled': true, 'metrics.serviceMonitor.enabled': true } });
    expect(
      kinds(both)
        .filter((kind) => MONITORING_KINDS.includes(kind))
        .sort(),
    ).toEqual(['PodMonitor', 'ServiceMonitor']);
  });
});

describe('metrics.prometheusRule', () => {
  interface Rule {
    alert: string;
    expr: string;
    for: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  }
  let rule: K8sObject;
  let rules: Rule[];

  beforeAll(() => {
    rule = only(
      render({ set: { 'metrics.prometheusRule.enabled': true, 'metrics.prometheusRule.labels.role': 'alerts' } }),
      'PrometheusRule',
    );
    rules = (rule.spec.groups as Array<{ name: string; rules: Rule[] }>).flatMap((group) => group.rules);
  });

  const byName = (alert: string) => rules.find((r) => r.alert === alert)!;

  it('is a monitoring.coreos.com/v1 PrometheusRule with named groups of rules', () => {
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.metadata.namespace).toBe(NAMESPACE);
    expect(rule.metadata.labels).toMatchObject({ role: 'alerts' });
    for (const group of rule.spec.groups as Array<{ name: string; rules: Rule[] }>) {
      expect(group.name).toMatch(/\S/);
      expect(group.rules.length).toBeGreaterThan(0);
    }
    expect(rules.map((r) => r.alert).sort()).toEqual([
      'Kube9OperatorRegistrationFailing',
      'Kube9OperatorStatusNotWritten',
    ]);
  });

  it('every rule has an expr, a for that is a duration, a severity and a summary', () => {
    for (const r of rules) {
      expect(r.expr).toMatch(/\S/);
      expect(r.for).toMatch(DURATION);
      expect(r.labels.severity).toBe('warning');
      expect(r.annotations.summary).toMatch(/\S/);
    }
  });

  it('every expr parses as PromQL', () => {
    for (const r of rules) {
      const errors: string[] = [];
      promqlParser.parse(r.expr).iterate({
        enter: (node) => {
          if (node.type.isError)
            errors.push(`${r.alert}: error at ${node.from}: ${r.expr.slice(node.from, node.from + 30)}`);
        },
      });
      expect(errors).toEqual([]);
    }
  });

  it('the PromQL grammar check can fail (a broken expression is caught)', () => {
    let errors = 0;
    promqlParser
      .parse('time() - max by (namespace) (x')
      .iterate({ enter: (node) => void (node.type.isError && errors++) });
    expect(errors).toBeGreaterThan(0);
  });

  it('uses only metrics the operator exports, scoped to the release namespace', () => {
    const exported = new Set<string>(Object.values(METRIC_NAMES));
    for (const r of rules) {
      const used = r.expr.match(/kube9_operator_[a-z_]+/g) ?? [];
      expect(used.length).toBeGreaterThan(0);
      expect(used.filter((name) => !exported.has(name))).toEqual([]);
      expect(r.expr.match(/\{[^}]*\}/g)!.every((selector) => selector.includes(`namespace="${NAMESPACE}"`))).toBe(true);
    }
  });

  it('status not written: the last write is older than 3 intervals (the interval the operator uses now)', () => {
    const r = byName('Kube9OperatorStatusNotWritten');
    expect(r.expr).toContain(`time() - max by (namespace) (${METRIC_NAMES.lastStatusWrite}`);
    expect(r.expr).toContain(`> 3 * max by (namespace) (${METRIC_NAMES.statusInterval}`);
  });

  it('registration failing: a key, and not registered or degraded, for an hour', () => {
    const r = byName('Kube9OperatorRegistrationFailing');
    expect(r.for).toBe('1h');
    expect(r.expr).toContain(`${METRIC_NAMES.apiKeyConfigured}{namespace="${NAMESPACE}"}) == 1`);
    expect(r.expr).toContain(`${METRIC_NAMES.registered}{namespace="${NAMESPACE}"}) == 0`);
    expect(r.expr).toContain(`${METRIC_NAMES.health}{namespace="${NAMESPACE}",state="degraded"}) == 1`);
  });
});

describe('helm lint --strict', () => {
  it('passes with every metrics object on', () => {
    const result = lint({
      set: {
        'metrics.serviceMonitor.enabled': true,
        'metrics.podMonitor.enabled': true,
        'metrics.prometheusRule.enabled': true,
        'metrics.serviceMonitor.labels.release': 'prometheus',
      },
    });
    expect(`${result.stdout}${result.stderr}`).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(result.status).toBe(0);
  });
});

describe('bad metrics values are rejected with a message naming the value', () => {
  it.each<[string, Values, RegExp[]]>([
    [
      'a serviceMonitor interval that is not a duration',
      { set: { 'metrics.serviceMonitor.interval': '30seconds' } },
      [/\/metrics\/serviceMonitor\/interval/, /pattern/],
    ],
    [
      'a podMonitor scrapeTimeout without a unit',
      { setString: { 'metrics.podMonitor.scrapeTimeout': '10' } },
      [/\/metrics\/podMonitor\/scrapeTimeout/, /pattern/],
    ],
    [
      'serviceMonitor.enabled as a string',
      { setString: { 'metrics.serviceMonitor.enabled': 'yes' } },
      [/\/metrics\/serviceMonitor\/enabled/, /want boolean/],
    ],
    [
      'a label value that is not a string (values file)',
      { valuesFile: { metrics: { podMonitor: { enabled: true, labels: { release: 2 } } } } },
      [/\/metrics\/podMonitor\/labels\/release/, /want string/],
    ],
    [
      'an unknown key inside metrics.prometheusRule',
      { set: { 'metrics.prometheusRule.enable': true } },
      [/\/metrics\/prometheusRule/, /additional properties 'enable' not allowed/],
    ],
    [
      'an unknown key inside metrics',
      { set: { 'metrics.serviceMonitors.enabled': true } },
      [/\/metrics/, /additional properties 'serviceMonitors' not allowed/],
    ],
  ])('%s', (_name, values, messages) => {
    const result = template(values);
    expect(result.status).not.toBe(0);
    expect(result.stdout).toBe('');
    for (const message of messages) expect(result.stderr).toMatch(message);
  });
});
