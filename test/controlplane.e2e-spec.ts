/*
 * Smoke test of the test control plane itself: the real kube-apiserver,
 * etcd, kube-controller-manager and helm that every other end-to-end test
 * relies on.
 */
import { ApiException, CoreV1Api, type V1ServiceAccount } from '@kubernetes/client-node';
import { type ControlPlane, startControlPlane } from './support/control-plane';
import {
  adminKubeConfig,
  createTestNamespace,
  deleteTestNamespace,
  kubeConfigFromFile,
  kubeconfigForToken,
  mintToken,
  runHelm,
} from './support/kube';

describe('test control plane', () => {
  let core: CoreV1Api;
  let namespace: string;

  beforeAll(async () => {
    core = adminKubeConfig().makeApiClient(CoreV1Api);
    namespace = await createTestNamespace('controlplane');
  });

  afterAll(async () => {
    await deleteTestNamespace(namespace);
  });

  it('stores a ConfigMap and reads it back', async () => {
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'smoke' }, data: { greeting: 'hello' } },
    });

    const read = await core.readNamespacedConfigMap({ namespace, name: 'smoke' });

    expect(read.data).toEqual({ greeting: 'hello' });
  });

  it('runs kube-controller-manager: the namespace gets its default ServiceAccount', async () => {
    const sa = await waitForServiceAccount(core, namespace, 'default');

    expect(sa.metadata?.name).toBe('default');
  });

  it('enforces Pod Security admission', async () => {
    const restricted = await createTestNamespace('restricted', { 'pod-security.kubernetes.io/enforce': 'restricted' });
    try {
      await waitForServiceAccount(core, restricted, 'default');

      const attempt = core.createNamespacedPod({
        namespace: restricted,
        body: {
          metadata: { name: 'privileged' },
          spec: { containers: [{ name: 'c', image: 'busybox:1.36', securityContext: { privileged: true } }] },
        },
      });

      await expect(attempt).rejects.toMatchObject({ code: 403, body: expect.stringContaining('violates PodSecurity') });
    } finally {
      await deleteTestNamespace(restricted);
    }
  });

  it('authenticates a minted ServiceAccount token and RBAC denies it what it was not granted', async () => {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: 'nobody' } } });
    const token = await mintToken(namespace, 'nobody');
    const asNobody = kubeConfigFromFile(kubeconfigForToken(token, 'nobody')).makeApiClient(CoreV1Api);

    const attempt = asNobody.listNamespacedConfigMap({ namespace });

    await expect(attempt).rejects.toMatchObject({ code: 403 });
    await expect(attempt).rejects.toThrow(`system:serviceaccount:${namespace}:nobody`);
  });

  it('provides helm v3, which reaches the cluster', async () => {
    const version = await runHelm(['version', '--short']);
    expect(version.code).toBe(0);
    expect(version.stdout).toMatch(/^v3\./);

    const list = await runHelm(['list', '--namespace', namespace, '--output', 'json']);
    expect(list).toMatchObject({ code: 0 });
    expect(JSON.parse(list.stdout)).toEqual([]);
  });
});

describe('API server outage', () => {
  let cp: ControlPlane;

  beforeAll(async () => {
    cp = await startControlPlane({ withControllerManager: false });
  });

  afterAll(async () => {
    await cp?.stop();
  });

  it('stops and starts kube-apiserver on the same address, certificates, keys and data', async () => {
    const core = kubeConfigFromFile(cp.kubeconfigPath).makeApiClient(CoreV1Api);
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'survivor' } } });
    await core.createNamespacedServiceAccount({ namespace: 'default', body: { metadata: { name: 'probe' } } });
    const token = await cp.mintToken('default', 'probe');
    const asProbe = kubeConfigFromFile(cp.kubeconfigForToken(token, 'probe')).makeApiClient(CoreV1Api);

    await cp.stopApiServer();
    await expect(core.readNamespacedConfigMap({ namespace: 'default', name: 'survivor' })).rejects.toThrow();
    await cp.startApiServer();

    const read = await core.readNamespacedConfigMap({ namespace: 'default', name: 'survivor' });
    expect(read.metadata?.name).toBe('survivor');
    // The token minted before the outage still authenticates (403, not 401).
    await expect(asProbe.listNamespacedConfigMap({ namespace: 'default' })).rejects.toMatchObject({ code: 403 });
  });
});

async function waitForServiceAccount(core: CoreV1Api, namespace: string, name: string): Promise<V1ServiceAccount> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return await core.readNamespacedServiceAccount({ namespace, name });
    } catch (err) {
      if (!(err instanceof ApiException && err.code === 404) || Date.now() > deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
