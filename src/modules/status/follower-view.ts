import { cleanError } from '../../common/error-text';
import { OperatorStatusDto } from './dto/operator-status.dto';

/** Why and since when a follower has not been able to watch the leader's status ConfigMap. */
export interface WatchLoss {
  sinceMs: number;
  reason: string;
}

/**
 * What a follower serves on `GET /api/v1/status` (SPEC sections 2, 4 and 9): the leader's
 * document as its watch last saw it. Once that watch has been lost for longer than one status
 * interval (the longest a reader waits between two writes anyway), the follower can no longer
 * vouch for it: it serves the same document, with the leader's mode, tier and lastUpdate (so a
 * reader sees its age and the tier never flips), but health `unhealthy` and an error that says
 * why, as a leader does while its writes fail. Undefined when no document was seen yet.
 */
export function followerView(input: {
  watched: OperatorStatusDto | undefined;
  lost: WatchLoss | undefined;
  nowMs: number;
  graceMs: number;
}): OperatorStatusDto | undefined {
  const { watched, lost, nowMs, graceMs } = input;
  if (!watched || !lost || nowMs - lost.sinceMs <= graceMs) return watched;
  const seconds = Math.round((nowMs - lost.sinceMs) / 1000);
  return {
    ...watched,
    health: 'unhealthy',
    error: cleanError(
      `This replica follows the leader and has not seen its status for ${seconds} s, so this is the last document it saw: ${lost.reason}`,
    ),
  };
}
