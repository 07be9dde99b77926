/*
 * The chart's alerts evaluated by Prometheus' own rule engine, and the operator's /metrics
 * linted by Prometheus' own linter (issue 19), with promtool from Debian's `prometheus`
 * package:
 *
 * - `promtool check rules` on the rule groups of the rendered PrometheusRule;
 * - `promtool test rules`: for every alert of the chart, series as Prometheus would scrape
 *   them (one per pod, with the `namespace` label a pod's scrape gets), in which it fires when
 *   it should, at the time it should, with its labels and annotations, and stays silent while
 *   all is well. An alert of the chart without both kinds of case fails the test;
 * - `promtool check metrics` on real scrapes of the operator as a real process (free tier, and
 *   pro tier registered with the kube9-server simulator).
 *
 *   npx jest --config test/jest-e2e.config.js test/prometheus-alerts.e2e-spec.ts
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { METRIC_NAMES } from '../src/modules/metrics/metrics.constants';
import { helmInstall, runOperatorAsChart } from './support/chart';
import { NAMESPACE, only, removeHelmScratch, render } from './support/helm-render';
import { createTestNamespace, deleteTestNamespace } from './support/kube';
import { TEST_KEYS } from './support/keys';
import { scrapeMetrics } from './support/metrics';
import { getJson, OperatorProcess, waitFor } from './support/operator-process';
import { promtool } from './support/promtool';
import { ServerSimulator } from './support/server-simulator';

interface AlertingRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleGroup {
  name: string;
  rules: AlertingRule[];
}

/** One promtool unit test: input series, and the alerts expected at each evaluation time. */
interface AlertCase {
  name: string;
  series: Record<string, string>;
  expect: { at: string; alert: string; firing: boolean }[];
}

const NS = NAMESPACE;
const POD = 'kube9-operator-6d4f-abcde';
const FOLLOWER = 'kube9-operator-6d4f-fghij';
const s = (name: string, labels: Record<string, string> = {}) =>
  `${name}{${Object.entries({ namespace: NS, pod: POD, ...labels })
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;
const { lastStatusWrite, statusInterval, apiKeyConfigured, registered, health } = METRIC_NAMES;
/** The health gauge of one state, for `minutes` minutes at `value`. */
const healthy = (state: string, values: string) => ({ [s(health, { state })]: values });

/**
 * The cases of each alert of the chart. Series values use promtool's expanding notation
 * ('a+bxn': n+1 samples from a, b apart; one per minute). At evaluation time t (seconds),
 * time() is t, so a last-write timestamp series "0+60xN" is a write every minute.
 */
const CASES: Record<string, AlertCase[]> = {
  Kube9OperatorStatusNotWritten: [
    {
      name: 'a write every minute, interval 60 s: silent',
      series: { [s(lastStatusWrite)]: '0+60x30', [s(statusInterval)]: '60x30' },
      expect: [
        { at: '10m', alert: 'Kube9OperatorStatusNotWritten', firing: false },
        { at: '30m', alert: 'Kube9OperatorStatusNotWritten', firing: false },
      ],
    },
    {
      name: 'writes stop at 5m: over 3 intervals (180 s) after 8m, firing 1m later',
      series: { [s(lastStatusWrite)]: '0+60x5 300x25', [s(statusInterval)]: '60x30' },
      expect: [
        { at: '8m', alert: 'Kube9OperatorStatusNotWritten', firing: false },
        { at: '9m', alert: 'Kube9OperatorStatusNotWritten', firing: false },
        { at: '10m', alert: 'Kube9OperatorStatusNotWritten', firing: true },
        { at: '20m', alert: 'Kube9OperatorStatusNotWritten', firing: true },
      ],
    },
    {
      name: 'kube9-server set a 240 s interval: a write every 4 minutes is silent',
      series: {
        [s(lastStatusWrite)]: '0 0 0 0 240 240 240 240 480 480 480 480 720 720 720 720',
        [s(statusInterval)]: '240x15',
      },
      expect: [{ at: '15m', alert: 'Kube9OperatorStatusNotWritten', firing: false }],
    },
    {
      name: "two replicas: the follower's gauge stays 0, the leader's view (max) decides: silent",
      series: {
        [s(lastStatusWrite)]: '0+60x20',
        [s(statusInterval)]: '60x20',
        [s(lastStatusWrite, { pod: FOLLOWER })]: '0x20',
        [s(statusInterval, { pod: FOLLOWER })]: '60x20',
      },
      expect: [{ at: '15m', alert: 'Kube9OperatorStatusNotWritten', firing: false }],
    },
    {
      name: 'the Lease changes hands: the old pod gone, the new leader writes within seconds: silent',
      series: {
        [s(lastStatusWrite)]: '0+60x10',
        [s(statusInterval)]: '60x10',
        // The successor, a follower until 10m (gauge 0), writes from 11m on.
        [s(lastStatusWrite, { pod: FOLLOWER })]: '0x10 660+60x10',
        [s(statusInterval, { pod: FOLLOWER })]: '60x20',
      },
      expect: [
        { at: '11m', alert: 'Kube9OperatorStatusNotWritten', firing: false },
        { at: '20m', alert: 'Kube9OperatorStatusNotWritten', firing: false },
      ],
    },
  ],
  Kube9OperatorRegistrationFailing: [
    {
      name: 'pro, registered and healthy: silent',
      series: {
        [s(apiKeyConfigured)]: '1x150',
        [s(registered)]: '1x150',
        ...healthy('healthy', '1x150'),
        ...healthy('degraded', '0x150'),
      },
      expect: [{ at: '2h', alert: 'Kube9OperatorRegistrationFailing', firing: false }],
    },
    {
      name: 'free (no key), so never registered: silent',
      series: {
        [s(apiKeyConfigured)]: '0x150',
        [s(registered)]: '0x150',
        ...healthy('healthy', '1x150'),
        ...healthy('degraded', '0x150'),
      },
      expect: [{ at: '2h', alert: 'Kube9OperatorRegistrationFailing', firing: false }],
    },
    {
      name: 'a key, never registered: firing after an hour',
      series: {
        [s(apiKeyConfigured)]: '1x150',
        [s(registered)]: '0x150',
        ...healthy('healthy', '0x150'),
        ...healthy('degraded', '1x150'),
      },
      expect: [
        { at: '59m', alert: 'Kube9OperatorRegistrationFailing', firing: false },
        { at: '61m', alert: 'Kube9OperatorRegistrationFailing', firing: true },
      ],
    },
    {
      name: 'registered, but the re-registrations fail (degraded) from 10m: firing after 1h10m',
      series: {
        [s(apiKeyConfigured)]: '1x150',
        [s(registered)]: '1x150',
        ...healthy('healthy', '1x9 0x140'),
        ...healthy('degraded', '0x9 1x140'),
      },
      expect: [
        { at: '1h9m', alert: 'Kube9OperatorRegistrationFailing', firing: false },
        { at: '1h11m', alert: 'Kube9OperatorRegistrationFailing', firing: true },
      ],
    },
    {
      name: 'failing for 50 minutes, then registered: silent (the hour starts again)',
      series: {
        [s(apiKeyConfigured)]: '1x150',
        [s(registered)]: '0x50 1x100',
        ...healthy('healthy', '0x50 1x100'),
        ...healthy('degraded', '1x50 0x100'),
      },
      expect: [
        { at: '1h', alert: 'Kube9OperatorRegistrationFailing', firing: false },
        { at: '2h', alert: 'Kube9OperatorRegistrationFailing', firing: false },
      ],
    },
  ],
};

let dir: string;
let groups: RuleGroup[];
let alerts: AlertingRule[];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'kube9-promtool-'));
  const rule = only<{ spec: { groups: RuleGroup[] } }>(
    render({ set: { 'metrics.prometheusRule.enabled': true } }),
    'PrometheusRule',
  );
  groups = rule.spec.groups;
  alerts = groups.flatMap((g) => g.rules).filter((r) => r.alert);
  writeFileSync(join(dir, 'rules.yaml'), yaml.dump({ groups }));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  removeHelmScratch();
});

/** The annotations Prometheus renders for an alert of the namespace NS. */
function expandedAnnotations(rule: AlertingRule): Record<string, string> {
  return Object.fromEntries(
    Object.entries(rule.annotations ?? {}).map(([key, value]) => [
      key,
      value.replaceAll('{{ $labels.namespace }}', NS),
    ]),
  );
}

/** promtool's unit-test file for `cases`, the expected alerts taken from the rendered rules. */
function unitTests(cases: AlertCase[]): string {
  const byName = new Map(alerts.map((a) => [a.alert!, a]));
  return yaml.dump({
    rule_files: [join(dir, 'rules.yaml')],
    evaluation_interval: '1m',
    tests: cases.map((c) => ({
      name: c.name,
      interval: '1m',
      input_series: Object.entries(c.series).map(([series, values]) => ({ series, values })),
      alert_rule_test: c.expect.map((e) => ({
        eval_time: e.at,
        alertname: e.alert,
        exp_alerts: e.firing
          ? [
              {
                exp_labels: { namespace: NS, ...byName.get(e.alert)!.labels },
                exp_annotations: expandedAnnotations(byName.get(e.alert)!),
              },
            ]
          : [],
      })),
    })),
  });
}

async function testRules(cases: AlertCase[]) {
  const file = join(dir, `tests-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, unitTests(cases));
  return promtool(['test', 'rules', file]);
}

describe("the chart's PrometheusRule, evaluated by promtool", () => {
  it('its groups pass `promtool check rules`', async () => {
    const result = await promtool(['check', 'rules', join(dir, 'rules.yaml')]);
    expect({ code: result.code, out: `${result.stdout}${result.stderr}` }).toEqual({
      code: 0,
      out: expect.stringContaining(`SUCCESS: ${alerts.length} rules found`),
    });
  });

  it('every alert of the chart has a case where it fires and one where it stays silent', () => {
    const missing = alerts.flatMap((a) => {
      const expectations = Object.values(CASES)
        .flat()
        .flatMap((c) => c.expect)
        .filter((e) => e.alert === a.alert);
      return [
        ...(expectations.some((e) => e.firing) ? [] : [`${a.alert}: no case where it fires`]),
        ...(expectations.some((e) => !e.firing) ? [] : [`${a.alert}: no case where it stays silent`]),
      ];
    });
    expect(missing).toEqual([]);
    // And no case for an alert the chart does not have.
    expect(Object.keys(CASES).sort()).toEqual(alerts.map((a) => a.alert).sort());
  });

  it.each(Object.entries(CASES))(
    '%s: fires when it should and stays silent while all is well',
    async (_alert, cases) => {
      const result = await testRules(cases);
      expect({ code: result.code, out: `${result.stdout}${result.stderr}` }).toEqual({
        code: 0,
        out: expect.stringContaining('SUCCESS'),
      });
    },
  );

  it('promtool test rules can fail: a case expecting silence where the alert fires is reported', async () => {
    const [firing] = CASES.Kube9OperatorStatusNotWritten.filter((c) => c.expect.some((e) => e.firing));
    const wrong = { ...firing, expect: firing.expect.map((e) => ({ ...e, firing: false })) };
    const result = await testRules([wrong]);
    expect(result.code).not.toBe(0);
    expect(`${result.stdout}${result.stderr}`).toMatch(/FAILED/);
    expect(`${result.stdout}${result.stderr}`).toContain('Kube9OperatorStatusNotWritten');
  });
});

/**
 * What `promtool check metrics` says of prom-client's default Node.js metrics, which the SPEC
 * (section 7) asks for under their standard names: three gauges named with a counter's
 * `_total` suffix by prom-client itself (lib/metrics/processHandles.js, processRequests.js,
 * processResources.js). Renaming them would break the dashboards that read them; they are the
 * only problems allowed, and none may be about a kube9_operator_* metric.
 */
const PROM_CLIENT_LINT = [
  'nodejs_active_handles_total non-counter metrics should not have "_total" suffix',
  'nodejs_active_requests_total non-counter metrics should not have "_total" suffix',
  'nodejs_active_resources_total non-counter metrics should not have "_total" suffix',
];

/** The operator as a real process with the chart's environment, and a kube9-server simulator for pro. */
describe('`promtool check metrics` on real scrapes of the operator', () => {
  let simulator: ServerSimulator;
  const runs: { namespace: string; operator: OperatorProcess }[] = [];

  beforeAll(async () => {
    simulator = new ServerSimulator({
      validKeys: [TEST_KEYS.valid],
      configuration: { statusUpdateIntervalSeconds: 15, reregistrationIntervalHours: 2 },
    });
    await simulator.start();
  });

  afterAll(async () => {
    for (const run of runs.splice(0)) {
      await run.operator.stop().catch(() => undefined);
      await deleteTestNamespace(run.namespace);
    }
    await simulator?.stop();
  });

  async function start(name: string, apiKey?: string) {
    const namespace = await createTestNamespace(name);
    await helmInstall(namespace, 'kube9-operator', {
      serverUrl: simulator.url,
      allowInsecureServerUrl: 'true',
      statusUpdateIntervalSeconds: '10',
      ...(apiKey ? { apiKey } : {}),
    });
    const operator = await runOperatorAsChart(namespace, 'kube9-operator');
    runs.push({ namespace, operator });
    return operator;
  }

  it.each<[string, string | undefined, (status: Record<string, any>) => boolean]>([
    ['free tier', undefined, (status) => status.tier === 'free'],
    ['pro tier, registered', TEST_KEYS.valid, (status) => status.tier === 'pro' && status.registered],
  ])("%s: no lint problem but prom-client's own three", async (name, apiKey, reached) => {
    const operator = await start(`promtool-${name.split(' ')[0]}`, apiKey);
    await waitFor(
      name,
      async () => {
        const answer = await getJson(`${operator.baseUrl}/api/v1/status`).catch(() => undefined);
        return answer?.status === 200 && reached(answer.body as Record<string, any>) ? true : undefined;
      },
      30_000,
      200,
    );
    const scrape = await scrapeMetrics(operator.baseUrl);
    expect(scrape.all(METRIC_NAMES.info)).toHaveLength(1);

    const result = await promtool(['check', 'metrics'], scrape.text);

    // Every problem is one of prom-client's own (upstream) names, none of ours.
    const problems = `${result.stdout}${result.stderr}`.trim().split('\n').filter(Boolean);
    expect(problems.filter((line) => !PROM_CLIENT_LINT.includes(line))).toEqual([]);
    expect(problems.filter((line) => line.startsWith('kube9_operator_'))).toEqual([]);
    expect(result.code).toBe(problems.length === 0 ? 0 : 3);
  });

  it('promtool check metrics can fail: a counter without _total is reported', async () => {
    const result = await promtool(
      ['check', 'metrics'],
      '# HELP k9_writes Writes.\n# TYPE k9_writes counter\nk9_writes 1\n',
    );
    expect(result.code).not.toBe(0);
    expect(`${result.stdout}${result.stderr}`).toMatch(/k9_writes.*counter metrics should have "_total" suffix/);
  });
});
