/*
 * `npm run release` as a maintainer runs it, against a registry of its own
 * (test/support/registry.ts: Debian's docker-registry, TLS with a test CA,
 * basic auth), and what a careful user then checks: the chart installs from
 * oci://, the image signature verifies with the public key (and fails for an
 * image re-pushed under the same tag), and the signed SBOM lists the Node
 * binary and every npm package bundled into dist/ with its version.
 * The classic chart repository it writes (--chart-repo): each version's .tgz
 * and .prov (signed with a GPG key made here), index.yaml merged with what is
 * there, a published version never replaced; `helm install --verify` passes,
 * and refuses a package changed after signing.
 *
 * The pods of the real operator, pulled from such a registry with an image
 * pull Secret, run in test/real-pod.e2e-spec.ts.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './support/binaries';
import { runCommand } from './support/command';
import { createTestNamespace, deleteTestNamespace, runHelm } from './support/kube';
import { type TestRegistry, startRegistry } from './support/registry';
import {
  cosignPath,
  COSIGN_TEST_PASSWORD,
  type CosignKeyPair,
  GPG_TEST_PASSPHRASE,
  type GpgKey,
  makeCosignKeyPair,
  makeGpgKey,
  type Release,
  type ReleaseOptions,
  release,
  runReleaseScript,
} from './support/release';
import * as yaml from 'js-yaml';
import { createHash } from 'node:crypto';

const execFileAsync = promisify(execFile);
const root = repoRoot();
const binDir = path.join(root, '.cache', 'bin', 'current');

let dir: string;
let registry: TestRegistry;
let keys: CosignKeyPair;
let released: Release;
let gpg: GpgKey;
let chartRepo: string;
/** The URL the index entries point at (never fetched here). */
const CHART_REPO_URL = 'https://charts.kube9.example/stable';
const namespaces: string[] = [];

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'kube9-release-'));
  registry = await startRegistry({ dir: path.join(dir, 'registry'), host: '127.0.0.1' });
  keys = await makeCosignKeyPair(binDir, dir);
  gpg = await makeGpgKey(path.join(dir, 'gpg'));
  chartRepo = path.join(dir, 'chart-repo');
  await fsp.mkdir(chartRepo);
});

/** release.sh's options for this file's registry and chart repository, with the keys made above. */
function toTestRepositories(): ReleaseOptions {
  return {
    registry: `${registry.address}/kube9`,
    key: keys.privateKey,
    authFile: registry.authFile,
    caPath: registry.caPath,
    chartRepo: { dir: chartRepo, url: CHART_REPO_URL },
    gpg,
  };
}

afterAll(async () => {
  for (const namespace of namespaces) {
    await runHelm(['uninstall', 'kube9-operator', '-n', namespace, '--ignore-not-found']);
    await deleteTestNamespace(namespace);
  }
  await registry?.stop();
  if (dir) await fsp.rm(dir, { recursive: true, force: true });
});

/** cosign with the registry's credentials and CA, as a user who has them. */
async function cosign(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const dockerConfig = path.join(dir, 'docker');
  await fsp.mkdir(dockerConfig, { recursive: true });
  await fsp.copyFile(registry.authFile, path.join(dockerConfig, 'config.json'));
  try {
    const { stdout, stderr } = await execFileAsync(cosignPath(binDir), args, {
      env: { ...process.env, DOCKER_CONFIG: dockerConfig, SSL_CERT_FILE: registry.caPath },
      maxBuffer: 64 << 20,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

async function catalog(): Promise<string[]> {
  const answer = await registry.get('/v2/_catalog');
  expect(answer.status).toBe(200);
  return (JSON.parse(answer.body) as { repositories: string[] }).repositories;
}

it('keeps the chart version and appVersion in step with package.json', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  const chart = fs.readFileSync(path.join(root, 'helm', 'kube9-operator', 'Chart.yaml'), 'utf8');
  const field = (name: string) => new RegExp(`^${name}:\\s*"?([^"\\s]+)"?\\s*$`, 'm').exec(chart)?.[1];
  expect({ version: field('version'), appVersion: field('appVersion') }).toEqual({
    version: pkg.version,
    appVersion: pkg.version,
  });
});

it('stops before pushing anything when the registry refuses the login, and names the registry', async () => {
  const wrong = registry.authFileFor(registry.user, 'not-the-password', 'wrong-auth');
  const result = await runReleaseScript({
    registry: `${registry.address}/kube9`,
    key: keys.privateKey,
    authFile: wrong,
    caPath: registry.caPath,
  });
  expect(result.code).not.toBe(0);
  expect(result.stderr).toContain(`the registry ${registry.address} refused the login`);
  expect(result.stderr).toContain('nothing was pushed');
  expect(result.stderr).not.toContain('not-the-password');
  expect(await catalog()).toEqual([]);
}, 60_000);

it('rejects a registry that is not HOST[:PORT]/NAMESPACE, naming what is allowed', async () => {
  const result = await runReleaseScript({
    registry: registry.address,
    key: keys.privateKey,
    authFile: registry.authFile,
  });
  expect(result.code).not.toBe(0);
  expect(result.stderr).toContain(`--registry '${registry.address}' is not HOST[:PORT]/NAMESPACE`);
});

it('names every option it accepts when given another', async () => {
  const result = await execFileAsync('bash', [path.join(root, 'scripts', 'release.sh'), '--registy', 'x']).catch(
    (err: { code: number; stderr: string }) => err,
  );
  expect((result as { code: number }).code).not.toBe(0);
  for (const option of [
    '--registry',
    '--version',
    '--key',
    '--chart-repo DIR',
    '--chart-repo-url URL',
    '--gpg-key NAME',
    '--gpg-keyring FILE',
  ]) {
    expect(result.stderr).toContain(option);
  }
  expect(result.stderr).toContain("unknown argument '--registy'");
});

it("without --registry, publishes to ghcr.io/alto9 (the chart's default image): asks for its credentials first", async () => {
  const result = await execFileAsync('bash', [path.join(root, 'scripts', 'release.sh'), '--key', keys.privateKey], {
    env: { ...process.env, REGISTRY_AUTH_FILE: registry.authFile, COSIGN_PASSWORD: 'unused' },
  }).catch((err: { code: number; stderr: string }) => err);
  expect((result as { code: number }).code).not.toBe(0);
  expect(result.stderr).toContain(`no credentials for ghcr.io in ${registry.authFile}`);
});

it('refuses --chart-repo without --gpg-key: every published chart is signed', async () => {
  const result = await runReleaseScript({
    registry: `${registry.address}/kube9`,
    key: keys.privateKey,
    authFile: registry.authFile,
    chartRepo: { dir: chartRepo },
  });
  expect(result.code).not.toBe(0);
  expect(result.stderr).toContain('--chart-repo needs --gpg-key NAME');
  expect(await fsp.readdir(chartRepo)).toEqual([]);
});

it('pushes the image, the chart, the signature and the SBOM attestation, and prints every digest', async () => {
  released = await release(toTestRepositories());
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  expect(released.version).toBe(pkg.version);
  expect(released.imageTag).toBe(`${registry.address}/kube9/kube9-operator:${pkg.version}`);
  expect(released.chartRef).toBe(`oci://${registry.address}/kube9/charts/kube9-operator`);
  expect((await catalog()).sort()).toEqual(['kube9/charts/kube9-operator', 'kube9/kube9-operator'].sort());
  // Each printed digest is what the registry holds.
  const accept = [
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.oci.image.index.v1+json',
    'application/vnd.docker.distribution.manifest.v2+json',
  ].join(', ');
  for (const printed of [released.image, released.chart, released.signature, released.attestation]) {
    const [name, digest] = printed.replace(/^oci:\/\//, '').split('@');
    const repository = name.slice(registry.address.length + 1).replace(/:[^/:]+$/, '');
    const answer = await registry.get(`/v2/${repository}/manifests/${digest}`, { method: 'HEAD', accept });
    expect({ printed, status: answer.status, digest: answer.headers['docker-content-digest'] }).toEqual({
      printed,
      status: 200,
      digest,
    });
  }
}, 900_000);

it('installs the chart from oci:// with helm, and fails clearly for a version that does not exist', async () => {
  const namespace = await createTestNamespace('release-oci');
  namespaces.push(namespace);
  const flags = ['--registry-config', registry.authFile, '--ca-file', registry.caPath];
  const missing = await runHelm([
    'install',
    'kube9-operator',
    released.chartRef,
    '--version',
    '9.9.9',
    '-n',
    namespace,
    ...flags,
  ]);
  expect(missing.code).not.toBe(0);
  expect(missing.stderr).toMatch(/9\.9\.9.*not found|not found.*9\.9\.9/);
  const ok = await runHelm([
    'install',
    'kube9-operator',
    released.chartRef,
    '--version',
    released.version,
    '-n',
    namespace,
    ...flags,
    '--set',
    `image.repository=${released.imageTag.replace(/:[^:]+$/, '')}`,
  ]);
  expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: expect.stringContaining('Pulled: ') });
  const manifest = await runHelm(['get', 'manifest', 'kube9-operator', '-n', namespace]);
  expect(manifest.stdout).toContain(`image: "${released.imageTag}"`);
}, 120_000);

it('verifies the image signature with the public key, and not with another key', async () => {
  const verified = await cosign([
    'verify',
    '--key',
    keys.publicKey,
    '--insecure-ignore-tlog=true',
    '--output',
    'json',
    `${released.imageTag}@${released.imageDigest}`,
  ]);
  expect(verified.stderr).toContain('The signatures were verified against the specified public key');
  expect(verified.code).toBe(0);
  const claims = JSON.parse(verified.stdout) as { critical: { image: { 'docker-manifest-digest': string } } }[];
  expect(claims.map((c) => c.critical.image['docker-manifest-digest'])).toEqual([released.imageDigest]);

  const other = await makeCosignKeyPair(binDir, dir, 'other');
  const refused = await cosign(['verify', '--key', other.publicKey, '--insecure-ignore-tlog=true', released.image]);
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toMatch(/no matching signatures/);
}, 120_000);

it('signs the SBOM as an attestation listing the Node binary and every bundled npm package with its version', async () => {
  const verified = await cosign([
    'verify-attestation',
    '--key',
    keys.publicKey,
    '--insecure-ignore-tlog=true',
    '--type',
    'spdxjson',
    `${released.imageTag}@${released.imageDigest}`,
  ]);
  expect(verified.code).toBe(0);
  const envelope = JSON.parse(verified.stdout.trim().split('\n')[0]) as { payload: string };
  const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as {
    subject: { digest: { sha256: string } }[];
    predicate: {
      packages: {
        name: string;
        versionInfo?: string;
        sourceInfo?: string;
        externalRefs?: { referenceLocator: string }[];
      }[];
    };
  };
  expect(statement.subject.map((s) => `sha256:${s.digest.sha256}`)).toEqual([released.imageDigest]);
  const spdx = statement.predicate.packages;
  // The npm packages the SBOM found in the bundle's lockfile (the image may hold other npm packages,
  // e.g. npm's own in a base image that ships npm; those are listed too, from their own files).
  const npm = new Set(
    spdx
      .filter((p) => p.sourceInfo?.includes('/app/dist/sbom/package-lock.json'))
      .flatMap((p) => p.externalRefs ?? [])
      .map((r) => r.referenceLocator)
      .filter((locator) => locator.startsWith('pkg:npm/'))
      .map((locator) => decodeURIComponent(locator.slice('pkg:npm/'.length)).replace(/\?.*$/, ''))
      .filter((purl) => !purl.startsWith('kube9-operator@')),
  );

  // What the bundle holds, from esbuild's metafiles and package-lock.json, worked out here on its own.
  await execFileAsync('npm', ['run', 'build'], { cwd: root, maxBuffer: 64 << 20 });
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version: string }>;
  };
  const expected = new Set<string>();
  const sbomDir = path.join(root, 'dist', 'sbom');
  for (const name of fs.readdirSync(sbomDir).filter((n) => n.startsWith('metafile-'))) {
    const meta = JSON.parse(fs.readFileSync(path.join(sbomDir, name), 'utf8')) as { inputs: Record<string, unknown> };
    for (const input of Object.keys(meta.inputs)) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(input);
      if (!m) continue;
      const dirInLock = input.slice(input.indexOf('node_modules/'), m.index + m[0].length - 1);
      expect(lock.packages[dirInLock]).toBeDefined();
      expected.add(`${m[1]}@${lock.packages[dirInLock].version}`);
    }
  }
  expect(expected.size).toBeGreaterThan(50);
  expect([...npm].sort()).toEqual([...expected].sort());

  // The Node binary the image runs, asked for its version: the amd64 image's layers are
  // fetched (skopeo picks this machine's platform from the index) and /nodejs/bin/node is
  // run from them. Distroless images carry no NODE_VERSION variable to read instead.
  const nodeVersion = await nodeVersionInImage(`${released.imageTag.replace(/:[^:/]+$/, '')}@${released.imageDigest}`);
  expect(nodeVersion).toMatch(/^22\./);
  expect(spdx.filter((p) => p.name === 'node').map((p) => p.versionInfo)).toEqual([nodeVersion]);
}, 300_000);

it('writes the release page files from what it pushed, each verified: cosign.pub, the SBOM, the chart, its provenance and key', async () => {
  // What release.yml does after `npm run release`: scripts/release-assets.sh over its printed lines.
  const printed = path.join(dir, 'release.out');
  await fsp.writeFile(printed, `IMAGE=${released.image}\nCHART=${released.chart}\n`);
  // A folder of its own: the chart repository of the tests above stays as they left it.
  const chartRepo = path.join(dir, 'chart-repo-assets');
  const signing = gpg;
  const passphraseFile = path.join(dir, 'gpg-passphrase');
  await fsp.writeFile(passphraseFile, GPG_TEST_PASSPHRASE, { mode: 0o600 });
  const packaged = await runHelm([
    'package',
    path.join(root, 'helm', 'kube9-operator'),
    '--version',
    released.version,
    '--app-version',
    released.version,
    '--sign',
    '--key',
    signing.name,
    '--keyring',
    signing.secretKeyring,
    '--passphrase-file',
    passphraseFile,
    '-d',
    chartRepo,
  ]);
  expect({ code: packaged.code, stderr: packaged.stderr }).toEqual({ code: 0, stderr: '' });
  const assets = (out: string, key = keys.privateKey) =>
    runCommand(
      'bash',
      [
        path.join(root, 'scripts', 'release-assets.sh'),
        ...['--printed', printed, '--key', key, '--chart-repo', chartRepo],
        ...['--gpg-key', signing.name, '--gpg-keyring', signing.secretKeyring, '--out', out],
      ],
      {
        cwd: root,
        env: {
          ...process.env,
          REGISTRY_AUTH_FILE: registry.authFile,
          REGISTRY_CA: registry.caPath,
          COSIGN_PASSWORD: COSIGN_TEST_PASSWORD,
        },
      },
    );
  const out = path.join(dir, 'assets');
  const result = await assets(out);
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  const chartFile = `kube9-operator-${released.version}.tgz`;
  expect(fs.readdirSync(out).sort()).toEqual(
    ['cosign.pub', chartFile, `${chartFile}.prov`, 'kube9-charts.gpg', 'sbom.spdx.json'].sort(),
  );
  expect(fs.readFileSync(path.join(out, 'cosign.pub'), 'utf8').trim()).toBe(
    fs.readFileSync(keys.publicKey, 'utf8').trim(),
  );
  const sbom = JSON.parse(fs.readFileSync(path.join(out, 'sbom.spdx.json'), 'utf8')) as {
    spdxVersion: string;
    packages: { name: string }[];
  };
  expect(sbom.spdxVersion).toMatch(/^SPDX-2\./);
  expect(sbom.packages.map((p) => p.name)).toEqual(expect.arrayContaining(['node', '@nestjs/core']));
  expect(fs.readFileSync(path.join(out, chartFile))).toEqual(fs.readFileSync(path.join(chartRepo, chartFile)));
  // The provenance verifies with the attached public key, as a user's `helm pull --verify` does.
  const verified = await runHelm([
    'verify',
    path.join(out, chartFile),
    '--keyring',
    path.join(out, 'kube9-charts.gpg'),
  ]);
  expect(verified.code).toBe(0);

  // A key that did not sign the image: nothing verifies, and the image is named.
  const other = await makeCosignKeyPair(binDir, dir, 'assets-other');
  const refused = await assets(path.join(dir, 'assets-other'), other.privateKey);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(`release-assets: the signature of ${released.image} does not verify`);

  // A chart package changed after signing: its provenance does not verify, and the package is named.
  fs.appendFileSync(path.join(chartRepo, chartFile), 'changed');
  const tampered = await assets(path.join(dir, 'assets-tampered'));
  expect(tampered.code).toBe(1);
  expect(tampered.stderr).toContain(`release-assets: the provenance of ${chartFile} does not verify`);
}, 300_000);

it('fails verification for an image re-pushed under the same tag, but different', async () => {
  // The busybox stand-in, pushed over the released tag: the tag now names an unsigned digest.
  const busybox = path.join(root, '.cache', 'images', 'busybox.tar');
  await execFileAsync('skopeo', [
    'copy',
    '--quiet',
    '--dest-authfile',
    registry.authFile,
    '--dest-cert-dir',
    path.dirname(registry.caPath),
    `docker-archive:${busybox}`,
    `docker://${released.imageTag}`,
  ]);
  const byTag = await cosign(['verify', '--key', keys.publicKey, '--insecure-ignore-tlog=true', released.imageTag]);
  expect(byTag.code).not.toBe(0);
  expect(byTag.stderr).toMatch(/no signatures found|no matching signatures/);
  // The released digest itself still verifies.
  const byDigest = await cosign([
    'verify',
    '--key',
    keys.publicKey,
    '--insecure-ignore-tlog=true',
    `${released.imageTag}@${released.imageDigest}`,
  ]);
  expect(byDigest.code).toBe(0);
}, 120_000);

interface IndexEntry {
  version: string;
  appVersion: string;
  digest: string;
  urls: string[];
  created: string;
}

function chartIndex(): IndexEntry[] {
  const index = yaml.load(fs.readFileSync(path.join(chartRepo, 'index.yaml'), 'utf8')) as {
    entries: Record<string, IndexEntry[]>;
  };
  expect(Object.keys(index.entries)).toEqual(['kube9-operator']);
  return index.entries['kube9-operator'];
}

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

describe('the classic chart repository (--chart-repo)', () => {
  const NEXT = '0.99.0';

  it('holds the signed package and an index.yaml entry with its digest, at --chart-repo-url', () => {
    const tgz = path.join(chartRepo, `kube9-operator-${released.version}.tgz`);
    expect(released.chartRepoPackage).toBe(tgz);
    expect(fs.readdirSync(chartRepo).sort()).toEqual(
      [`kube9-operator-${released.version}.tgz`, `kube9-operator-${released.version}.tgz.prov`, 'index.yaml'].sort(),
    );
    expect(fs.readFileSync(`${tgz}.prov`, 'utf8')).toContain('-----BEGIN PGP SIGNATURE-----');
    expect(
      chartIndex().map(({ version, appVersion, digest, urls }) => ({ version, appVersion, digest, urls })),
    ).toEqual([
      {
        version: released.version,
        appVersion: released.version,
        digest: sha256(tgz),
        urls: [`${CHART_REPO_URL}/kube9-operator-${released.version}.tgz`],
      },
    ]);
  });

  it('refuses a version already in the index, naming it, before anything is pushed; nothing is overwritten', async () => {
    const before = Object.fromEntries(
      fs.readdirSync(chartRepo).map((name) => [name, sha256(path.join(chartRepo, name))]),
    );
    const result = await runReleaseScript(toTestRepositories());
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`kube9-operator ${released.version} is already published in ${chartRepo}`);
    expect(result.stderr).not.toContain('[release] logged in');
    const after = Object.fromEntries(
      fs.readdirSync(chartRepo).map((name) => [name, sha256(path.join(chartRepo, name))]),
    );
    expect(after).toEqual(before);
  });

  it('merges a newer version into the published index: the earlier entry stays as it was, newest first', async () => {
    const earlier = chartIndex();
    const next = await release({ ...toTestRepositories(), version: NEXT });
    expect(next.version).toBe(NEXT);
    const entries = chartIndex();
    expect(entries.map((e) => e.version)).toEqual([NEXT, released.version]);
    expect(entries[1]).toEqual(earlier[0]);
    expect(entries[0].digest).toBe(sha256(path.join(chartRepo, `kube9-operator-${NEXT}.tgz`)));
    expect(fs.existsSync(path.join(chartRepo, `kube9-operator-${NEXT}.tgz.prov`))).toBe(true);
  }, 900_000);

  it('installs with helm install --verify against the public keyring, and refuses a package changed after signing', async () => {
    const namespace = await createTestNamespace('release-verify');
    namespaces.push(namespace);
    const tgz = path.join(chartRepo, `kube9-operator-${released.version}.tgz`);
    const verified = await runHelm([
      'install',
      'kube9-operator',
      tgz,
      '-n',
      namespace,
      '--verify',
      '--keyring',
      gpg.publicKeyring,
    ]);
    expect({ code: verified.code, stderr: verified.stderr }).toEqual({ code: 0, stderr: '' });

    // The same package, one file changed and packed again under the same name, next to the same .prov.
    const tampered = path.join(dir, 'tampered');
    await fsp.mkdir(path.join(tampered, 'src'), { recursive: true });
    await execFileAsync('tar', ['-xzf', tgz, '-C', path.join(tampered, 'src')]);
    await fsp.appendFile(path.join(tampered, 'src', 'kube9-operator', 'values.yaml'), '\n# changed after signing\n');
    const changed = path.join(tampered, path.basename(tgz));
    await execFileAsync('tar', ['-czf', changed, '-C', path.join(tampered, 'src'), 'kube9-operator']);
    await fsp.copyFile(`${tgz}.prov`, `${changed}.prov`);
    const refused = await runHelm([
      'install',
      'kube9-operator-tampered',
      changed,
      '-n',
      namespace,
      '--verify',
      '--keyring',
      gpg.publicKeyring,
    ]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(path.basename(tgz));
    expect(refused.stderr).toMatch(/sha256 sum does not match/);
    expect((await runHelm(['list', '-n', namespace, '-q'])).stdout.trim()).toBe('kube9-operator');
  }, 120_000);
});

/** `node --version` of /nodejs/bin/node in the image `ref` (this machine's platform), without the "v". */
async function nodeVersionInImage(ref: string): Promise<string> {
  const layoutDir = path.join(dir, 'image-dir');
  await fsp.rm(layoutDir, { recursive: true, force: true });
  await execFileAsync('skopeo', [
    'copy',
    '--src-authfile',
    registry.authFile,
    '--src-cert-dir',
    path.dirname(registry.caPath),
    `docker://${ref}`,
    `dir:${layoutDir}`,
  ]);
  const manifest = JSON.parse(fs.readFileSync(path.join(layoutDir, 'manifest.json'), 'utf8')) as {
    layers: { digest: string }[];
  };
  const extracted = path.join(dir, 'image-node');
  await fsp.mkdir(extracted, { recursive: true });
  // The last layer that holds it wins, as in the image's file system.
  for (const layer of manifest.layers) {
    const blob = path.join(layoutDir, layer.digest.replace(/^sha256:/, ''));
    // tar finds the compression itself; entries may be named ./nodejs/... or nodejs/....
    await execFileAsync('tar', ['-xf', blob, '-C', extracted, '--wildcards', '*nodejs/bin/node']).catch(
      () => undefined,
    );
  }
  const { stdout } = await execFileAsync(path.join(extracted, 'nodejs', 'bin', 'node'), ['--version']);
  return stdout.trim().replace(/^v/, '');
}
