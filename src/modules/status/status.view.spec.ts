import { Test } from '@nestjs/testing';
import { CLOCK } from '../../common/clock';
import { FakeClock, FakeLeaderStatus, FakeLeadership, FakeMetrics, FREE_DOCUMENT } from '@test/unit/fakes';
import { LeaderElectionService } from '../leader-election/leader-election.service';
import { OperatorMetrics } from '../metrics/operator-metrics.service';
import { OperatorStatusDto } from './dto/operator-status.dto';
import { LeaderStatusWatch } from './leader-status.watch';
import { StatusLoopRecord } from './status-loop.record';
import { StatusService } from './status.service';
import { StatusView } from './status.view';

const OWN = FREE_DOCUMENT;
const LEADERS: OperatorStatusDto = {
  ...OWN,
  mode: 'enabled',
  tier: 'pro',
  registered: true,
  clusterId: 'cls_abcdefghijkl',
  apiKeyConfigured: true,
  lastUpdate: '2026-11-27T11:59:50.000Z',
};

describe('StatusView', () => {
  let view: StatusView;
  let clock: FakeClock;
  let metrics: FakeMetrics;
  let leadership: FakeLeadership;
  let leaderStatus: FakeLeaderStatus;
  let statusChanged: Array<() => void>;

  beforeEach(async () => {
    clock = new FakeClock();
    metrics = new FakeMetrics();
    leadership = new FakeLeadership();
    leaderStatus = new FakeLeaderStatus();
    statusChanged = [];
    const loop = new StatusLoopRecord();
    loop.intervalChanged(30);
    const moduleRef = await Test.createTestingModule({
      providers: [
        StatusView,
        {
          provide: StatusService,
          useValue: { ownDocument: () => OWN, onChange: (listener: () => void) => statusChanged.push(listener) },
        },
        { provide: LeaderStatusWatch, useValue: leaderStatus },
        { provide: LeaderElectionService, useValue: leadership },
        { provide: StatusLoopRecord, useValue: loop },
        { provide: OperatorMetrics, useValue: metrics },
        { provide: CLOCK, useValue: clock },
      ],
    }).compile();
    view = moduleRef.get(StatusView);
  });

  it("the leader serves its own loop's document", () => {
    leaderStatus.document = LEADERS;

    expect(view.current()).toBe(OWN);
  });

  it('tells the metrics the document it serves each time the loop says it may have changed', () => {
    for (const listener of statusChanged) listener();

    expect(metrics.of('statusServed')).toEqual([[OWN]]);
  });

  it("the leader does not serve what its watch sees: the watch's news tell the metrics nothing", () => {
    leaderStatus.document = LEADERS;

    for (const listener of leaderStatus.listeners) listener();

    expect(metrics.of('statusServed')).toEqual([]);
  });

  describe('as a follower', () => {
    beforeEach(() => {
      leadership.enabled = true;
      leadership.leading = false;
    });

    it('serves nothing until its watch has delivered, and says why; tells the metrics nothing', () => {
      for (const listener of statusChanged) listener();

      expect(view.current()).toBeUndefined();
      expect(view.unavailableReason()).toBe('no status document of the leader watched yet');
      expect(metrics.of('statusServed')).toEqual([]);
    });

    it("serves the leader's document as watched, and tells the metrics when the watch delivers it", () => {
      leaderStatus.document = LEADERS;

      for (const listener of leaderStatus.listeners) listener();

      expect(view.current()).toBe(LEADERS);
      expect(metrics.of('statusServed')).toEqual([[LEADERS]]);
    });

    it('its watch lost for more than an interval: the same document, unhealthy, saying why', () => {
      leaderStatus.document = LEADERS;
      leaderStatus.lost = { sinceMs: clock.now(), reason: 'Kubernetes API unreachable: ECONNREFUSED' };

      clock.advance(30_000);
      expect(view.current()).toBe(LEADERS);
      clock.advance(1);

      expect(view.current()).toMatchObject({ tier: 'pro', lastUpdate: LEADERS.lastUpdate, health: 'unhealthy' });
      expect(view.current()!.error).toContain('ECONNREFUSED');
    });
  });
});
