/** The one Lease of the election, in the operator's namespace (the chart's Role names it). */
export const LEASE_NAME = 'kube9-operator-leader';

export const LEADER_ELECTION_TIMER = 'leader-election';
