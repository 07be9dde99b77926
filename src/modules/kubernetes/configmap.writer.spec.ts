import { ConfigurationOptions, HttpMethod, RequestContext } from '@kubernetes/client-node';
import { Logger } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { apiError, FakeLeadership, fenceOf, networkError } from '@test/unit/fakes';
import { OperatorConfig } from '../config/operator-config';
import { ConfigMapWriter, OwnedConfigMap } from './configmap.writer';
import { WriteFence } from './write-fence';
import { KUBERNETES_CLIENTS } from './kubernetes.constants';
import { LeaseTimeUpError } from './leader-write';

const OBJECT: OwnedConfigMap = {
  metadata: { name: 'kube9-operator-status', namespace: 'ops', labels: { a: 'b' } },
  data: { status: '{}' },
};

describe('ConfigMapWriter', () => {
  let writer: ConfigMapWriter;
  let core: {
    replaceNamespacedConfigMap: jest.Mock;
    createNamespacedConfigMap: jest.Mock;
    readNamespacedConfigMap: jest.Mock;
  };
  let apps: { readNamespacedDeployment: jest.Mock };
  let leadership: FakeLeadership;

  async function build(deploymentName?: string) {
    leadership = new FakeLeadership();
    core = {
      replaceNamespacedConfigMap: jest.fn(async () => ({})),
      createNamespacedConfigMap: jest.fn(async () => ({})),
      readNamespacedConfigMap: jest.fn(),
    };
    apps = { readNamespacedDeployment: jest.fn(async () => ({ metadata: { uid: 'uid-1' } })) };
    const moduleRef = await Test.createTestingModule({
      providers: [
        ConfigMapWriter,
        {
          provide: OperatorConfig,
          useValue: Object.assign(new OperatorConfig(), { namespace: 'ops', deploymentName }),
        },
        { provide: KUBERNETES_CLIENTS, useValue: { core, apps } },
        { provide: WriteFence, useValue: fenceOf(leadership) },
      ],
    }).compile();
    writer = moduleRef.get(ConfigMapWriter);
  }

  it('steady state: one PUT of the whole object, no read first', async () => {
    await build();

    await writer.put(OBJECT);

    expect(core.replaceNamespacedConfigMap).toHaveBeenCalledTimes(1);
    expect(core.replaceNamespacedConfigMap).toHaveBeenCalledWith(
      {
        name: 'kube9-operator-status',
        namespace: 'ops',
        body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: OBJECT.metadata, data: OBJECT.data },
      },
      expect.objectContaining({ middlewareMergeStrategy: 'append' }),
    );
    expect(core.readNamespacedConfigMap).not.toHaveBeenCalled();
  });

  it('a 404 creates the object', async () => {
    await build();
    core.replaceNamespacedConfigMap.mockRejectedValueOnce(apiError(404));

    await writer.put(OBJECT);

    expect(core.createNamespacedConfigMap).toHaveBeenCalledWith(
      { namespace: 'ops', body: expect.objectContaining({ data: OBJECT.data }) },
      expect.objectContaining({ middlewareMergeStrategy: 'append' }),
    );
  });

  it('a create that races another writer (409) is followed by one more PUT', async () => {
    await build();
    core.replaceNamespacedConfigMap.mockRejectedValueOnce(apiError(404));
    core.createNamespacedConfigMap.mockRejectedValueOnce(apiError(409));

    await writer.put(OBJECT);

    expect(core.replaceNamespacedConfigMap).toHaveBeenCalledTimes(2);
  });

  it('a 403 is thrown to the caller, who reports it', async () => {
    await build();
    core.replaceNamespacedConfigMap.mockRejectedValueOnce(apiError(403));

    await expect(writer.put(OBJECT)).rejects.toMatchObject({ code: 403 });
    expect(core.createNamespacedConfigMap).not.toHaveBeenCalled();
  });

  it("makes the operator's Deployment the owner, looked up once", async () => {
    await build('kube9-operator');

    await writer.put(OBJECT);
    await writer.put(OBJECT);

    expect(apps.readNamespacedDeployment).toHaveBeenCalledTimes(1);
    expect(core.replaceNamespacedConfigMap.mock.calls[1][0].body.metadata.ownerReferences).toEqual([
      { apiVersion: 'apps/v1', kind: 'Deployment', name: 'kube9-operator', uid: 'uid-1' },
    ]);
  });

  it('an unreachable API server while looking up the owner: retried on the next write', async () => {
    await build('kube9-operator');
    apps.readNamespacedDeployment.mockRejectedValueOnce(networkError());

    await writer.put(OBJECT);
    await writer.put(OBJECT);

    expect(apps.readNamespacedDeployment).toHaveBeenCalledTimes(2);
    expect(core.replaceNamespacedConfigMap.mock.calls[0][0].body.metadata.ownerReferences).toBeUndefined();
    expect(core.replaceNamespacedConfigMap.mock.calls[1][0].body.metadata.ownerReferences).toHaveLength(1);
  });

  it('a Deployment it may not read (403): warned once, given up, writes go on without an owner', async () => {
    await build('kube9-operator');
    apps.readNamespacedDeployment.mockRejectedValue(apiError(403, 'deployments.apps "kube9-operator" is forbidden'));
    const warn = jest.spyOn(Logger.prototype, 'warn');

    await writer.put(OBJECT);
    await writer.put(OBJECT);

    expect(apps.readNamespacedDeployment).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toContain('will not be removed with the Deployment');
    warn.mockRestore();
  });

  it("each request runs the leader's cap when it is sent: refused once the Lease time is up, nothing else tried", async () => {
    await build();
    const runMiddleware = async (_param: unknown, options: ConfigurationOptions) => {
      const context = new RequestContext('https://api.invalid/x', HttpMethod.PUT);
      for (const middleware of options.middleware ?? []) await middleware.pre(context).toPromise();
      return {};
    };
    core.replaceNamespacedConfigMap.mockImplementation(runMiddleware);
    core.createNamespacedConfigMap.mockImplementation(runMiddleware);

    await writer.put(OBJECT);
    leadership.leading = false;
    const refused = writer.put(OBJECT);

    await expect(refused).rejects.toThrow(LeaseTimeUpError);
    expect(core.replaceNamespacedConfigMap).toHaveBeenCalledTimes(2);
    expect(core.createNamespacedConfigMap).not.toHaveBeenCalled();
  });

  it('read: the data, {} for none, undefined when absent', async () => {
    await build();
    core.readNamespacedConfigMap
      .mockResolvedValueOnce({ data: { state: 'x' } })
      .mockResolvedValueOnce({})
      .mockRejectedValueOnce(apiError(404));

    expect(await writer.read('ops', 'a')).toEqual({ state: 'x' });
    expect(await writer.read('ops', 'a')).toEqual({});
    expect(await writer.read('ops', 'a')).toBeUndefined();
  });
});
