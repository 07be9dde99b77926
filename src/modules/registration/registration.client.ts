import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { Dispatcher, EnvHttpProxyAgent, Pool, ProxyAgent, request } from 'undici';
import { USER_AGENT } from '../../common/operator-version';
import { registerSecret } from '../../common/secret-redaction';
import { OperatorConfig } from '../config/operator-config';
import { OutboundProxy, ProxySetting } from '../config/outbound-proxy';
import { RegistrationRequestDto } from './dto/registration-request.dto';
import { outcomeFromAnswer, RegistrationOutcome } from './registration-outcome';
import { describeOutboundFailure, invalidProxyUrl, outboundFailureKind } from './outbound-errors';
import { MAX_RESPONSE_BYTES, REGISTER_PATH, REGISTRATION_TIMEOUT_MS } from './registration.constants';

/**
 * POST /v1/operator/register through undici. Never throws: every answer and every failure
 * becomes an outcome whose reason names what happened without the key, the request, its
 * headers or the proxy's credentials.
 *
 * undici's EnvHttpProxyAgent does the proxy work (SPEC section 8): HTTPS_PROXY / HTTP_PROXY /
 * NO_PROXY matching, a CONNECT tunnel with TLS to kube9-server end to end, Proxy-Authorization
 * from the URL's user:password. TLS uses Node's default trust store, which holds the public CAs
 * plus those of NODE_EXTRA_CA_CERTS (Node loads that file at start-up). axios 1.21 tunnels too;
 * undici is used because client-node already brings it (axios left the bundle: 4.82 to 4.55 MB),
 * it takes the proxy settings as options (only the config module reads the environment), and its
 * clientFactory lets a failed connection to the proxy be told from one to kube9-server.
 */
@Injectable()
export class RegistrationClient implements OnApplicationShutdown {
  private readonly logger = new Logger(RegistrationClient.name);
  private readonly url: string;
  private readonly host: string;
  private readonly dispatcher?: Dispatcher;
  /** Why no request can be sent (a proxy URL that does not parse); reported on every attempt. */
  private readonly configurationProblem?: string;
  /** Errors of connections to the proxy itself, so that a refusing proxy is named as such. */
  private readonly proxyFailures = new WeakSet<object>();
  /** The proxy for kube9-server's scheme, as it may be shown. */
  private readonly proxy?: { label: string; variable: string };

  constructor(config: OperatorConfig) {
    const base = new URL(config.serverUrl);
    this.url = `${base.origin}${base.pathname.replace(/\/$/, '')}${REGISTER_PATH}`;
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
    // A deadline for the whole exchange (connect, proxy tunnel, TLS, headers, body): aborting
    // destroys the socket, so an answer trickled a byte at a time cannot hold it open.
    const deadline = AbortSignal.timeout(REGISTRATION_TIMEOUT_MS);
    try {
      const answer = await request(this.url, {
        method: 'POST',
        dispatcher: this.dispatcher,
        headers: {
          Authorization: `Bearer ${apiKey}`,
          'Content-Type': 'application/json',
          'User-Agent': USER_AGENT,
          Accept: 'application/json',
        },
        body: JSON.stringify(body),
        signal: deadline,
      });
      const text = await answer.body.text();
      const retryAfter = answer.headers['retry-after'];
      return outcomeFromAnswer(
        answer.statusCode,
        typeof retryAfter === 'string' ? retryAfter : undefined,
        text,
        Date.now(),
      );
    } catch (error) {
      const context = {
        host: this.host,
        pastDeadline: deadline.aborted,
        proxy: this.proxy,
        atProxy: this.proxyFailures.has(error as object),
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
