import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { V1Lease, V1OwnerReference } from '@kubernetes/client-node';
import { NamedTimers } from '../../common/named-timers';
import { OperatorConfig } from '../config/operator-config';
import { deploymentOwnerReference } from '../kubernetes/owned-objects';
import { describeKubeError, kubeStatusCode } from '../kubernetes/kube-errors';
import { KubernetesClients } from '../kubernetes/kubernetes-clients';
import { KUBERNETES_CLIENTS } from '../kubernetes/kubernetes.constants';
import { WriteFence } from '../kubernetes/write-fence';
import {
  decideLeaseAttempt,
  LEASE_TIMING,
  LeaseObservation,
  LeaseRecord,
  leadershipEndsAt,
  observe,
  releasedRecord,
  stillLeading,
} from './lease-decision';
import { LEADER_ELECTION_TIMER, LEASE_NAME } from './leader-election.constants';

/** What a feature does around leadership; every hook is optional. */
export interface LeadershipHooks {
  /** Before this replica starts leading: read what the previous leader saved (no writes yet). */
  prepare?(): Promise<void>;
  /** This replica leads: resume writing. */
  started?(): void;
  /** This replica no longer leads: writes are already refused; stop scheduling them. */
  stopped?(): void;
}

/**
 * Lease leader election (SPEC section 9) around the pure rules of lease-decision.ts: every
 * retry period, read the Lease `kube9-operator-leader`, then create, acquire or renew it with
 * the read resourceVersion (a 409 means someone else wrote first: this round is lost). With
 * LEADER_ELECTION=false there is no Lease and this replica always leads.
 */
@Injectable()
export class LeaderElectionService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(LeaderElectionService.name);
  private readonly hooks: LeadershipHooks[] = [];
  private observation?: LeaseObservation;
  private leading = false;
  private lastRenewSentAtMs?: number;
  private round?: Promise<void>;
  private stopped = false;
  private lastProblem?: string;
  /** The Deployment that owns the Lease (SPEC section 5: helm uninstall leaves nothing), once read. */
  private owner?: V1OwnerReference;
  private ownerLookupDone = false;

  constructor(
    private readonly config: OperatorConfig,
    private readonly timers: NamedTimers,
    @Inject(KUBERNETES_CLIENTS) private readonly kube: KubernetesClients,
    fence: WriteFence,
  ) {
    // The one fence of every write of the operator: open only while this replica leads.
    fence.holdsUntil(() => this.leadsUntil());
  }

  get enabled(): boolean {
    return this.config.leaderElection;
  }

  get identity(): string {
    return this.config.podName;
  }

  /** Whether this replica may write now; false from the moment the renew deadline passes. */
  isLeader(): boolean {
    if (!this.enabled) return true;
    return (
      this.leading &&
      stillLeading({ nowMs: Date.now(), lastRenewSentAtMs: this.lastRenewSentAtMs, timing: LEASE_TIMING })
    );
  }

  /**
   * Until when (epoch ms) this replica leads, so a write must be answered by then: the renew
   * deadline after its last successful renewal; undefined when it does not lead; Infinity with
   * election off (no Lease to lose).
   */
  leadsUntil(): number | undefined {
    if (!this.enabled) return Number.POSITIVE_INFINITY;
    return this.leading ? leadershipEndsAt(this.lastRenewSentAtMs, LEASE_TIMING) : undefined;
  }

  /** Register before onApplicationBootstrap (in a constructor or onModuleInit). */
  register(hooks: LeadershipHooks): void {
    this.hooks.push(hooks);
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    this.logger.log(`Leader election on: Lease ${this.config.namespace}/${LEASE_NAME} as ${this.identity}`);
    this.schedule(0);
  }

  /** Stops trying and, when leading, hands the Lease back so a successor need not wait it out. */
  async onApplicationShutdown(): Promise<void> {
    if (!this.enabled) return;
    this.stopped = true;
    this.timers.clear(LEADER_ELECTION_TIMER);
    await this.round;
    if (!this.leading) return;
    this.loseLeadership('shutting down');
    await this.release();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timers.after(LEADER_ELECTION_TIMER, delayMs, () => {
      this.round = this.tryAcquireOrRenew().finally(() => (this.round = undefined));
      return this.round;
    });
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const sentAtMs = Date.now();
    try {
      const read = await this.readLease();
      this.observation = observe(this.observation, read, Date.now());
      const decision = decideLeaseAttempt({
        identity: this.identity,
        nowMs: sentAtMs,
        observation: this.observation,
        timing: LEASE_TIMING,
      });
      if (decision.action === 'wait') {
        if (this.leading) this.loseLeadership(`the Lease is held by ${decision.holder}`);
        this.reportProblem(undefined);
      } else {
        await this.readOwner();
        const written =
          decision.action === 'create'
            ? await this.kube.coordination.createNamespacedLease({
                namespace: this.config.namespace,
                body: this.leaseBody(decision.record),
              })
            : await this.kube.coordination.replaceNamespacedLease({
                name: LEASE_NAME,
                namespace: this.config.namespace,
                body: this.leaseBody(decision.record, decision.resourceVersion),
              });
        this.observation = observe(this.observation, this.fromLease(written), Date.now());
        this.reportProblem(undefined);
        await this.renewed(sentAtMs, decision.action);
      }
    } catch (error) {
      const code = kubeStatusCode(error);
      // 409: another replica wrote the Lease between our read and our write; it won this round.
      if (code !== 409)
        this.reportProblem(describeKubeError(`write Lease ${this.config.namespace}/${LEASE_NAME}`, error));
      if (this.leading && !this.isLeader()) this.loseLeadership('no renewal succeeded within the renew deadline');
    }
    this.schedule(LEASE_TIMING.retryPeriodMs);
  }

  private async renewed(sentAtMs: number, action: string): Promise<void> {
    this.lastRenewSentAtMs = sentAtMs;
    if (this.leading) return;
    this.logger.log(`Acquired the Lease (${action}): this replica leads`);
    for (const hook of this.hooks) {
      await hook.prepare?.().catch((error: unknown) => this.logger.warn(`Preparing to lead failed: ${String(error)}`));
    }
    if (this.stopped) return;
    this.leading = true;
    for (const hook of this.hooks) hook.started?.();
  }

  private loseLeadership(why: string): void {
    this.leading = false;
    this.logger.warn(`Stopped leading: ${why}`);
    for (const hook of this.hooks) hook.stopped?.();
  }

  private async release(): Promise<void> {
    const observation = this.observation;
    if (!observation?.exists || observation.record.holderIdentity !== this.identity) return;
    try {
      await this.kube.coordination.replaceNamespacedLease({
        name: LEASE_NAME,
        namespace: this.config.namespace,
        body: this.leaseBody(releasedRecord(observation.record, Date.now()), observation.resourceVersion),
      });
      this.logger.log('Released the Lease');
    } catch (error) {
      this.logger.warn(
        `${describeKubeError(`release Lease ${this.config.namespace}/${LEASE_NAME}`, error)}; it expires by itself`,
      );
    }
  }

  /** One warning per distinct problem, and one line when it clears. */
  private reportProblem(problem: string | undefined): void {
    if (problem === this.lastProblem) return;
    if (problem) this.logger.warn(problem);
    else if (this.lastProblem) this.logger.log('Leader election reaches the Lease again');
    this.lastProblem = problem;
  }

  private async readLease(): Promise<{ record: LeaseRecord; resourceVersion: string } | undefined> {
    try {
      return this.fromLease(
        await this.kube.coordination.readNamespacedLease({ name: LEASE_NAME, namespace: this.config.namespace }),
      );
    } catch (error) {
      if (kubeStatusCode(error) === 404) return undefined;
      throw error;
    }
  }

  /**
   * The owner reference to OPERATOR_DEPLOYMENT_NAME, as the ConfigMaps carry it, so that deleting
   * the Deployment deletes the Lease. Until it has been read, the Lease is written without it; a
   * transient failure is tried again at the next write, never in the way of the election.
   */
  private async readOwner(): Promise<void> {
    const name = this.config.deploymentName;
    if (!name || this.ownerLookupDone) return;
    try {
      this.owner = await deploymentOwnerReference(this.kube, this.config.namespace, name);
      this.ownerLookupDone = true;
    } catch (error) {
      // A Deployment that is not there or may not be read stays so: said once, not asked again.
      const code = kubeStatusCode(error);
      if (code !== 403 && code !== 404) return;
      this.ownerLookupDone = true;
      this.logger.warn(
        `${describeKubeError(`read Deployment ${this.config.namespace}/${name}`, error)}; the Lease will not be removed with the Deployment`,
      );
    }
  }

  private fromLease(lease: V1Lease): { record: LeaseRecord; resourceVersion: string } {
    const spec = lease.spec ?? {};
    return {
      resourceVersion: lease.metadata?.resourceVersion ?? '',
      record: {
        holderIdentity: spec.holderIdentity ?? '',
        leaseDurationSeconds: spec.leaseDurationSeconds ?? Math.round(LEASE_TIMING.leaseDurationMs / 1000),
        acquireTime: toMs(spec.acquireTime),
        renewTime: toMs(spec.renewTime),
        leaseTransitions: spec.leaseTransitions ?? 0,
      },
    };
  }

  private leaseBody(record: LeaseRecord, resourceVersion?: string): V1Lease {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: LEASE_NAME,
        namespace: this.config.namespace,
        ...(resourceVersion ? { resourceVersion } : {}),
        ...(this.owner ? { ownerReferences: [this.owner] } : {}),
      },
      spec: {
        holderIdentity: record.holderIdentity,
        leaseDurationSeconds: record.leaseDurationSeconds,
        // MicroTime: client-node passes these through as given; the API server wants 6 fractional digits.
        acquireTime: microTime(record.acquireTime) as unknown as Date,
        renewTime: microTime(record.renewTime) as unknown as Date,
        leaseTransitions: record.leaseTransitions,
      },
    };
  }
}

function toMs(time: Date | string | undefined): number {
  if (time === undefined) return 0;
  const ms = new Date(time).getTime();
  return Number.isNaN(ms) ? 0 : ms;
}

function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
