/*
 * Certificates of the test cluster, made with the openssl command-line tool
 * (Node's crypto module can make keys but not X.509 certificates).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

function opensslConfig(serverSans: string[], kubeletSans: string[]): string {
  return `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = ${serverSans.join(',')}
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
[kubelet]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = ${kubeletSans.length ? kubeletSans.join(',') : 'DNS:unused'}
authorityKeyIdentifier = keyid
`;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd: dir });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(
        'the openssl command is needed to make the test certificates; install it (apt-get install openssl)',
        {
          cause: err,
        },
      );
    }
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr ?? e.message}`, { cause: err });
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function makeLeaf(
  dir: string,
  name: string,
  subject: string,
  extensions: 'server' | 'client' | 'kubelet',
): Promise<void> {
  await openssl(dir, [
    'req',
    '-new',
    '-config',
    'openssl.cnf',
    ...EC_KEY,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.csr`,
    '-subj',
    subject,
  ]);
  await openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-set_serial',
    `0x${randomBytes(8).toString('hex')}`,
    '-days',
    '3650',
    '-extfile',
    'openssl.cnf',
    '-extensions',
    extensions,
    '-out',
    `${name}.crt`,
  ]);
}

/**
 * Makes the cluster CA, the API server's serving certificate (for
 * `serverIps`, the first service IP and the `kubernetes` names), the admin and
 * controller-manager client certificates and the ServiceAccount signing key in
 * `dir`. `nodeIp` names the kubelet's serving address for makeLeaf(…,
 * 'kubelet'). `controllerManagerSubject` is the controller-manager's identity.
 */
export async function makePki(
  dir: string,
  opts: { serverIps: string[]; serviceIp: string; nodeIp?: string; controllerManagerSubject: string },
): Promise<void> {
  const serverSans = [
    ...opts.serverIps.map((ip) => `IP:${ip}`),
    'DNS:localhost',
    `IP:${opts.serviceIp}`,
    ...['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'].map(
      (n) => `DNS:${n}`,
    ),
  ];
  await fsp.writeFile(
    path.join(dir, 'openssl.cnf'),
    opensslConfig(serverSans, opts.nodeIp ? [`IP:${opts.nodeIp}`] : []),
  );
  await makeCa(dir, 'kube9-test-ca');
  await Promise.all([
    makeLeaf(dir, 'apiserver', '/CN=kube-apiserver', 'server'),
    makeLeaf(dir, 'admin', '/O=system:masters/CN=kube9-test-admin', 'client'),
    makeLeaf(dir, 'controller-manager', opts.controllerManagerSubject, 'client'),
    (async () => {
      await openssl(dir, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'sa.key']);
      await openssl(dir, ['pkey', '-in', 'sa.key', '-pubout', '-out', 'sa.pub']);
    })(),
  ]);
}

/** A kubeconfig with one cluster (CA data embedded) and one user. */
export function kubeconfigYaml(server: string, caData: string, userName: string, user: Record<string, string>): string {
  const userLines = Object.entries(user)
    .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)
    .join('\n');
  return `apiVersion: v1
kind: Config
clusters:
- name: kube9-test
  cluster:
    server: ${server}
    certificate-authority-data: ${caData}
users:
- name: ${userName}
  user:
${userLines}
contexts:
- name: ${userName}@kube9-test
  context:
    cluster: kube9-test
    user: ${userName}
current-context: ${userName}@kube9-test
`;
}

/** A self-signed CA (`ca.crt`, `ca.key`) named `name`, from the `openssl.cnf` already written in `dir`. */
function makeCa(dir: string, name: string): Promise<void> {
  return openssl(dir, [
    'req',
    '-x509',
    '-config',
    'openssl.cnf',
    '-extensions',
    'ca',
    ...EC_KEY,
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '3650',
    '-subj',
    `/CN=${name}`,
  ]);
}

/**
 * A CA of its own (`ca.crt`, `ca.key`) and a server certificate (`server.crt`,
 * `server.key`) for `sans` (e.g. `IP:10.213.0.1`) in `dir`: the test
 * registry's, so that trusting it trusts nothing of the cluster's.
 */
export async function makeServerPki(dir: string, caName: string, sans: string[]): Promise<void> {
  await fsp.writeFile(path.join(dir, 'openssl.cnf'), opensslConfig(sans, []));
  await makeCa(dir, caName);
  await makeLeaf(dir, 'server', `/CN=${caName} server`, 'server');
}
