/*
 * The image as a user receives it: one tag, an OCI image index for linux/amd64
 * and linux/arm64, built from the one Dockerfile by test/node/images.sh. Read
 * from the OCI archive of that index (what a release pushes) layer by layer,
 * with no container runtime in between: both platforms are there, the bundle
 * is the very same in both, each carries the Node binary and loader of its own
 * architecture (ELF e_machine) and a code cache written by that Node, and
 * neither has a shell, a package manager or npm.
 *
 * The images are built on this machine from stand-ins for the base images
 * (see images.sh); the arm64 one is run as the chart's pod in
 * test/arm64-pod.e2e-spec.ts.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ensureImages, type NodeImages } from './support/worker-node';
import { ELF_MACHINE, elfMachine } from './support/elf';

jest.setTimeout(120_000);

const NODE_ARCH = { amd64: 'x64', arm64: 'arm64' } as const;
const LOADER = { amd64: 'lib64/ld-linux-x86-64.so.2', arm64: 'lib/ld-linux-aarch64.so.1' } as const;
type Arch = keyof typeof ELF_MACHINE;

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}
interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  config: {
    User?: string;
    Entrypoint?: string[] | null;
    Cmd?: string[];
    WorkingDir?: string;
    Env?: string[];
    ExposedPorts?: Record<string, object>;
    Labels?: Record<string, string>;
    Healthcheck?: unknown;
  };
}

let images: NodeImages;
let archives: Record<keyof NodeImages, string>;
let layout: string;
/** Each platform's image, unpacked layer over layer. */
const rootfs: Partial<Record<Arch, string>> = {};
const manifests: Partial<Record<Arch, Descriptor>> = {};
const configs: Partial<Record<Arch, ImageConfig>> = {};
let index: { manifests: Descriptor[]; mediaType?: string };
let top: { manifests: Descriptor[] };

const blobPath = (dir: string, digest: string) => path.join(dir, 'blobs', ...digest.split(':'));
const readJson = <T>(file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as T;
const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');
/** `file` (relative to `root`) with its symbolic links followed inside `root`, as the image would. */
function resolveIn(root: string, file: string): string {
  let rel = file;
  for (let hops = 0; hops < 16; hops++) {
    const full = path.join(root, rel);
    if (!fs.lstatSync(full).isSymbolicLink()) return full;
    const target = fs.readlinkSync(full);
    rel = target.startsWith('/') ? target.slice(1) : path.join(path.dirname(rel), target);
  }
  throw new Error(`${file}: too many symbolic links in ${root}`);
}

/** Every path below `dir` (relative), directories too. */
function walk(dir: string, base = dir): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    const rel = path.relative(base, full);
    return e.isDirectory() ? [rel, ...walk(full, base)] : [rel];
  });
}

beforeAll(async () => {
  const built = await ensureImages();
  images = built.images;
  archives = built.archiveOf;
  layout = fs.mkdtempSync(path.join(tmpdir(), 'kube9-index-'));
  execFileSync('tar', ['-xf', archives.operatorIndex, '-C', layout]);
  top = readJson(path.join(layout, 'index.json'));
  index = readJson(blobPath(layout, top.manifests[0].digest));
  for (const arch of ['amd64', 'arm64'] as const) {
    const descriptor = index.manifests.find((m) => m.platform?.architecture === arch);
    if (!descriptor) continue;
    manifests[arch] = descriptor;
    const manifest = readJson<{ config: Descriptor; layers: Descriptor[] }>(blobPath(layout, descriptor.digest));
    configs[arch] = readJson(blobPath(layout, manifest.config.digest));
    const dir = path.join(layout, `rootfs-${arch}`);
    fs.mkdirSync(dir);
    // No layer of these images deletes anything (no whiteouts): unpacking in order is the image.
    for (const layer of manifest.layers) execFileSync('tar', ['-xf', blobPath(layout, layer.digest), '-C', dir]);
    rootfs[arch] = dir;
  }
}, 1_500_000);

afterAll(() => {
  if (layout) fs.rmSync(layout, { recursive: true, force: true });
});

describe('one tag, two architectures', () => {
  it('the OCI archive holds one image index, named by the tag, with linux/amd64 and linux/arm64 (v8)', () => {
    const tag = images.operator.slice(images.operator.lastIndexOf(':') + 1);
    expect(images.operatorIndex).toBe(images.operator);
    expect(top.manifests).toHaveLength(1);
    expect(top.manifests[0]).toMatchObject({
      mediaType: 'application/vnd.oci.image.index.v1+json',
      annotations: { 'org.opencontainers.image.ref.name': tag },
    });
    expect(index.manifests.map((m) => m.platform)).toEqual([
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm64', os: 'linux', variant: 'v8' },
    ]);
    for (const arch of ['amd64', 'arm64'] as const) {
      expect(manifests[arch]!.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
      expect({ arch, os: configs[arch]!.os, architecture: configs[arch]!.architecture }).toEqual({
        arch,
        os: 'linux',
        architecture: arch,
      });
    }
  });

  it('both carry the very same bundle: dist/ and package.json have the same digests', () => {
    const bundle = (arch: Arch) => {
      const app = path.join(rootfs[arch]!, 'app');
      return Object.fromEntries(
        walk(app)
          .filter((file) => !file.startsWith('dist/.compile-cache') && fs.statSync(path.join(app, file)).isFile())
          .sort()
          .map((file) => [file, sha256(path.join(app, file))]),
      );
    };
    const amd64 = bundle('amd64');

    expect(Object.keys(amd64)).toEqual(
      expect.arrayContaining(['dist/code-cache-loader.js', 'dist/main.js', 'package.json']),
    );
    expect(bundle('arm64')).toEqual(amd64);
    console.log(`[multi-arch-image] dist/main.js sha256 ${amd64['dist/main.js']} in both`);
  });

  it.each(['amd64', 'arm64'] as const)('%s: Node and its loader are ELF for that machine', (arch) => {
    const root = rootfs[arch]!;
    expect(elfMachine(path.join(root, 'nodejs/bin/node'))).toBe(ELF_MACHINE[arch]);
    expect(elfMachine(resolveIn(root, LOADER[arch]))).toBe(ELF_MACHINE[arch]);
    // The program interpreter Node asks for is that loader.
    const node = fs.readFileSync(path.join(root, 'nodejs/bin/node')).subarray(0, 4096).toString('latin1');
    expect(node).toContain(`/${LOADER[arch]}\0`);
  });

  it.each(['amd64', 'arm64'] as const)('%s: the code cache was written by that architecture’s Node', (arch) => {
    const cache = fs.readdirSync(path.join(rootfs[arch]!, 'app/dist/.compile-cache'));
    expect(cache).toEqual([expect.stringMatching(new RegExp(`^main-v22\\.\\d+\\.\\d+-${NODE_ARCH[arch]}-[0-9a-f]+-`))]);
    const stat = fs.statSync(path.join(rootfs[arch]!, 'app/dist/.compile-cache', cache[0]));
    expect({ uid: stat.uid, mode: (stat.mode & 0o777).toString(8) }).toEqual({ uid: 0, mode: '644' });
  });

  it('the arm64 archive the test node loads is the index’s arm64 manifest, by its digest', () => {
    const dir = fs.mkdtempSync(path.join(layout, 'arm64-'));
    execFileSync('tar', ['-xf', archives.operatorArm64, '-C', dir, './index.json']);
    const arm64 = readJson<{ manifests: Descriptor[] }>(path.join(dir, 'index.json'));
    expect(arm64.manifests).toEqual([manifests.arm64]);
    expect(images.operatorArm64).toBe(
      `${images.operator.slice(0, images.operator.lastIndexOf(':'))}@${manifests.arm64!.digest}`,
    );
  });
});

describe('a runtime with nothing it does not use', () => {
  it.each(['amd64', 'arm64'] as const)('%s: no shell, no package manager, no npm; nothing to run but Node', (arch) => {
    const root = rootfs[arch]!;
    const files = walk(root);
    const named = (re: RegExp) =>
      files.filter((file) => re.test(path.basename(file)) && !fs.lstatSync(path.join(root, file)).isDirectory());

    expect(fs.existsSync(path.join(root, 'bin/sh'))).toBe(false);
    expect(named(/^(sh|bash|dash|ash|zsh|busybox|toybox)$/)).toEqual([]);
    expect(named(/^(apt|apt-get|apt-key|dpkg|dpkg-deb|dpkg-query|rpm|apk|microdnf)$/)).toEqual([]);
    expect(named(/^(npm|npx|npm-cli\.js|corepack|yarn|pnpm)$/)).toEqual([]);
    // Every executable file that is not a shared library: Node alone. And no script
    // (#!) anywhere, since there is nothing to interpret it.
    const regular = files.filter((file) => fs.lstatSync(path.join(root, file)).isFile());
    const executables = regular.filter(
      (file) => fs.statSync(path.join(root, file)).mode & 0o111 && !/\.so(\.[\d.]+)?$/.test(file),
    );
    expect(executables).toEqual(['nodejs/bin/node']);
    const scripts = regular.filter((file) => {
      const fd = fs.openSync(path.join(root, file), 'r');
      const head = Buffer.alloc(2);
      fs.readSync(fd, head, 0, 2, 0);
      fs.closeSync(fd);
      return head.toString('latin1') === '#!';
    });
    expect(scripts).toEqual([]);
  });

  it.each(['amd64', 'arm64'] as const)(
    '%s: Node, glibc, libstdc++, the CA bundle and tzdata, from 8 Debian packages',
    (arch) => {
      const root = rootfs[arch]!;
      const packages = fs.readdirSync(path.join(root, 'var/lib/dpkg/status.d')).sort();
      expect(packages).toEqual(
        [
          'base-files',
          'ca-certificates',
          'gcc-12-base',
          'libc6',
          'libgcc-s1',
          'libstdc++6',
          'netbase',
          'tzdata',
        ].sort(),
      );
      const triplet = arch === 'amd64' ? 'x86_64-linux-gnu' : 'aarch64-linux-gnu';
      for (const lib of ['libc.so.6', 'libstdc++.so.6', 'libgcc_s.so.1']) {
        const dir = ['lib', 'usr/lib'].find((d) => fs.existsSync(path.join(root, d, triplet, lib)));
        expect({ lib, found: !!dir }).toEqual({ lib, found: true });
        expect(elfMachine(resolveIn(root, path.join(dir!, triplet, lib)))).toBe(ELF_MACHINE[arch]);
      }
      const bundle = fs.readFileSync(path.join(root, 'etc/ssl/certs/ca-certificates.crt'), 'utf8');
      expect(bundle.match(/BEGIN CERTIFICATE/g)!.length).toBeGreaterThan(100);
      expect(fs.existsSync(path.join(root, 'usr/share/zoneinfo/Europe/Berlin'))).toBe(true);
      console.log(
        `[multi-arch-image] ${arch}: ${packages.length} packages, ` +
          `${(Number(execFileSync('du', ['-sb', root], { encoding: 'utf8' }).split('\t')[0]) / 1024 / 1024).toFixed(1)} MiB unpacked`,
      );
    },
  );

  it.each(['amd64', 'arm64'] as const)(
    '%s: runs node as uid 1000 from /app, the whole command in CMD, labelled as built on a stand-in',
    (arch) => {
      const { config } = configs[arch]!;
      expect(config.User).toBe('1000:1000');
      expect(config.Entrypoint ?? []).toEqual([]);
      expect(config.Cmd).toEqual([
        '/nodejs/bin/node',
        '--no-opt',
        '--max-old-space-size=64',
        'dist/code-cache-loader.js',
      ]);
      expect(config.WorkingDir).toBe('/app');
      expect(config.Env).toEqual(expect.arrayContaining(['NODE_ENV=production', 'PORT=8080']));
      expect(Object.keys(config.ExposedPorts ?? {})).toEqual(['8080/tcp']);
      expect(config.Healthcheck).toBeUndefined();
      // Built here on the stand-in for distroless (images.sh), and it says so.
      expect(config.Labels?.['kube9.stand-in']).toBe('true');
      expect(config.Labels?.['org.opencontainers.image.title']).toMatch(/^STAND-IN for gcr\.io\/distroless\//);
    },
  );
});
