/*
 * `npm run demo`: the operator end to end on this machine, as a user would see it.
 * Starts the embedded control plane with a worker node and a test OCI registry
 * (`npm run release` pushes the image built from the Dockerfile, the chart, the
 * signature and the SBOM there) and the kube9-server simulator, installs the
 * chart with `helm install oci://…` and an image pull Secret, so the kubelet
 * pulls the image and the operator runs as a real pod, shows the
 * free tier, then `helm upgrade` adds an API key and shows the pro tier.
 * Prints the commands to look for yourself and stays up until Ctrl-C.
 * `npm run demo -- --exit` stops after the pro tier is shown. Needs root.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { CoreV1Api } from '@kubernetes/client-node';
import { ensureBinaries } from './binaries';
import { helmInstall } from './chart';
import { type ControlPlane, startControlPlane } from './control-plane';
import { adminKubeConfig } from './kube';
import { waitFor } from './operator-process';
import { ServerSimulator } from './server-simulator';
import { chartImage } from './worker-node';
import { readStatus } from './status';

const NAMESPACE = 'kube9-system';
const RELEASE = 'kube9-operator';
const exitWhenDone = process.argv.includes('--exit');
const t0 = performance.now();
const seconds = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
const say = (line: string) => console.log(`[demo ${seconds()}] ${line}`);

async function main(): Promise<void> {
  let controlPlane: ControlPlane | undefined;
  let simulator: ServerSimulator | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping the simulator, the node and the control plane');
    await simulator?.stop().catch(() => undefined);
    await controlPlane?.stop().catch(() => undefined);
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));

  try {
    say(
      'building or finding the binaries and images (the first run builds them from Go modules and Debian packages: many minutes)',
    );
    const binaries = await ensureBinaries();
    controlPlane = await startControlPlane({ binaries, withNode: true });
    const node = controlPlane.node!;
    process.env.KUBE9_TEST_KUBECONFIG = controlPlane.kubeconfigPath;
    process.env.KUBE9_TEST_HELM = controlPlane.helmPath;
    process.env.KUBE9_TEST_CP_DIR = controlPlane.dir;
    say(
      `Kubernetes ${controlPlane.kubernetesVersion} is up at ${controlPlane.server}, node ${node.network.nodeName} Ready`,
    );

    const apiKey = `kdy_dev_demo${randomBytes(8).toString('hex')}`;
    // Where the pod can reach it: the host end of the node's network.
    simulator = new ServerSimulator({
      host: node.network.hostIp,
      validKeys: [apiKey],
      configuration: { statusUpdateIntervalSeconds: 10, reregistrationIntervalHours: 24 },
    });
    const serverUrl = await simulator.start();
    say(`kube9-server simulator listening at ${serverUrl}`);

    const registry = controlPlane.registry!;
    const release = controlPlane.release!;
    say(`released to the test registry ${registry.address}: ${release.image}; chart ${release.chart}`);
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    await core.createNamespacedSecret({
      namespace: NAMESPACE,
      body: {
        metadata: { name: 'kube9-registry' },
        type: 'kubernetes.io/dockerconfigjson',
        data: { '.dockerconfigjson': fs.readFileSync(registry.authFile).toString('base64') },
      },
    });
    say(`image pull Secret kube9-registry (kubernetes.io/dockerconfigjson) created in ${NAMESPACE}`);
    const image = chartImage(node.images.operator);
    const chartValues = {
      'image.repository': image.repository,
      'imagePullSecrets[0].name': 'kube9-registry',
      serverUrl,
      allowInsecureServerUrl: 'true',
      statusUpdateIntervalSeconds: '10',
    };
    const registryFlags = ['--registry-config', registry.authFile, '--ca-file', registry.caPath];
    say(
      `helm install ${RELEASE} ${release.chartRef} --version ${release.version} -n ${NAMESPACE} --set image.repository=${image.repository},imagePullSecrets[0].name=kube9-registry (free tier: no API key)`,
    );
    await helmInstall(
      NAMESPACE,
      RELEASE,
      chartValues,
      ['--version', release.version, ...registryFlags],
      release.chartRef,
    );
    const pod = await waitFor(
      'the operator pod Ready',
      async () => {
        const pods = await core.listNamespacedPod({
          namespace: NAMESPACE,
          labelSelector: `app.kubernetes.io/instance=${RELEASE}`,
        });
        return pods.items.find((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      },
      120_000,
      250,
    );
    say(`pod ${pod.metadata?.name} is Running and Ready on ${pod.spec?.nodeName} (${pod.status?.podIP})`);
    const free = await waitFor(
      'the free-tier status',
      async () => {
        const status = await readStatus(NAMESPACE);
        return status?.mode === 'operated' ? status : undefined;
      },
      30_000,
    );
    say(`status: mode=${free.mode} tier=${free.tier} health=${free.health}`);
    console.log(JSON.stringify(free, null, 2));

    say("helm upgrade --reuse-values --set apiKey=… (the key goes into the chart's Secret; the operator watches it)");
    await helmInstall(
      NAMESPACE,
      RELEASE,
      { apiKey },
      ['--reuse-values', '--version', release.version, ...registryFlags],
      release.chartRef,
    );
    const upgradedAt = performance.now();
    const pro = await waitFor(
      'the pro-tier status',
      async () => {
        const status = await readStatus(NAMESPACE);
        return status?.registered === true ? status : undefined;
      },
      30_000,
    );
    say(
      `status: mode=${pro.mode} tier=${pro.tier} health=${pro.health} clusterId=${pro.clusterId} (${((performance.now() - upgradedAt) / 1000).toFixed(1)} s after the upgrade)`,
    );
    console.log(JSON.stringify(pro, null, 2));

    console.log(`
Look for yourself (in another terminal):
  export KUBECONFIG=${controlPlane.kubeconfigPath}
  kubectl get configmap kube9-operator-status -n ${NAMESPACE} -o jsonpath='{.data.status}'
  kubectl get events -n ${NAMESPACE}
  kubectl get --raw /api/v1/namespaces/${NAMESPACE}/services/${RELEASE}:http/proxy/api/v1/status
  kubectl get pods -n ${NAMESPACE} -o wide
  kubectl logs -n ${NAMESPACE} deploy/${RELEASE}       # the operator's JSON log lines
  curl -s http://${pod.status?.podIP}:8080/readyz           # the pod itself, from this machine
Node logs (kubelet, containerd, kube-proxy): ${node.dir}
Verify the image as a careful user would:
  DOCKER_CONFIG=<a folder holding ${registry.authFile} as config.json> SSL_CERT_FILE=${registry.caPath} \\
    .cache/bin/current/cosign verify --key ${controlPlane.cosignKeys!.publicKey} --insecure-ignore-tlog=true ${release.imageTag}@${release.imageDigest}
`);
    say(`pro tier shown; ${exitWhenDone ? 'exiting (--exit)' : 'press Ctrl-C to stop and clean up'}`);
    if (exitWhenDone) await stop(0);
  } catch (error) {
    console.error(`[demo] failed: ${error instanceof Error ? error.message : String(error)}`);
    await stop(1);
  }
}

void main();
