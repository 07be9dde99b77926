import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  createConfiguration,
  KubeConfig,
  RequestContext,
  ResponseContext,
  ServerConfiguration,
  VersionApi,
  Watch,
} from '@kubernetes/client-node';
import { RequestOptions } from 'node:https';
import { Agent, Dispatcher } from 'undici';
import { USER_AGENT } from '../../common/operator-version';
import { KUBERNETES_REQUEST_TIMEOUT_MS } from './kubernetes.constants';

/** The one KubeConfig and the typed API objects built from it; provided as KUBERNETES_CLIENTS. */
export interface KubernetesClients {
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  coordination: CoordinationV1Api;
  version: VersionApi;
  /** A new watch on the same KubeConfig (client-node's Watch keeps per-request state). */
  watch(): Watch;
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

/**
 * One connection pool for all requests. client-node 2.0 builds a new undici Agent for every
 * request, so each status write paid a TCP and TLS handshake and left an idle socket behind.
 * This pool is built once from the same TLS settings; credentials sent as headers (tokens,
 * which rotate in a pod) are still applied by client-node on every request. With a proxy,
 * client-node's own dispatcher is kept.
 */
function sharedPool(kubeConfig: KubeConfig): () => Promise<Dispatcher | undefined> {
  let pool: Promise<Dispatcher | undefined> | undefined;
  const build = async (): Promise<Dispatcher | undefined> => {
    const tls: RequestOptions = {};
    await kubeConfig.applyToHTTPSOptions(tls);
    const options = kubeConfig.createDispatcherOptions(kubeConfig.getCurrentCluster(), {
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      pfx: tls.pfx,
      passphrase: tls.passphrase,
      ...(tls.rejectUnauthorized === undefined ? {} : { rejectUnauthorized: tls.rejectUnauthorized }),
      ...(tls.servername === undefined ? {} : { servername: tls.servername }),
    });
    return options.type === 'agent' ? new Agent({ connect: options.connect }) : undefined;
  };
  return () => {
    pool ??= build().catch(() => {
      pool = undefined;
      return undefined;
    });
    return pool;
  };
}

/** Our user agent, the shared pool, and a deadline on every request, so a hung API server cannot stall a loop. */
function requestPolicy(kubeConfig: KubeConfig) {
  const pool = sharedPool(kubeConfig);
  return {
    async pre(context: RequestContext): Promise<RequestContext> {
      context.setHeaderParam('User-Agent', USER_AGENT);
      context.setSignal(AbortSignal.timeout(KUBERNETES_REQUEST_TIMEOUT_MS));
      const shared = await pool();
      if (shared) context.setDispatcher(shared);
      return context;
    },
    post(context: ResponseContext): Promise<ResponseContext> {
      return Promise.resolve(context);
    },
  };
}

export function createKubernetesClients(kubeConfig: KubeConfig): KubernetesClients {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('No Kubernetes cluster configured');
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: kubeConfig },
    promiseMiddleware: [requestPolicy(kubeConfig)],
  });
  return {
    kubeConfig,
    core: new CoreV1Api(configuration),
    apps: new AppsV1Api(configuration),
    coordination: new CoordinationV1Api(configuration),
    version: new VersionApi(configuration),
    watch: () => new Watch(kubeConfig),
  };
}
