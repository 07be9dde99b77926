/** One proxy variable as set: its name (for messages) and its value (never printed: it may hold credentials). */
export interface ProxySetting {
  variable: string;
  url: string;
}

/**
 * The proxy variables of SPEC section 8, for registration only. undici's EnvHttpProxyAgent reads
 * them the same way (the lower-case name first); they are read here so that only the config module
 * touches process.env and an error can name the variable that was wrong. Values are not checked
 * here: a proxy URL that does not parse is reported in the status, not a failed boot (SPEC section 8).
 */
export interface OutboundProxy {
  httpsProxy?: ProxySetting;
  httpProxy?: ProxySetting;
  noProxy?: string;
}

type Env = Record<string, string | undefined>;

function first(env: Env, names: string[]): ProxySetting | undefined {
  const variable = names.find((name) => env[name]);
  return variable ? { variable, url: env[variable]! } : undefined;
}

export function outboundProxyFrom(env: Env): OutboundProxy {
  const proxy: OutboundProxy = {};
  const httpsProxy = first(env, ['https_proxy', 'HTTPS_PROXY']);
  const httpProxy = first(env, ['http_proxy', 'HTTP_PROXY']);
  const noProxy = first(env, ['no_proxy', 'NO_PROXY']);
  if (httpsProxy) proxy.httpsProxy = httpsProxy;
  if (httpProxy) proxy.httpProxy = httpProxy;
  if (noProxy) proxy.noProxy = noProxy.url;
  return proxy;
}
