import { Test } from '@nestjs/testing';
import { FakeMetrics } from '@test/unit/fakes';
import { OperatorConfig } from '../config/operator-config';
import { ClusterFactsService } from '../kubernetes/cluster-facts.service';
import { OperatorMetrics } from '../metrics/operator-metrics.service';
import { RegistrationRequestDto } from './dto/registration-request.dto';
import { RegistrationClient } from './registration.client';
import { RegistrationOutcome } from './registration-outcome';
import { requestFingerprint } from './registration-state';
import { RegistrationSender } from './registration.sender';

const IDENTIFIER = `sha256:${'a'.repeat(64)}`;

describe('RegistrationSender', () => {
  let sender: RegistrationSender;
  let metrics: FakeMetrics;
  let register: jest.Mock<Promise<RegistrationOutcome>, [string, RegistrationRequestDto]>;
  let nodeCount: jest.Mock<Promise<number>, []>;

  async function build(serverUrl = 'https://api.kube9.dev') {
    metrics = new FakeMetrics();
    register = jest.fn(async (_key: string, _body: RegistrationRequestDto): Promise<RegistrationOutcome> => ({
      kind: 'rateLimited',
      retryAfterMs: 60_000,
      reason: '429',
    }));
    nodeCount = jest.fn(async () => 3);
    const moduleRef = await Test.createTestingModule({
      providers: [
        RegistrationSender,
        { provide: OperatorConfig, useValue: Object.assign(new OperatorConfig(), { serverUrl }) },
        {
          provide: ClusterFactsService,
          useValue: {
            clusterIdentifier: () => IDENTIFIER,
            kubernetesVersion: async () => '1.37.2',
            approximateNodeCount: nodeCount,
          },
        },
        { provide: RegistrationClient, useValue: { register } },
        { provide: OperatorMetrics, useValue: metrics },
      ],
    }).compile();
    sender = moduleRef.get(RegistrationSender);
  }

  beforeEach(() => build());

  it("sends the cluster facts with the key, and the client's outcome comes back with the request's fingerprint", async () => {
    const sent = await sender.send('kdy_prod_unitkey1');

    const body = register.mock.calls[0][1];
    expect(register).toHaveBeenCalledWith('kdy_prod_unitkey1', {
      operatorVersion: expect.any(String),
      clusterIdentifier: IDENTIFIER,
      kubernetesVersion: '1.37.2',
      approximateNodeCount: 3,
    });
    expect(sent).toEqual({
      outcome: { kind: 'rateLimited', retryAfterMs: 60_000, reason: '429' },
      request: requestFingerprint('https://api.kube9.dev', body),
    });
  });

  it('counts each attempt by its outcome', async () => {
    await sender.send('kdy_prod_unitkey1');

    expect(metrics.of('registrationAttempted')).toEqual([['rate_limited']]);
  });

  it('unreadable cluster facts: nothing sent, nothing counted, a transient failure that says why', async () => {
    nodeCount.mockRejectedValue(new Error('connect ECONNREFUSED'));

    const sent = await sender.send('kdy_prod_unitkey1');

    expect(register).not.toHaveBeenCalled();
    expect(metrics.of('registrationAttempted')).toEqual([]);
    expect(sent.request).toBeUndefined();
    expect(sent.outcome).toMatchObject({ kind: 'transient', failure: 'not_sent' });
    expect((sent.outcome as { reason: string }).reason).toMatch(/ECONNREFUSED.*; retrying with backoff$/);
  });

  it('the request it would send now has the fingerprint of the one it sends', async () => {
    const now = await sender.currentRequest();

    expect(now).toBe((await sender.send('kdy_prod_unitkey1')).request);
  });

  it('the fingerprint changes with the cluster (node count) and with the server URL', async () => {
    const before = await sender.currentRequest();
    nodeCount.mockResolvedValue(4);
    const moreNodes = await sender.currentRequest();
    await build('https://other.kube9.dev');
    const otherServer = await sender.currentRequest();

    expect(new Set([before, moreNodes, otherServer]).size).toBe(3);
  });

  it('no fingerprint while the cluster facts cannot be read', async () => {
    nodeCount.mockRejectedValue(new Error('connect ECONNREFUSED'));

    await expect(sender.currentRequest()).resolves.toBeUndefined();
  });
});
