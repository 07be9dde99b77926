/*
 * `npm run release` from the tests and the harness: runs scripts/release.sh
 * against a registry with a cosign key pair made here (and, for a chart
 * repository, a GPG key made here that signs the chart's provenance), and
 * reads the digests it prints.
 */
import { execFile, spawn } from 'node:child_process';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './binaries';

const execFileAsync = promisify(execFile);

/** The test key pair's password: a test secret, never a real one. */
export const COSIGN_TEST_PASSWORD = 'kube9-test-signing-key';

/** The test GPG key's passphrase: a test secret, never a real one. */
export const GPG_TEST_PASSPHRASE = 'kube9-test-chart-key';

/** A GPG key that signs the chart (`helm package --sign`), in the legacy keyring files helm reads. */
export interface GpgKey {
  /** The key's user ID, what `--gpg-key` (helm's --key) names. */
  name: string;
  /** The secret keyring (`gpg --export-secret-keys`): release.sh's --gpg-keyring. */
  secretKeyring: string;
  /** The public keyring (`gpg --export`): what a user passes to `helm install --verify --keyring`. */
  publicKeyring: string;
}

/**
 * Makes an RSA signing key with passphrase GPG_TEST_PASSPHRASE in a GnuPG home of its own under
 * `dir`, exports both keyrings next to it and stops the gpg-agent that gpg started for it.
 */
export async function makeGpgKey(
  dir: string,
  name = 'kube9 chart signing (test) <charts@kube9.invalid>',
): Promise<GpgKey> {
  const home = path.join(dir, 'gnupg');
  await fsp.mkdir(home, { recursive: true, mode: 0o700 });
  const gpg = (args: string[]) =>
    execFileAsync(
      'gpg',
      ['--homedir', home, '--batch', '--pinentry-mode', 'loopback', '--passphrase', GPG_TEST_PASSPHRASE, ...args],
      { encoding: 'buffer', maxBuffer: 16 << 20 },
    ).catch((err: NodeJS.ErrnoException & { stderr?: Buffer }) => {
      if (err.code === 'ENOENT')
        throw new Error('gpg is missing: run test/node/install-packages.sh (gpg)', { cause: err });
      throw new Error(`gpg ${args[0]} failed: ${err.stderr?.toString() ?? err.message}`, { cause: err });
    });
  try {
    await gpg(['--quick-gen-key', name, 'rsa3072', 'sign', 'never']);
    const secretKeyring = path.join(dir, 'secring.gpg');
    const publicKeyring = path.join(dir, 'pubring.gpg');
    await fsp.writeFile(secretKeyring, (await gpg(['--export-secret-keys', name])).stdout, { mode: 0o600 });
    await fsp.writeFile(publicKeyring, (await gpg(['--export', name])).stdout);
    return { name, secretKeyring, publicKeyring };
  } finally {
    await execFileAsync('gpgconf', ['--homedir', home, '--kill', 'gpg-agent']).catch(() => undefined);
  }
}

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
  /** The package written to the chart repository (`--chart-repo`), when there is one. */
  chartRepoPackage?: string;
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
  /** `--chart-repo DIR` (with `--chart-repo-url` when given). */
  chartRepo?: { dir: string; url?: string };
  /** `--gpg-key` and `--gpg-keyring`, passphrase GPG_TEST_PASSPHRASE in HELM_KEY_PASSPHRASE. */
  gpg?: GpgKey;
}

/** Runs scripts/release.sh; resolves with its exit code, stdout and stderr (it never rejects on a non-zero exit). */
export function runReleaseScript(
  opts: ReleaseOptions,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const root = repoRoot();
  const args = [path.join(root, 'scripts', 'release.sh'), '--registry', opts.registry, '--key', opts.key];
  if (opts.version) args.push('--version', opts.version);
  if (opts.chartRepo) {
    args.push('--chart-repo', opts.chartRepo.dir);
    if (opts.chartRepo.url) args.push('--chart-repo-url', opts.chartRepo.url);
  }
  if (opts.gpg) args.push('--gpg-key', opts.gpg.name, '--gpg-keyring', opts.gpg.secretKeyring);
  return new Promise((resolve, reject) => {
    const child = spawn('bash', args, {
      cwd: root,
      env: {
        ...process.env,
        REGISTRY_AUTH_FILE: opts.authFile,
        ...(opts.caPath ? { REGISTRY_CA: opts.caPath } : {}),
        COSIGN_PASSWORD: COSIGN_TEST_PASSWORD,
        ...(opts.gpg ? { HELM_KEY_PASSPHRASE: GPG_TEST_PASSPHRASE } : {}),
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
    const m = /^([A-Z_]+)=(\S+)$/.exec(line);
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
    ...(printed.CHART_REPO_PACKAGE ? { chartRepoPackage: printed.CHART_REPO_PACKAGE } : {}),
    log: stderr,
  };
}
