import { Test } from '@nestjs/testing';
import { registerSecret } from '../../common/secret-redaction';
import { apiError, FakeLeadership, fenceOf } from '@test/unit/fakes';
import { OperatorConfig } from '../config/operator-config';
import { WriteFence } from './write-fence';
import { EventRecorder } from './event.recorder';
import { KUBERNETES_CLIENTS } from './kubernetes.constants';

describe('EventRecorder', () => {
  let createNamespacedEvent: jest.Mock;

  async function build(deploymentName?: string): Promise<EventRecorder> {
    createNamespacedEvent = jest.fn(async () => ({}));
    const moduleRef = await Test.createTestingModule({
      providers: [
        EventRecorder,
        {
          provide: OperatorConfig,
          useValue: Object.assign(new OperatorConfig(), { namespace: 'ops', deploymentName }),
        },
        { provide: KUBERNETES_CLIENTS, useValue: { core: { createNamespacedEvent } } },
        { provide: WriteFence, useValue: fenceOf(new FakeLeadership()) },
      ],
    }).compile();
    return moduleRef.get(EventRecorder);
  }

  it("records a core/v1 Event about the operator's Deployment", async () => {
    const events = await build('kube9-operator');

    await events.record('Normal', 'Registered', 'Registered with kube9-server as cls_abcdefghijkl; tier pro');

    const { namespace, body } = createNamespacedEvent.mock.calls[0][0];
    expect(namespace).toBe('ops');
    expect(body).toMatchObject({
      metadata: { generateName: 'kube9-operator.', namespace: 'ops' },
      involvedObject: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'kube9-operator', namespace: 'ops' },
      reason: 'Registered',
      type: 'Normal',
      message: 'Registered with kube9-server as cls_abcdefghijkl; tier pro',
      source: { component: 'kube9.dev/kube9-operator' },
    });
    expect(body.firstTimestamp).toBeInstanceOf(Date);
  });

  it("without the Deployment's name, the Event is about the status ConfigMap", async () => {
    const events = await build();

    await events.record('Warning', 'RegistrationFailed', 'x');

    expect(createNamespacedEvent.mock.calls[0][0].body.involvedObject).toEqual({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      name: 'kube9-operator-status',
      namespace: 'ops',
    });
  });

  it('never carries a secret in its message', async () => {
    const events = await build();
    registerSecret('kdy_dev_eventleak1');

    await events.record('Warning', 'ApiKeyRejected', 'refused kdy_dev_eventleak1');

    expect(createNamespacedEvent.mock.calls[0][0].body.message).toBe('refused [redacted]');
  });

  it('a refused Event does not disturb the caller', async () => {
    const events = await build();
    createNamespacedEvent.mockRejectedValueOnce(apiError(403));

    await expect(events.record('Normal', 'TierChanged', 'x')).resolves.toBeUndefined();
  });
});
