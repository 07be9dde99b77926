import {
  AppsV1Api,
  CoreV1Api,
  createConfiguration,
  EventsV1Api,
  KubeConfig,
  RequestContext,
  ResponseContext,
  ServerConfiguration,
  VersionApi,
} from '@kubernetes/client-node';
import { USER_AGENT } from '../../common/operator-version';
import { KUBERNETES_REQUEST_TIMEOUT_MS } from './kubernetes.constants';

/** The one KubeConfig and the typed API objects built from it; provided as KUBERNETES_CLIENTS. */
export interface KubernetesClients {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  events: EventsV1Api;
  version: VersionApi;
}

export interface KubeConfigSource {
  inCluster: boolean;
  kubeconfigPath?: string;
}

export function loadKubeConfig(source: KubeConfigSource): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (source.inCluster) kubeConfig.loadFromCluster();
  else if (source.kubeconfigPath) kubeConfig.loadFromFile(source.kubeconfigPath);
  else kubeConfig.loadFromDefault();
  if (!kubeConfig.getCurrentCluster()) {
    throw new Error('No Kubernetes cluster configured: set KUBECONFIG or run the operator in a pod');
  }
  return kubeConfig;
}

/** Our user agent and a deadline on every request, so a hung API server cannot stall a loop. */
const requestPolicy = {
  pre(context: RequestContext): Promise<RequestContext> {
    context.setHeaderParam('User-Agent', USER_AGENT);
    context.setSignal(AbortSignal.timeout(KUBERNETES_REQUEST_TIMEOUT_MS));
    return Promise.resolve(context);
  },
  post(context: ResponseContext): Promise<ResponseContext> {
    return Promise.resolve(context);
  },
};

export function createKubernetesClients(kubeConfig: KubeConfig): KubernetesClients {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('No Kubernetes cluster configured');
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kubeConfig },
    promiseMiddleware: [requestPolicy],
  });
  return {
    kubeConfig,
    core: new CoreV1Api(configuration),
    apps: new AppsV1Api(configuration),
    events: new EventsV1Api(configuration),
    version: new VersionApi(configuration),
  };
}
