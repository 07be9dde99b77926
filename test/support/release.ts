/*
 * `npm run release` from the tests and the harness: runs scripts/release.sh
 * against a registry with a cosign key pair made here, and reads the digests
 * it prints.
 */
import { execFile, spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './binaries';

const execFileAsync = promisify(execFile);

/** The test key pair's password: a test secret, never a real one. */
export const COSIGN_TEST_PASSWORD = 'kube9-test-signing-key';

export interface CosignKeyPair {
  privateKey: string;
  publicKey: string;
}

export interface Release {
  /** `HOST:PORT/NAMESPACE/kube9-operator:VERSION@sha256:…` */
  image: string;
  /** `oci://HOST:PORT/NAMESPACE/charts/kube9-operator:VERSION@sha256:…` */
  chart: string;
  signature: string;
  attestation: string;
  /** The image reference without the digest (`…/kube9-operator:VERSION`). */
  imageTag: string;
  /** The image digest (`sha256:…`). */
  imageDigest: string;
  /** `oci://HOST:PORT/NAMESPACE/charts/kube9-operator`, what `helm install` takes. */
  chartRef: string;
  version: string;
  /** Everything the script printed on stderr (its progress). */
  log: string;
}

/** The pinned cosign (test/controlplane/build.sh). */
export function cosignPath(binDir: string): string {
  return path.join(binDir, 'cosign');
}

/** `cosign generate-key-pair` into `dir` (cosign.key, cosign.pub), password COSIGN_TEST_PASSWORD. */
export async function makeCosignKeyPair(binDir: string, dir: string, name = 'cosign'): Promise<CosignKeyPair> {
  const prefix = path.join(dir, name);
  await execFileAsync(cosignPath(binDir), ['generate-key-pair', '--output-key-prefix', prefix], {
    env: { ...process.env, COSIGN_PASSWORD: COSIGN_TEST_PASSWORD },
  });
  return { privateKey: `${prefix}.key`, publicKey: `${prefix}.pub` };
}

export interface ReleaseOptions {
  /** `HOST:PORT/NAMESPACE` */
  registry: string;
  version?: string;
  key: string;
  authFile: string;
  caPath?: string;
}

/** Runs scripts/release.sh; resolves with its exit code, stdout and stderr (it never rejects on a non-zero exit). */
export function runReleaseScript(
  opts: ReleaseOptions,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const root = repoRoot();
  const args = [path.join(root, 'scripts', 'release.sh'), '--registry', opts.registry, '--key', opts.key];
  if (opts.version) args.push('--version', opts.version);
  return new Promise((resolve, reject) => {
    const child = spawn('bash', args, {
      cwd: root,
      env: {
        ...process.env,
        REGISTRY_AUTH_FILE: opts.authFile,
        ...(opts.caPath ? { REGISTRY_CA: opts.caPath } : {}),
        COSIGN_PASSWORD: COSIGN_TEST_PASSWORD,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs the release and parses what it printed; rejects with its output when it fails. */
export async function release(opts: ReleaseOptions): Promise<Release> {
  const { code, stdout, stderr } = await runReleaseScript(opts);
  if (code !== 0) throw new Error(`scripts/release.sh failed (exit ${code}):\n${stderr.slice(-4000)}`);
  const printed: Record<string, string> = {};
  for (const line of stdout.trim().split('\n')) {
    const m = /^([A-Z]+)=(\S+)$/.exec(line);
    if (m) printed[m[1]] = m[2];
  }
  for (const name of ['IMAGE', 'CHART', 'SIGNATURE', 'ATTESTATION']) {
    if (!/@sha256:[0-9a-f]{64}$/.test(printed[name] ?? '')) {
      throw new Error(`scripts/release.sh printed no ${name}=…@sha256:… line:\n${stdout}`);
    }
  }
  const [imageTag, imageDigest] = printed.IMAGE.split('@');
  const chartTagged = printed.CHART.split('@')[0];
  const colon = chartTagged.lastIndexOf(':');
  return {
    image: printed.IMAGE,
    chart: printed.CHART,
    signature: printed.SIGNATURE,
    attestation: printed.ATTESTATION,
    imageTag,
    imageDigest,
    chartRef: chartTagged.slice(0, colon),
    version: chartTagged.slice(colon + 1),
    log: stderr,
  };
}

export interface ChartSigningKey {
  /** The key's name (`helm package --sign --key`). */
  name: string;
  /** The secret keyring helm signs with (`--keyring`), as `gpg --export-secret-keys` writes it. */
  secretKeyring: string;
}

/**
 * A GPG key without a passphrase for `helm package --sign`, made in a GnuPG home of its own
 * under `dir` (its agent stopped afterwards); a test key, never a real one.
 */
export async function makeChartSigningKey(
  dir: string,
  name = 'kube9 test charts <charts@kube9.invalid>',
): Promise<ChartSigningKey> {
  const home = path.join(dir, 'gnupg');
  await execFileAsync('mkdir', ['-m', '700', '-p', home]);
  const gpg = (...args: string[]) =>
    execFileAsync('gpg', ['--batch', '--homedir', home, '--pinentry-mode', 'loopback', '--passphrase', '', ...args], {
      encoding: 'buffer',
      maxBuffer: 16 << 20,
    });
  try {
    await gpg('--quick-gen-key', name, 'rsa2048', 'sign', 'never');
    const { stdout } = await gpg('--export-secret-keys', name);
    const secretKeyring = path.join(dir, 'chart-signing.gpg');
    await writeFile(secretKeyring, stdout);
    return { name, secretKeyring };
  } finally {
    await execFileAsync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']).catch(() => undefined);
  }
}
