import { writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadOperatorConfig } from '../config/load-operator-config';
import { publishInvalidConfiguration } from './invalid-configuration.status';

/** The ConfigError that loading `env` throws. */
function configErrorOf(env: Record<string, string>): ConfigError {
  try {
    loadOperatorConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('the configuration was valid');
}

describe('publishInvalidConfiguration', () => {
  it('writes nothing when the namespace itself is invalid, and says so', async () => {
    const error = configErrorOf({ OPERATOR_NAMESPACE: 'Not A Namespace' });

    await expect(publishInvalidConfiguration(error)).resolves.toBe(
      'the status ConfigMap was not written (the variables that say where it goes are invalid)',
    );
  });

  it('gives up at its deadline when the API server never answers', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const kubeconfig = path.join(tmpdir(), `kube9-silent-${process.pid}.yaml`);
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: c, cluster: {server: "https://127.0.0.1:' + port + '", insecure-skip-tls-verify: true}}]',
        'users: [{name: u, user: {token: t}}]',
        'contexts: [{name: x, context: {cluster: c, user: u}}]',
        'current-context: x',
      ].join('\n'),
    );
    const error = configErrorOf({
      KUBECONFIG: kubeconfig,
      STATUS_UPDATE_INTERVAL_SECONDS: '5',
      OPERATOR_NAMESPACE: 'ns1',
    });
    const started = Date.now();

    const outcome = await publishInvalidConfiguration(error, 300);

    expect(outcome).toBe('the status ConfigMap ns1/kube9-operator-status could not be written within 0.3 s');
    expect(Date.now() - started).toBeLessThan(3_000);
    sockets.forEach((socket) => socket.destroy());
    await new Promise((resolve) => silent.close(resolve));
  });
});
