import { ApiException, V1Lease } from '@kubernetes/client-node';
import { Test } from '@nestjs/testing';
import { NamedTimers } from '../../common/named-timers';
import { OperatorConfig } from '../config/operator-config';
import { KUBERNETES_CLIENTS } from '../kubernetes/kubernetes.constants';
import { WriteFence } from '../kubernetes/write-fence';
import { LeaderElectionService } from './leader-election.service';

const notFound = () => new ApiException(404, 'not found', '{}', {});
const conflict = () => new ApiException(409, 'conflict', '{}', {});

function lease(holder: string, resourceVersion = '1'): V1Lease {
  const now = new Date().toISOString();
  return {
    metadata: { name: 'kube9-operator-leader', resourceVersion },
    spec: {
      holderIdentity: holder,
      leaseDurationSeconds: 15,
      acquireTime: now as never,
      renewTime: now as never,
      leaseTransitions: 0,
    },
  };
}

async function build(leaderElection: boolean, coordination: Record<string, jest.Mock>) {
  let round: (() => unknown) | undefined;
  const timers = {
    after: jest.fn((_name: string, _ms: number, work: () => unknown) => (round = work)),
    clear: jest.fn(),
  };
  const module = await Test.createTestingModule({
    providers: [
      LeaderElectionService,
      { provide: OperatorConfig, useValue: { leaderElection, podName: 'pod-a', namespace: 'kube9-system' } },
      { provide: NamedTimers, useValue: timers },
      { provide: KUBERNETES_CLIENTS, useValue: { coordination } },
      WriteFence,
    ],
  }).compile();
  const service = module.get(LeaderElectionService);
  return { service, runRound: async () => round?.(), timers };
}

describe('LeaderElectionService', () => {
  it('with election off, leads from the start and never touches a Lease', async () => {
    const coordination = { readNamespacedLease: jest.fn() };
    const { service, timers } = await build(false, coordination);

    service.onApplicationBootstrap();

    expect(service.isLeader()).toBe(true);
    expect(timers.after).not.toHaveBeenCalled();
    expect(coordination.readNamespacedLease).not.toHaveBeenCalled();
  });

  it('creates a missing Lease, prepares, then starts leading (hooks in that order)', async () => {
    const coordination = {
      readNamespacedLease: jest.fn().mockRejectedValue(notFound()),
      createNamespacedLease: jest
        .fn()
        .mockImplementation(({ body }: { body: V1Lease }) =>
          Promise.resolve({ ...body, metadata: { ...body.metadata, resourceVersion: '1' } }),
        ),
    };
    const { service, runRound } = await build(true, coordination);
    const calls: string[] = [];
    service.register({
      prepare: async () => {
        calls.push(`prepare leader=${service.isLeader()}`);
      },
      started: () => calls.push(`started leader=${service.isLeader()}`),
    });

    service.onApplicationBootstrap();
    await runRound();

    expect(coordination.createNamespacedLease.mock.calls[0][0].body.spec.holderIdentity).toBe('pod-a');
    expect(coordination.createNamespacedLease.mock.calls[0][0].body.spec.renewTime).toMatch(/\.\d{6}Z$/);
    expect(calls).toEqual(['prepare leader=false', 'started leader=true']);
  });

  it('leads until the renew deadline after the last renewal was sent; a follower not at all; election off for ever', async () => {
    const coordination = {
      readNamespacedLease: jest.fn().mockResolvedValue(lease('pod-a', '5')),
      replaceNamespacedLease: jest
        .fn()
        .mockImplementation(({ body }: { body: V1Lease }) =>
          Promise.resolve({ ...body, metadata: { ...body.metadata, resourceVersion: '6' } }),
        ),
    };
    const { service, runRound } = await build(true, coordination);
    service.onApplicationBootstrap();
    expect(service.leadsUntil()).toBeUndefined();

    const before = Date.now();
    await runRound();
    const after = Date.now();

    expect(service.leadsUntil()).toBeGreaterThanOrEqual(before + 10_000);
    expect(service.leadsUntil()).toBeLessThanOrEqual(after + 10_000);
    const off = await build(false, {});
    expect(off.service.leadsUntil()).toBe(Number.POSITIVE_INFINITY);
  });

  it('does not lead while another replica holds a fresh Lease', async () => {
    const coordination = {
      readNamespacedLease: jest.fn().mockResolvedValue(lease('pod-b')),
      replaceNamespacedLease: jest.fn(),
    };
    const { service, runRound } = await build(true, coordination);

    service.onApplicationBootstrap();
    await runRound();

    expect(service.isLeader()).toBe(false);
    expect(coordination.replaceNamespacedLease).not.toHaveBeenCalled();
  });

  it('loses a race for a released Lease on 409 without leading', async () => {
    const coordination = {
      readNamespacedLease: jest.fn().mockResolvedValue(lease('')),
      replaceNamespacedLease: jest.fn().mockRejectedValue(conflict()),
    };
    const { service, runRound } = await build(true, coordination);

    service.onApplicationBootstrap();
    await runRound();

    expect(coordination.replaceNamespacedLease.mock.calls[0][0].body.metadata.resourceVersion).toBe('1');
    expect(service.isLeader()).toBe(false);
  });

  it('releases the Lease on shutdown when leading (no holder, 1 s)', async () => {
    const coordination = {
      readNamespacedLease: jest.fn().mockResolvedValue(lease('pod-a', '5')),
      replaceNamespacedLease: jest
        .fn()
        .mockImplementation(({ body }: { body: V1Lease }) =>
          Promise.resolve({ ...body, metadata: { ...body.metadata, resourceVersion: '6' } }),
        ),
    };
    const { service, runRound } = await build(true, coordination);
    const stopped = jest.fn();
    service.register({ stopped });
    service.onApplicationBootstrap();
    await runRound();
    expect(service.isLeader()).toBe(true);

    await service.onApplicationShutdown();

    const release = coordination.replaceNamespacedLease.mock.calls.at(-1)![0].body as V1Lease;
    expect(release.metadata!.resourceVersion).toBe('6');
    expect(release.spec).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 1 });
    expect(stopped).toHaveBeenCalledTimes(1);
    expect(service.isLeader()).toBe(false);
  });
});

describe('the WriteFence under leader election', () => {
  it('is closed to every write of a replica that does not lead (the writers never ask)', async () => {
    const fence = new WriteFence();
    const moduleRef = await Test.createTestingModule({
      providers: [
        LeaderElectionService,
        { provide: OperatorConfig, useValue: { leaderElection: true, podName: 'pod-a', namespace: 'kube9-system' } },
        { provide: NamedTimers, useValue: { after: jest.fn(), clear: jest.fn() } },
        { provide: KUBERNETES_CLIENTS, useValue: { coordination: {} } },
        { provide: WriteFence, useValue: fence },
      ],
    }).compile();
    moduleRef.get(LeaderElectionService);
    const middleware = fence.options().middleware![0] as {
      pre: (context: unknown) => { toPromise: () => Promise<unknown> };
    };

    await expect(middleware.pre({}).toPromise()).rejects.toThrow('does not hold the Lease');
  });
});
