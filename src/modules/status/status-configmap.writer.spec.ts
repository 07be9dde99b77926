import { Test } from '@nestjs/testing';
import { CLOCK } from '../../common/clock';
import { apiError, FakeClock, FakeMetrics, FREE_DOCUMENT } from '@test/unit/fakes';
import { OperatorConfig } from '../config/operator-config';
import { ConfigMapWriter, OwnedConfigMap } from '../kubernetes/configmap.writer';
import { OperatorMetrics } from '../metrics/operator-metrics.service';
import { StatusConfigMapWriter } from './status-configmap.writer';

const DOCUMENT = FREE_DOCUMENT;

describe('StatusConfigMapWriter', () => {
  let writer: StatusConfigMapWriter;
  let clock: FakeClock;
  let metrics: FakeMetrics;
  let put: jest.Mock<Promise<void>, [OwnedConfigMap]>;

  beforeEach(async () => {
    clock = new FakeClock();
    metrics = new FakeMetrics();
    put = jest.fn(async (_object: OwnedConfigMap) => undefined);
    const moduleRef = await Test.createTestingModule({
      providers: [
        StatusConfigMapWriter,
        { provide: OperatorConfig, useValue: Object.assign(new OperatorConfig(), { namespace: 'ops' }) },
        { provide: ConfigMapWriter, useValue: { put } },
        { provide: OperatorMetrics, useValue: metrics },
        { provide: CLOCK, useValue: clock },
      ],
    }).compile();
    writer = moduleRef.get(StatusConfigMapWriter);
  });

  it("writes the whole document as JSON under the key `status` of the status ConfigMap, with the SPEC's labels", async () => {
    await expect(writer.write(DOCUMENT)).resolves.toBeNull();

    expect(put).toHaveBeenCalledWith({
      metadata: {
        name: 'kube9-operator-status',
        namespace: 'ops',
        labels: { 'app.kubernetes.io/name': 'kube9-operator', 'app.kubernetes.io/component': 'status' },
      },
      data: { status: JSON.stringify(DOCUMENT) },
    });
  });

  it('counts a write that succeeded, with its time', async () => {
    await writer.write(DOCUMENT);

    expect(metrics.of('statusWritten')).toEqual([['success', clock.now()]]);
  });

  it('a failed write: the sentence that says why, counted as an error; nothing thrown', async () => {
    put.mockRejectedValue(apiError(403, 'configmaps "kube9-operator-status" is forbidden'));

    const failure = await writer.write(DOCUMENT);

    expect(failure).toContain('Kubernetes API refused to write ConfigMap ops/kube9-operator-status');
    expect(failure).toContain('forbidden');
    expect(metrics.of('statusWritten')).toEqual([['error', clock.now()]]);
  });
});
