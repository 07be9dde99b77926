/*
 * The test cluster's OCI registry: Debian's docker-registry (CNCF
 * distribution 2.8), serving TLS with a certificate from a CA of its own and
 * requiring basic auth (an htpasswd file, bcrypt, made by apache2-utils'
 * htpasswd). With a worker node it listens on the node's host-side address,
 * inside the guarded network; the node's containerd trusts its CA through its
 * registry host configuration (worker-node.ts), and the kubelet pulls with the
 * credentials of an image pull Secret.
 *
 * `authFile` is a docker-style config.json with the credentials: the file
 * buildah, skopeo, helm (`--registry-config`) and cosign (`DOCKER_CONFIG`)
 * read.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as https from 'node:https';
import * as net from 'node:net';
import * as path from 'node:path';
import { ManagedProcess } from './managed-process';
import { makeServerPki } from './pki';

/** Debian's docker-registry, which both test registries run (this one and public-registry.ts). */
export const REGISTRY_BIN = '/usr/bin/docker-registry';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export interface TestRegistry {
  /** `host:port` */
  address: string;
  /** The registry CA's PEM, alone in its folder (so that folder serves as a --cert-dir). */
  caPath: string;
  /** docker-style config.json holding `user`'s credentials for `address`. */
  authFile: string;
  user: string;
  password: string;
  /** The registry's own directory: config, certificates, htpasswd, storage, log. */
  dir: string;
  logPath: string;
  /** GET `urlPath` (e.g. `/v2/_catalog`) with the credentials (or `auth: false`); status, headers and body. */
  get(
    urlPath: string,
    opts?: { auth?: boolean; method?: 'GET' | 'HEAD'; accept?: string },
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>;
  /** Writes a config.json for `address` with other credentials (for tests of a refused login); returns its path. */
  authFileFor(user: string, password: string, name: string): string;
  stop(): Promise<void>;
}

export async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** A docker-style config.json body with basic-auth credentials for `address`. */
export function dockerConfigJson(address: string, user: string, password: string): string {
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  return `${JSON.stringify({ auths: { [address]: { auth } } }, null, 2)}\n`;
}

/**
 * The files a test registry's TLS and basic auth come from, in `dir`: a CA of its own and a server
 * certificate for `host` (makeServerPki), the CA alone in `trust/` (buildah's and skopeo's
 * --cert-dir read every *.crt and *.key there), and `htpasswd` for `user` with a fresh random
 * password; resolves with that password.
 */
export async function makeRegistryCredentials(
  dir: string,
  caName: string,
  host: string,
  user: string,
): Promise<string> {
  await makeServerPki(dir, caName, [`IP:${host}`]);
  await fsp.mkdir(path.join(dir, 'trust'), { recursive: true });
  await fsp.copyFile(path.join(dir, 'ca.crt'), path.join(dir, 'trust', 'ca.crt'));
  const password = randomBytes(18).toString('base64url');
  await writeHtpasswd(path.join(dir, 'htpasswd'), user, password);
  return password;
}

/**
 * docker-registry's configuration up to its `http` section's address and secret: filesystem
 * storage under `dataDir` (deletes allowed), listening on `addr`. The caller adds the rest of
 * the `http` section (indented two spaces) and whatever follows it.
 */
export function registryConfigYaml(dataDir: string, addr: string): string {
  return `version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: ${JSON.stringify(dataDir)}
  delete:
    enabled: true
http:
  addr: ${JSON.stringify(addr)}
  secret: ${JSON.stringify(randomBytes(16).toString('hex'))}
`;
}

/** An htpasswd file with `user`'s password, bcrypt (the only hash distribution's htpasswd accepts; nginx takes it too). */
export async function writeHtpasswd(target: string, user: string, password: string): Promise<void> {
  // -B bcrypt; -i reads the password from stdin.
  await new Promise<void>((resolve, reject) => {
    const child = execFile('htpasswd', ['-Bic', target, user], (err) => {
      if (!err) resolve();
      else if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new Error('htpasswd is missing: run test/node/install-packages.sh (apache2-utils)', { cause: err }));
      } else reject(new Error(`htpasswd failed: ${err.message}`, { cause: err }));
    });
    child.stdin?.end(password);
  });
}

/** Starts the registry on `host` (a free port) with its state in `dir`; resolves once it answers TLS and refuses anonymous requests. */
export async function startRegistry(opts: { dir: string; host: string; timeoutMs?: number }): Promise<TestRegistry> {
  const { dir, host } = opts;
  if (!fs.existsSync(REGISTRY_BIN)) {
    throw new Error(`${REGISTRY_BIN} is missing: run test/node/install-packages.sh (apt-get install docker-registry)`);
  }
  await fsp.mkdir(path.join(dir, 'data'), { recursive: true });
  const file = (name: string) => path.join(dir, name);
  const user = 'kube9-release';
  const password = await makeRegistryCredentials(dir, 'kube9-test-registry-ca', host, user);
  const port = await freePort(host);
  const address = `${host}:${port}`;
  await fsp.writeFile(
    file('config.yml'),
    registryConfigYaml(file('data'), address) +
      `  tls:
    certificate: ${JSON.stringify(file('server.crt'))}
    key: ${JSON.stringify(file('server.key'))}
auth:
  htpasswd:
    realm: kube9-test-registry
    path: ${JSON.stringify(file('htpasswd'))}
`,
  );
  const authFile = file('auth.json');
  await fsp.writeFile(authFile, dockerConfigJson(address, user, password), { mode: 0o600 });
  const ca = fs.readFileSync(file('trust/ca.crt'));
  const basic = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const get: TestRegistry['get'] = (urlPath, getOpts = {}) =>
    new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      if (getOpts.auth !== false) headers.authorization = basic;
      if (getOpts.accept) headers.accept = getOpts.accept;
      const req = https.request(
        { host, port, path: urlPath, method: getOpts.method ?? 'GET', ca, headers, timeout: 10_000 },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`GET https://${address}${urlPath} timed out`)));
      req.on('error', reject);
      req.end();
    });

  const logPath = file('registry.log');
  const registry = new ManagedProcess('docker-registry', REGISTRY_BIN, ['serve', file('config.yml')], logPath);
  registry.start();
  const stop = () => registry.stop(3000);
  try {
    const deadline = performance.now() + (opts.timeoutMs ?? 30_000);
    for (;;) {
      if (registry.exited) throw new Error(`${registry.describeExit()}; the end of its log:\n${registry.tail()}`);
      const anonymous = await get('/v2/', { auth: false }).catch(() => undefined);
      if (anonymous?.status === 401) break;
      if (performance.now() > deadline)
        throw new Error(`the registry did not answer on ${address}:\n${registry.tail()}`);
      await sleep(100);
    }
    const authed = await get('/v2/');
    if (authed.status !== 200) throw new Error(`the registry refused its own credentials: HTTP ${authed.status}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    address,
    caPath: file('trust/ca.crt'),
    authFile,
    user,
    password,
    dir,
    logPath,
    get,
    authFileFor(otherUser, otherPassword, name) {
      const target = file(`${name}.json`);
      fs.writeFileSync(target, dockerConfigJson(address, otherUser, otherPassword), { mode: 0o600 });
      return target;
    },
    stop,
  };
}
