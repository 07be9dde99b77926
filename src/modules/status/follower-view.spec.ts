import { OperatorStatusDto } from './dto/operator-status.dto';
import { followerView, WatchLoss } from './follower-view';

const NOW = Date.parse('2026-11-27T07:00:00.000Z');
const LEADERS: OperatorStatusDto = {
  mode: 'enabled',
  tier: 'pro',
  version: '0.1.0',
  health: 'healthy',
  lastUpdate: '2026-11-27T06:59:40.000Z',
  registered: true,
  error: null,
  clusterId: 'cls_abcdefghijkl',
  apiKeyConfigured: true,
  namespace: 'kube9-system',
};
const REASON =
  'Kubernetes API unreachable while trying to watch ConfigMap kube9-system/kube9-operator-status: ECONNREFUSED';
const lostFor = (ms: number): WatchLoss => ({ sinceMs: NOW - ms, reason: REASON });

describe('followerView', () => {
  it.each<[string, OperatorStatusDto | undefined, WatchLoss | undefined, 'as watched' | 'unhealthy' | 'none']>([
    ['nothing watched yet: nothing to serve (the caller says why)', undefined, undefined, 'none'],
    ['nothing watched, watch lost: still nothing', undefined, lostFor(60_000), 'none'],
    ['watch working: the leader’s document as watched', LEADERS, undefined, 'as watched'],
    ['watch lost 5 s ago (under one interval): as watched', LEADERS, lostFor(5_000), 'as watched'],
    ['watch lost exactly one interval ago: as watched', LEADERS, lostFor(10_000), 'as watched'],
    ['watch lost 10.001 s ago: unhealthy, saying why', LEADERS, lostFor(10_001), 'unhealthy'],
    ['watch lost for 5 minutes: unhealthy', LEADERS, lostFor(300_000), 'unhealthy'],
  ])('%s', (_name, watched, lost, expected) => {
    const served = followerView({ watched, lost, nowMs: NOW, graceMs: 10_000 });

    if (expected === 'none') expect(served).toBeUndefined();
    if (expected === 'as watched') expect(served).toBe(watched);
    if (expected === 'unhealthy') {
      // The leader's mode, tier, registration and lastUpdate are kept: the tier never flips, and the age shows.
      expect(served).toEqual({ ...LEADERS, health: 'unhealthy', error: expect.any(String) });
      expect(served!.error).toContain('has not seen its status for');
      expect(served!.error).toContain(REASON);
    }
  });

  it('says for how long the watch has been lost, in seconds', () => {
    expect(followerView({ watched: LEADERS, lost: lostFor(42_400), nowMs: NOW, graceMs: 10_000 })!.error).toContain(
      'for 42 s',
    );
  });

  it('keeps the error within 500 characters', () => {
    const long = { sinceMs: NOW - 60_000, reason: 'x'.repeat(2_000) };
    expect(followerView({ watched: LEADERS, lost: long, nowMs: NOW, graceMs: 10_000 })!.error!.length).toBe(500);
  });
});
