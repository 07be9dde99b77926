/*
 * The stand-in for ghcr.io and charts.kube9.io on the worker node's host-side
 * address, inside the guarded network: Debian's nginx, TLS with a CA of its
 * own, in front of
 *   - Debian's docker-registry (on loopback, no auth of its own): pulls are
 *     anonymous (GET and HEAD), every other method needs basic auth, as a
 *     public package on ghcr.io. The API root /v2/ asks for credentials too,
 *     as ghcr.io's does: clients that ping it first (buildah, skopeo, cosign)
 *     learn there that it takes basic auth; containerd never pings it.
 *   - a folder served as a classic Helm chart repository (index.yaml, each
 *     version's .tgz and .prov), what scripts/release.sh --chart-repo writes.
 * The node's containerd resolves ghcr.io to the registry (worker-node.ts,
 * certs.d/ghcr.io/hosts.toml), so the chart's default image,
 * ghcr.io/alto9/kube9-operator:<appVersion>, is pulled from here.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as https from 'node:https';
import * as path from 'node:path';
import { ManagedProcess } from './managed-process';
import { dockerConfigJson, freePort, makeRegistryCredentials, REGISTRY_BIN, registryConfigYaml } from './registry';

const NGINX_BIN = '/usr/sbin/nginx';
/** The namespace the chart's default image lives in: ghcr.io/alto9/kube9-operator. */
export const PUBLIC_NAMESPACE = 'alto9';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface PublicRegistry {
  /** `host:port` of the registry (what ghcr.io resolves to on the node). */
  address: string;
  /** `https://host:port` of the chart repository. */
  chartRepoUrl: string;
  /** The folder served at chartRepoUrl. */
  chartRepoDir: string;
  /** The CA's PEM, alone in its folder (a --cert-dir), for both servers. */
  caPath: string;
  /** docker-style config.json with the push credentials for `address`. */
  authFile: string;
  dir: string;
  /** A request to either server without credentials: status and body. */
  get(url: string, method?: 'GET' | 'HEAD' | 'POST'): Promise<{ status: number; body: string }>;
  stop(): Promise<void>;
}

/** Starts the registry and nginx on `host`; resolves once both answer as they should. */
export async function startPublicRegistry(opts: {
  dir: string;
  host: string;
  timeoutMs?: number;
}): Promise<PublicRegistry> {
  const { dir, host } = opts;
  for (const [bin, pkg] of [
    [NGINX_BIN, 'nginx-light'],
    [REGISTRY_BIN, 'docker-registry'],
  ]) {
    if (!fs.existsSync(bin))
      throw new Error(`${bin} is missing: run test/node/install-packages.sh (apt-get install ${pkg})`);
  }
  const file = (name: string) => path.join(dir, name);
  for (const sub of ['data', 'chart-repo', 'trust', 'nginx-tmp']) await fsp.mkdir(file(sub), { recursive: true });
  const user = 'kube9-publisher';
  const password = await makeRegistryCredentials(dir, 'kube9-test-public-ca', host, user);
  const [registryPort, port, chartPort] = [await freePort('127.0.0.1'), await freePort(host), await freePort(host)];
  const address = `${host}:${port}`;
  await fsp.writeFile(
    file('registry.yml'),
    registryConfigYaml(file('data'), `127.0.0.1:${registryPort}`) + '  relativeurls: true\n',
  );
  const q = JSON.stringify;
  const tls = `ssl_certificate ${q(file('server.crt'))};\n    ssl_certificate_key ${q(file('server.key'))};`;
  const auth = `auth_basic "kube9-test-public-registry";\n      auth_basic_user_file ${q(file('htpasswd'))};`;
  const proxy = `proxy_pass http://127.0.0.1:${registryPort};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_request_buffering off;
      proxy_buffering off;
      proxy_read_timeout 900s;`;
  await fsp.writeFile(
    file('nginx.conf'),
    `# One process, in the foreground, everything under ${dir}.
daemon off;
master_process off;
pid ${q(file('nginx.pid'))};
error_log ${q(file('nginx-error.log'))} info;
events { worker_connections 256; }
http {
  access_log ${q(file('nginx-access.log'))};
  client_body_temp_path ${q(file('nginx-tmp/body'))};
  proxy_temp_path ${q(file('nginx-tmp/proxy'))};
  fastcgi_temp_path ${q(file('nginx-tmp/fastcgi'))};
  uwsgi_temp_path ${q(file('nginx-tmp/uwsgi'))};
  scgi_temp_path ${q(file('nginx-tmp/scgi'))};
  types { application/yaml yaml; application/gzip tgz; text/plain prov; }
  default_type application/octet-stream;
  # The ghcr.io stand-in.
  server {
    listen ${address} ssl;
    ${tls}
    client_max_body_size 0;
    chunked_transfer_encoding on;
    location = /v2/ {
      ${auth}
      ${proxy}
    }
    location /v2/ {
      limit_except GET HEAD {
        ${auth}
      }
      ${proxy}
    }
    location / { return 404; }
  }
  # The chart repository (charts.kube9.io's stand-in): a static folder.
  server {
    listen ${host}:${chartPort} ssl;
    ${tls}
    root ${q(file('chart-repo'))};
    autoindex off;
    location / { limit_except GET HEAD { deny all; } }
  }
}
`,
  );
  const authFile = file('auth.json');
  await fsp.writeFile(authFile, dockerConfigJson(address, user, password), { mode: 0o600 });
  const ca = fs.readFileSync(file('ca.crt'));
  const get: PublicRegistry['get'] = (url, method = 'GET') =>
    new Promise((resolve, reject) => {
      const req = https.request(url, { method, ca, timeout: 10_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
      req.on('error', reject);
      req.end();
    });

  const registry = new ManagedProcess(
    'docker-registry (public)',
    REGISTRY_BIN,
    ['serve', file('registry.yml')],
    file('registry.log'),
  );
  const nginx = new ManagedProcess(
    'nginx',
    NGINX_BIN,
    ['-e', file('nginx-error.log'), '-c', file('nginx.conf')],
    file('nginx.log'),
  );
  const stop = async () => {
    await nginx.stop(3000);
    await registry.stop(3000);
  };
  registry.start();
  nginx.start();
  const chartRepoUrl = `https://${host}:${chartPort}`;
  try {
    const deadline = performance.now() + (opts.timeoutMs ?? 30_000);
    for (;;) {
      for (const p of [registry, nginx]) {
        if (p.exited) throw new Error(`${p.describeExit()}; the end of its log:\n${p.tail()}`);
      }
      // Anonymous: the API root asks for credentials, a manifest GET reaches the registry (404, no such image).
      const ping = await get(`https://${address}/v2/`).catch(() => undefined);
      const pull = await get(`https://${address}/v2/${PUBLIC_NAMESPACE}/none/manifests/none`).catch(() => undefined);
      const chart = await get(`${chartRepoUrl}/index.yaml`).catch(() => undefined);
      if (ping?.status === 401 && pull?.status === 404 && chart?.status === 404) break;
      if (performance.now() > deadline) {
        throw new Error(
          `the public registry did not answer on ${address} and ${chartRepoUrl} (ping ${ping?.status}, pull ${pull?.status}, chart ${chart?.status}):\n${nginx.tail()}\n${registry.tail()}`,
        );
      }
      await sleep(100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    address,
    chartRepoUrl,
    chartRepoDir: file('chart-repo'),
    caPath: file('trust/ca.crt'),
    authFile,
    dir,
    get,
    stop,
  };
}
