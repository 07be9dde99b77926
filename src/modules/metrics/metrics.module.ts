import { Module } from '@nestjs/common';
import { makeCounterProvider, makeGaugeProvider, PrometheusModule } from '@willsoto/nestjs-prometheus';
import { LeaderElectionModule } from '../leader-election/leader-election.module';
import { HEALTH_STATES, METRIC_NAMES, METRICS_PATH } from './metrics.constants';
import { OperatorMetrics } from './operator-metrics.service';

/**
 * GET /metrics (SPEC section 7) through @willsoto/nestjs-prometheus: prom-client's default
 * registry with the standard process_* and nodejs_* metrics, and the operator's own, which the
 * other modules set through OperatorMetrics only.
 */
@Module({
  imports: [PrometheusModule.register({ path: METRICS_PATH, defaultMetrics: { enabled: true } }), LeaderElectionModule],
  providers: [
    makeGaugeProvider({
      name: METRIC_NAMES.info,
      help: 'The operator as its status document describes it now: version, mode and tier (value 1).',
      labelNames: ['version', 'mode', 'tier'],
    }),
    makeGaugeProvider({
      name: METRIC_NAMES.health,
      help: `The status document's health: 1 on the current state (${HEALTH_STATES.join(', ')}), 0 on the others.`,
      labelNames: ['state'],
    }),
    makeCounterProvider({
      name: METRIC_NAMES.statusWrites,
      help: 'Writes of the status ConfigMap, by result (success, error).',
      labelNames: ['result'],
    }),
    makeGaugeProvider({
      name: METRIC_NAMES.lastStatusWrite,
      help: 'Unix time of the latest successful write of the status ConfigMap (0 before the first).',
    }),
    makeGaugeProvider({
      name: METRIC_NAMES.statusInterval,
      help: 'Seconds between two status writes now (the configured value, or the one kube9-server set).',
    }),
    makeCounterProvider({
      name: METRIC_NAMES.registrationAttempts,
      help: 'Registration attempts with kube9-server, by outcome.',
      labelNames: ['outcome'],
    }),
    makeGaugeProvider({
      name: METRIC_NAMES.registered,
      help: 'Whether the operator holds a registration with kube9-server (1) or not (0).',
    }),
    makeGaugeProvider({
      name: METRIC_NAMES.apiKeyConfigured,
      help: 'Whether an API key is configured (1) or not (0); never the key.',
    }),
    makeGaugeProvider({
      name: METRIC_NAMES.nextRegistration,
      help: 'Unix time at which the next registration attempt is due (0 when none is scheduled).',
    }),
    makeGaugeProvider({
      name: METRIC_NAMES.isLeader,
      help: 'Whether this replica holds the leader Lease (1) or not (0); 1 when leader election is off.',
    }),
    OperatorMetrics,
  ],
  exports: [OperatorMetrics],
})
export class MetricsModule {}
