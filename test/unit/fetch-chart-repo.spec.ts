/*
 * scripts/fetch-chart-repo.js, which the release workflow runs before `npm run release
 * --chart-repo`: it mirrors the published chart repository (index.yaml and every package the
 * index lists on the site, each checked against its digest) so the merged index and the
 * deployed site keep every earlier version. Served here by a loopback HTTP server.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as yaml from 'js-yaml';
import { repoRoot } from '@test/support/binaries';
import { runCommand } from '@test/support/command';

const root = repoRoot();
let server: http.Server;
let base: string;
let dir: string;
/** What the site serves: path -> [status, body]. */
let site: Map<string, [number, Buffer]>;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const [status, body] = site.get(req.url ?? '') ?? [404, Buffer.from('not found')];
    res.writeHead(status).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  site = new Map();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kube9-chart-repo-'));
});

afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const fetchRepo = (into = path.join(dir, 'repo')) =>
  runCommand(process.execPath, [path.join(root, 'scripts', 'fetch-chart-repo.js'), base, into]);

/** A published repository with 0.1.0 (no provenance), 0.2.0 (signed) and a package served elsewhere. */
function publish(opts: { corrupt?: boolean } = {}) {
  const packages = { '0.1.0': Buffer.from('chart 0.1.0'), '0.2.0': Buffer.from('chart 0.2.0') };
  const index = yaml.dump({
    apiVersion: 'v1',
    entries: {
      'kube9-operator': [
        ...Object.entries(packages).map(([version, content]) => ({
          name: 'kube9-operator',
          version,
          digest: sha256(content),
          urls: [`${base}/kube9-operator-${version}.tgz`],
        })),
        { name: 'kube9-operator', version: '0.0.9', urls: ['https://example.invalid/kube9-operator-0.0.9.tgz'] },
      ],
    },
  });
  site.set('/index.yaml', [200, Buffer.from(index)]);
  for (const [version, content] of Object.entries(packages)) {
    site.set(`/kube9-operator-${version}.tgz`, [200, opts.corrupt && version === '0.2.0' ? Buffer.from('x') : content]);
  }
  site.set('/kube9-operator-0.2.0.tgz.prov', [200, Buffer.from('provenance of 0.2.0')]);
  return { index, packages };
}

it('mirrors index.yaml and every package the site serves, with its provenance, byte for byte', async () => {
  const { index, packages } = publish();
  const result = await fetchRepo();
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
  const repo = path.join(dir, 'repo');
  expect(fs.readdirSync(repo).sort()).toEqual([
    'index.yaml',
    'kube9-operator-0.1.0.tgz',
    'kube9-operator-0.2.0.tgz',
    'kube9-operator-0.2.0.tgz.prov',
  ]);
  expect(fs.readFileSync(path.join(repo, 'index.yaml'), 'utf8')).toBe(index);
  for (const [version, content] of Object.entries(packages)) {
    expect(fs.readFileSync(path.join(repo, `kube9-operator-${version}.tgz`))).toEqual(content);
  }
});

it('starts empty, and says so, when nothing has been published yet (index.yaml 404)', async () => {
  const result = await fetchRepo();
  expect(result.code).toBe(0);
  expect(result.stdout).toContain(`nothing published at ${base}/ yet`);
  expect(fs.readdirSync(path.join(dir, 'repo'))).toEqual([]);
});

it('stops, writing nothing, when a package differs from the digest the index gives it', async () => {
  const { packages } = publish({ corrupt: true });
  const result = await fetchRepo();
  expect(result.code).toBe(1);
  expect(result.stderr).toContain(
    `${base}/kube9-operator-0.2.0.tgz has digest ${sha256(Buffer.from('x'))}, but ${base}/index.yaml says ${sha256(packages['0.2.0'])}`,
  );
  expect(fs.readdirSync(path.join(dir, 'repo'))).toEqual([]);
});

it('stops when a listed package is missing, or the site answers with an error, naming the URL', async () => {
  publish();
  site.delete('/kube9-operator-0.1.0.tgz');
  const missing = await fetchRepo();
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain(`${base}/kube9-operator-0.1.0.tgz is listed in ${base}/index.yaml`);

  site.set('/index.yaml', [503, Buffer.from('unavailable')]);
  const down = await fetchRepo();
  expect(down.code).toBe(1);
  expect(down.stderr).toContain(`${base}/index.yaml answered 503`);
});

it('refuses a folder that is not empty, and an index that is not a chart repository index', async () => {
  const full = path.join(dir, 'full');
  fs.mkdirSync(full);
  fs.writeFileSync(path.join(full, 'index.yaml'), 'old');
  const notEmpty = await fetchRepo(full);
  expect(notEmpty.code).toBe(1);
  expect(notEmpty.stderr).toContain(`${full} is not empty`);

  site.set('/index.yaml', [200, Buffer.from('<html>a login page</html>')]);
  const wrong = await fetchRepo();
  expect(wrong.code).toBe(1);
  expect(wrong.stderr).toContain(`${base}/index.yaml is not a chart repository index`);
});
