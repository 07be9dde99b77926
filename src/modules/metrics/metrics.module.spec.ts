/*
 * GET /metrics as Prometheus scrapes it, from the real MetricsModule (prom-client through
 * @willsoto/nestjs-prometheus) on a real HTTP server; only leader election is swapped.
 */
import { INestApplication, Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { register } from 'prom-client';
import { FakeLeadership } from '@test/unit/fakes';
import { parseMetrics, Scrape } from '@test/support/metrics';
import { LeaderElectionModule } from '../leader-election/leader-election.module';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import { METRIC_NAMES, REGISTRATION_ATTEMPT_OUTCOMES } from './metrics.constants';
import { MetricsModule } from './metrics.module';
import { OperatorMetrics } from './operator-metrics.service';

const PRO = {
  version: '0.1.0',
  mode: 'enabled',
  tier: 'pro',
  health: 'healthy',
  registered: true,
  apiKeyConfigured: true,
} as const;

describe('MetricsModule behind GET /metrics', () => {
  let app: INestApplication;
  let metrics: OperatorMetrics;
  let leadership: FakeLeadership;

  async function start(electionEnabled = false): Promise<void> {
    leadership = new FakeLeadership();
    leadership.enabled = electionEnabled;
    @Module({ providers: [{ provide: LeaderElectionService, useValue: leadership }], exports: [LeaderElectionService] })
    class FakeLeadershipModule {}
    const moduleRef = await Test.createTestingModule({ imports: [MetricsModule] })
      .overrideModule(LeaderElectionModule)
      .useModule(FakeLeadershipModule)
      .compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    metrics = app.get(OperatorMetrics);
  }

  async function scrape(): Promise<Scrape> {
    const response = await fetch(`${await app.getUrl()}/metrics`);
    expect(response.status).toBe(200);
    return parseMetrics(await response.text(), response.headers.get('content-type') ?? '');
  }

  afterEach(async () => {
    await app.close();
    // prom-client's default registry outlives the app; the next test registers afresh.
    register.clear();
  });

  it('answers in the Prometheus text format, with the process_* and nodejs_* defaults', async () => {
    await start();

    const scraped = await scrape();

    expect(scraped.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(scraped.value('process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(scraped.value('process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(scraped.all('nodejs_heap_size_used_bytes')).toHaveLength(1);
    expect(scraped.all('nodejs_eventloop_lag_seconds')).toHaveLength(1);
  });

  it('declares every metric of SPEC section 7 with its type and help text', async () => {
    await start();

    const scraped = await scrape();

    const types = Object.fromEntries(Object.values(METRIC_NAMES).map((name) => [name, scraped.types.get(name)]));
    expect(types).toEqual({
      kube9_operator_info: 'gauge',
      kube9_operator_health: 'gauge',
      kube9_operator_status_writes_total: 'counter',
      kube9_operator_last_status_write_timestamp_seconds: 'gauge',
      kube9_operator_status_update_interval_seconds: 'gauge',
      kube9_operator_registration_attempts_total: 'counter',
      kube9_operator_registered: 'gauge',
      kube9_operator_api_key_configured: 'gauge',
      kube9_operator_next_registration_timestamp_seconds: 'gauge',
      kube9_operator_is_leader: 'gauge',
    });
    for (const name of Object.values(METRIC_NAMES))
      expect(scraped.text).toMatch(new RegExp(`^# HELP ${name} \\S`, 'm'));
  });

  it('starts every counter label at 0, and nothing scheduled or written', async () => {
    await start();

    const scraped = await scrape();

    for (const outcome of REGISTRATION_ATTEMPT_OUTCOMES) {
      expect(scraped.value(METRIC_NAMES.registrationAttempts, { outcome })).toBe(0);
    }
    expect(scraped.all(METRIC_NAMES.registrationAttempts)).toHaveLength(7);
    expect(scraped.value(METRIC_NAMES.statusWrites, { result: 'success' })).toBe(0);
    expect(scraped.value(METRIC_NAMES.statusWrites, { result: 'error' })).toBe(0);
    expect(scraped.value(METRIC_NAMES.lastStatusWrite)).toBe(0);
    expect(scraped.value(METRIC_NAMES.nextRegistration)).toBe(0);
  });

  it('shows the served document: one info series, health 1 on its state, registered and key', async () => {
    await start();

    metrics.statusServed({ ...PRO, health: 'degraded' });
    metrics.statusServed({ ...PRO, mode: 'operated', tier: 'free', registered: false, health: 'degraded' });
    const scraped = await scrape();

    expect(scraped.all(METRIC_NAMES.info)).toEqual([
      { name: METRIC_NAMES.info, labels: { version: '0.1.0', mode: 'operated', tier: 'free' }, value: 1 },
    ]);
    expect(scraped.value(METRIC_NAMES.health, { state: 'degraded' })).toBe(1);
    expect(scraped.value(METRIC_NAMES.health, { state: 'healthy' })).toBe(0);
    expect(scraped.value(METRIC_NAMES.health, { state: 'unhealthy' })).toBe(0);
    expect(scraped.value(METRIC_NAMES.registered)).toBe(0);
    expect(scraped.value(METRIC_NAMES.apiKeyConfigured)).toBe(1);
  });

  it('counts status writes by result; the timestamp is the latest success, in seconds', async () => {
    await start();

    metrics.statusWritten('success', 1_700_000_000_000);
    metrics.statusWritten('error', 1_700_000_060_000);
    metrics.statusWritten('success', 1_700_000_120_500);
    metrics.statusWritten('error', 1_700_000_180_000);
    const scraped = await scrape();

    expect(scraped.value(METRIC_NAMES.statusWrites, { result: 'success' })).toBe(2);
    expect(scraped.value(METRIC_NAMES.statusWrites, { result: 'error' })).toBe(2);
    expect(scraped.value(METRIC_NAMES.lastStatusWrite)).toBe(1_700_000_120.5);
  });

  it('counts registration attempts by outcome and shows when the next one is due', async () => {
    await start();

    metrics.registrationAttempted('rate_limited');
    metrics.registrationAttempted('registered');
    metrics.registrationAttempted('registered');
    metrics.nextRegistrationAt(1_700_003_600_000);
    metrics.statusIntervalChanged(15);
    let scraped = await scrape();

    expect(scraped.value(METRIC_NAMES.registrationAttempts, { outcome: 'registered' })).toBe(2);
    expect(scraped.value(METRIC_NAMES.registrationAttempts, { outcome: 'rate_limited' })).toBe(1);
    expect(scraped.value(METRIC_NAMES.registrationAttempts, { outcome: 'refused' })).toBe(0);
    expect(scraped.value(METRIC_NAMES.nextRegistration)).toBe(1_700_003_600);
    expect(scraped.value(METRIC_NAMES.statusInterval)).toBe(15);

    metrics.nextRegistrationAt(undefined);
    scraped = await scrape();
    expect(scraped.value(METRIC_NAMES.nextRegistration)).toBe(0);
  });

  it('is_leader is 1 with leader election off', async () => {
    await start(false);

    expect((await scrape()).value(METRIC_NAMES.isLeader)).toBe(1);
  });

  it('is_leader follows the Lease with leader election on: 0, 1 when leading, 0 when lost', async () => {
    await start(true);
    expect((await scrape()).value(METRIC_NAMES.isLeader)).toBe(0);

    for (const hooks of leadership.hooks) hooks.started?.();
    expect((await scrape()).value(METRIC_NAMES.isLeader)).toBe(1);

    for (const hooks of leadership.hooks) hooks.stopped?.();
    expect((await scrape()).value(METRIC_NAMES.isLeader)).toBe(0);
  });
});
