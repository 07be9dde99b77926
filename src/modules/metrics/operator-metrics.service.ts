import { Injectable } from '@nestjs/common';
import { InjectMetric } from '@willsoto/nestjs-prometheus';
import { Counter, Gauge } from 'prom-client';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import {
  METRIC_NAMES,
  REGISTRATION_ATTEMPT_OUTCOMES,
  RegistrationAttemptOutcome,
  STATUS_WRITE_RESULTS,
  StatusWriteResult,
} from './metrics.constants';
import { ServedStatus, statusMetricValues } from './status-metric-values';

/**
 * The narrow interface through which the other modules report what changed; each metric is set
 * here and only here, from the event that changes it (nothing polls). Times are epoch
 * milliseconds in, seconds out, as Prometheus expects.
 */
@Injectable()
export class OperatorMetrics {
  constructor(
    @InjectMetric(METRIC_NAMES.info) private readonly info: Gauge<'version' | 'mode' | 'tier'>,
    @InjectMetric(METRIC_NAMES.health) private readonly health: Gauge<'state'>,
    @InjectMetric(METRIC_NAMES.statusWrites) private readonly statusWrites: Counter<'result'>,
    @InjectMetric(METRIC_NAMES.lastStatusWrite) private readonly lastStatusWrite: Gauge,
    @InjectMetric(METRIC_NAMES.statusInterval) private readonly statusInterval: Gauge,
    @InjectMetric(METRIC_NAMES.registrationAttempts) private readonly attempts: Counter<'outcome'>,
    @InjectMetric(METRIC_NAMES.registered) private readonly registered: Gauge,
    @InjectMetric(METRIC_NAMES.apiKeyConfigured) private readonly apiKeyConfigured: Gauge,
    @InjectMetric(METRIC_NAMES.nextRegistration) private readonly nextRegistration: Gauge,
    @InjectMetric(METRIC_NAMES.isLeader) private readonly isLeader: Gauge,
    leadership: LeaderElectionService,
  ) {
    // Every label value of the counters from 0, so that rate() and increase() see their first step.
    for (const result of STATUS_WRITE_RESULTS) this.statusWrites.inc({ result }, 0);
    for (const outcome of REGISTRATION_ATTEMPT_OUTCOMES) this.attempts.inc({ outcome }, 0);
    // With election off this replica always leads; with it on, it leads once the Lease says so.
    this.isLeader.set(leadership.enabled ? 0 : 1);
    leadership.register({ started: () => this.isLeader.set(1), stopped: () => this.isLeader.set(0) });
  }

  /** The status document this replica now serves (GET /api/v1/status). */
  statusServed(status: ServedStatus): void {
    const values = statusMetricValues(status);
    this.info.reset();
    this.info.set(values.info, 1);
    for (const { state, value } of values.health) this.health.set({ state }, value);
    this.registered.set(values.registered);
    this.apiKeyConfigured.set(values.apiKeyConfigured);
  }

  /** A write of the status ConfigMap ended. */
  statusWritten(result: StatusWriteResult, atMs: number): void {
    this.statusWrites.inc({ result });
    if (result === 'success') this.lastStatusWrite.set(atMs / 1000);
  }

  /** The interval the status is written at now (kube9-server may change it). */
  statusIntervalChanged(seconds: number): void {
    this.statusInterval.set(seconds);
  }

  /** kube9-server answered a registration (or the attempt failed on the way). */
  registrationAttempted(outcome: RegistrationAttemptOutcome): void {
    this.attempts.inc({ outcome });
  }

  /** When the next registration attempt is due; undefined when none is scheduled. */
  nextRegistrationAt(atMs: number | undefined): void {
    this.nextRegistration.set(atMs === undefined ? 0 : atMs / 1000);
  }
}
