import { HttpModule, HttpModuleOptions, HttpService } from '@nestjs/axios';
import { DynamicModule, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { AxiosError } from 'axios';
import { firstValueFrom } from 'rxjs';
import { Dispatcher, EnvHttpProxyAgent, fetch, Pool, ProxyAgent, Request, Response } from 'undici';
import { USER_AGENT } from '../../common/operator-version';
import { registerSecret } from '../../common/secret-redaction';
import { OperatorConfig } from '../config/operator-config';
import { OutboundProxy, ProxySetting } from '../config/outbound-proxy';
import { RegistrationRequestDto } from './dto/registration-request.dto';
import { outcomeFromAnswer, RegistrationOutcome } from './registration-outcome';
import { chain, describeOutboundFailure, invalidProxyUrl, outboundFailureKind } from './outbound-errors';
import { MAX_RESPONSE_BYTES, REGISTER_PATH, REGISTRATION_TIMEOUT_MS } from './registration.constants';

/**
 * The HttpModule of registration, the operator's one HTTP client apart from client-node's,
 * configured from OperatorConfig. axios does the request: the whole-exchange deadline
 * (`timeout`: the fetch adapter aborts connect, tunnel, TLS, headers and body alike), no
 * redirects (`maxRedirects: 0`), answers cut at `maxContentLength`, every status an answer.
 * Its fetch adapter runs on undici's fetch (the copy client-node brings too), so the proxy is an
 * undici dispatcher, given per request by RegistrationClient.
 */
export function registrationHttpModule(): DynamicModule {
  return HttpModule.registerAsync({
    inject: [OperatorConfig],
    useFactory: (config: OperatorConfig): HttpModuleOptions => ({
      baseURL: registerUrl(config.serverUrl),
      adapter: 'fetch',
      env: { fetch, Request, Response } as unknown as HttpModuleOptions['env'],
      timeout: REGISTRATION_TIMEOUT_MS,
      maxRedirects: 0,
      maxContentLength: MAX_RESPONSE_BYTES,
      responseType: 'text',
      // The answer is judged by outcomeFromAnswer, as text: axios neither parses nor rejects it.
      transformResponse: (data: unknown) => data,
      validateStatus: () => true,
      headers: { 'Content-Type': 'application/json', 'User-Agent': USER_AGENT, Accept: 'application/json' },
    }),
  });
}

/**
 * POST /v1/operator/register through @nestjs/axios's HttpService. Never throws: every answer and
 * every failure becomes an outcome whose reason names what happened without the key, the
 * request, its headers or the proxy's credentials.
 *
 * undici's EnvHttpProxyAgent does the proxy work (SPEC section 8): HTTPS_PROXY / HTTP_PROXY /
 * NO_PROXY matching, a CONNECT tunnel with TLS to kube9-server end to end, Proxy-Authorization
 * from the URL's user:password. TLS uses Node's default trust store, which holds the public CAs
 * plus those of NODE_EXTRA_CA_CERTS (Node loads that file at start-up). It takes the proxy
 * settings as options (only the config module reads the environment), and its clientFactory lets
 * a failed connection to the proxy be told from one to kube9-server. axios's own proxy support
 * (its http adapter) reads the environment itself and cannot tell the two apart.
 */
@Injectable()
export class RegistrationClient implements OnApplicationShutdown {
  private readonly logger = new Logger(RegistrationClient.name);
  private readonly host: string;
  private readonly dispatcher?: Dispatcher;
  /** Why no request can be sent (a proxy URL that does not parse); reported on every attempt. */
  private readonly configurationProblem?: string;
  /** Errors of connections to the proxy itself, so that a refusing proxy is named as such. */
  private readonly proxyFailures = new WeakSet<object>();
  /** The proxy for kube9-server's scheme, as it may be shown. */
  private readonly proxy?: { label: string; variable: string };

  constructor(
    config: OperatorConfig,
    private readonly http: HttpService,
  ) {
    const base = new URL(config.serverUrl);
    this.host = base.host;
    const proxy = config.outboundProxy;
    hideCredentials(proxy);
    this.proxy = proxyLabel(base.protocol === 'https:' ? (proxy.httpsProxy ?? proxy.httpProxy) : proxy.httpProxy);
    try {
      this.dispatcher = new EnvHttpProxyAgent({
        httpProxy: proxy.httpProxy?.url ?? '',
        httpsProxy: proxy.httpsProxy?.url ?? '',
        noProxy: proxy.noProxy ?? '',
        maxResponseSize: MAX_RESPONSE_BYTES,
        clientFactory: (origin, options) => new Pool(origin, { ...options, connect: this.markProxyFailures(options) }),
      });
    } catch (error) {
      this.configurationProblem = invalidProxyUrl(culprit(proxy), error);
      this.logger.error(this.configurationProblem);
    }
  }

  async register(apiKey: string, body: RegistrationRequestDto): Promise<RegistrationOutcome> {
    if (!this.dispatcher) return { kind: 'transient', failure: 'not_sent', reason: this.configurationProblem! };
    try {
      const answer = await firstValueFrom(
        this.http.post<string>('', JSON.stringify(body), {
          headers: { Authorization: `Bearer ${apiKey}` },
          // undici's fetch takes its dispatcher from the init; Node's RequestInit type does not list it.
          fetchOptions: { dispatcher: this.dispatcher } as unknown as RequestInit,
        }),
      );
      const retryAfter: unknown = answer.headers['retry-after'];
      return outcomeFromAnswer(
        answer.status,
        typeof retryAfter === 'string' ? retryAfter : undefined,
        typeof answer.data === 'string' ? answer.data : '',
        Date.now(),
      );
    } catch (error) {
      const context = {
        host: this.host,
        pastDeadline: error instanceof AxiosError && error.code === AxiosError.ETIMEDOUT,
        proxy: this.proxy,
        atProxy: chain(error).some((cause) => this.proxyFailures.has(cause)),
      };
      return {
        kind: 'transient',
        failure: outboundFailureKind(error, context),
        reason: describeOutboundFailure(error, context),
      };
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.dispatcher?.destroy();
  }

  /** Wraps the connector of the connection to the proxy: its failures are the proxy's. */
  private markProxyFailures(options: object): Pool.Options['connect'] {
    const connect = (options as { connect: (opts: object, callback: ConnectCallback) => void }).connect;
    return (opts, callback) =>
      connect(opts, (error, socket) => {
        if (error) this.proxyFailures.add(error);
        callback(error, socket as never);
      });
  }
}

type ConnectCallback = (error: Error | null, socket: unknown) => void;

/** kube9-server's registration URL: the server URL's origin and path, then the SPEC's path. */
function registerUrl(serverUrl: string): string {
  const base = new URL(serverUrl);
  return `${base.origin}${base.pathname.replace(/\/$/, '')}${REGISTER_PATH}`;
}

/** The proxy as it may be shown: scheme, host and port, never the user or password. */
function proxyLabel(setting: ProxySetting | undefined): { label: string; variable: string } | undefined {
  if (!setting) return undefined;
  try {
    const url = new URL(setting.url);
    return { label: `${url.protocol}//${url.host}`, variable: setting.variable };
  } catch {
    return undefined;
  }
}

/**
 * The proxy credentials join the values that redactSecrets hides, in case any text ever carries
 * them. A URL without a password is not secret: hiding it would hide the proxy's name in errors.
 */
function hideCredentials(proxy: OutboundProxy): void {
  for (const setting of [proxy.httpsProxy, proxy.httpProxy]) {
    if (!setting) continue;
    let password: string;
    try {
      password = new URL(setting.url).password;
    } catch {
      // A URL that does not parse is never printed; it may still hold a password.
      registerSecret(setting.url);
      continue;
    }
    if (!password) continue;
    registerSecret(setting.url);
    registerSecret(password);
    registerSecret(decodeURIComponent(password));
  }
}

/** Which proxy variable undici could not use. */
function culprit(proxy: OutboundProxy): ProxySetting | undefined {
  return [proxy.httpsProxy, proxy.httpProxy].find((setting) => {
    if (!setting) return false;
    try {
      void new ProxyAgent(setting.url).destroy();
      return false;
    } catch {
      return true;
    }
  });
}
