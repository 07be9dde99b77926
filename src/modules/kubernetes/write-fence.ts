import { Injectable } from '@nestjs/common';
import { ConfigurationOptions } from '@kubernetes/client-node';
import { leaderWriteOptions } from './leader-write';

/**
 * The one fence of the operator's writes (SPEC section 9: only the leader writes, never two
 * writers). Every ConfigMap write and Event of the operator is sent with its options: refused
 * while this replica does not hold the Lease, abandoned in flight when its Lease time runs out
 * (leader-write.ts). Leader election, above this module, tells it until when this replica leads;
 * without election (one replica) every write may go. The writers know nothing of leaders.
 */
@Injectable()
export class WriteFence {
  private leadsUntil: () => number | undefined = () => Number.POSITIVE_INFINITY;

  /** Called by leader election: the end of this replica's time as leader, undefined when it does not lead. */
  holdsUntil(leadsUntil: () => number | undefined): void {
    this.leadsUntil = leadsUntil;
  }

  /** Per-request options of a write. */
  options(): ConfigurationOptions {
    return leaderWriteOptions(() => this.leadsUntil());
  }
}
