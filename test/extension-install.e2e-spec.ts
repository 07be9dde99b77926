/*
 * The kube9 VS Code extension's Install and Upgrade buttons, run as they run (SPEC §10), with the
 * real helm, on the REAL WORKER NODE, against the classic chart repository that
 * `npm run release -- --chart-repo` wrote and the node's harness serves over HTTPS
 * (public-registry.ts; the helm client trusts its CA with `helm repo add --ca-file`, as a user of
 * a private CA does). The chart's default image, ghcr.io/alto9/kube9-operator:<appVersion>, is
 * pulled anonymously from the ghcr.io stand-in: no --set, no values file, no pull Secret.
 *
 * Install: `helm repo add kube9 URL` (only when no repository kube9 exists), `helm repo update
 * kube9`, `helm list --all-namespaces -o json` (refused when the namespace has the release), `helm
 * install kube9-operator kube9/kube9-operator --namespace kube9-system --create-namespace --wait
 * --timeout 5m`, `helm list` again (deployed). Upgrade: a newer version is published into the
 * repository from this tree; `helm search repo kube9-operator` lists it first; `helm upgrade
 * kube9-operator kube9/kube9-operator --namespace NS --reuse-values --version NEW --wait --timeout
 * 5m` from each earlier chart (0.1.0, 0.2.0 from history, this tree's), free and pro.
 *
 * Starts its own control plane with a node; needs root and the repository's history.
 *
 *   npx jest --config test/jest-e2e.config.js test/extension-install.e2e-spec.ts
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import type { CoreV1Api, KubeConfig, V1Pod } from '@kubernetes/client-node';
import { CHART_0_1_0_COMMIT, CHART_0_2_0_COMMIT, packageChartAt } from './support/chart';
import type { ControlPlane } from './support/control-plane';
import { TEST_KEYS } from './support/keys';
import { clusterScopedNamesWith, everyObjectIn, type HelmResult, runHelm } from './support/kube';
import { waitFor } from './support/operator-process';
import { type PublicRegistry, PUBLIC_NAMESPACE } from './support/public-registry';
import { freePort } from './support/registry';
import { isReady, operatorPods, RELEASE, serverArgs, startRealNode, stopRealNode } from './support/real-node';
import { release } from './support/release';
import type { ServerSimulator } from './support/server-simulator';
import { readStatus } from './support/status';

const execFileAsync = promisify(execFile);
const INTERVAL_SECONDS = 10;
/** The extension's staleness rule: a status older than this is shown degraded. */
const STALE_MS = 5 * 60_000;
const IMAGE = `ghcr.io/${PUBLIC_NAMESPACE}/kube9-operator`;

let cp: ControlPlane;
let kc: KubeConfig;
let core: CoreV1Api;
let simulator: ServerSimulator;
let pub: PublicRegistry;
/** The version this tree published when the node started (package.json's). */
let current: string;
/** The newer version the upgrade tests publish from this tree. */
let next: string;
const figures: string[] = [];

jest.setTimeout(600_000);

beforeAll(async () => {
  const node = await startRealNode({ intervalSeconds: INTERVAL_SECONDS, publicRegistry: true });
  ({ cp, kc, core, simulator } = node);
  pub = cp.publicRegistry!;
  current = cp.publicRelease!.version;
  const [major, minor, patch] = current.split(/[.-]/).map(Number);
  next = `${major}.${minor}.${patch + 1}`;
}, 1_800_000);

afterAll(async () => {
  if (figures.length) console.log(`[extension-install] ${figures.join('; ')}`);
  if (cp) await stopRealNode({ cp, simulator });
});

/** helm as the extension runs it: the user's own helm home (repositories, cache) and kubeconfig. */
function userHelm(args: string[], timeoutMs = 360_000): Promise<HelmResult> {
  const home = path.join(cp.dir, 'user-helm');
  return runHelm(args, {
    kubeconfig: cp.kubeconfigPath,
    timeoutMs,
    env: {
      HELM_CONFIG_HOME: path.join(home, 'config'),
      HELM_CACHE_HOME: path.join(home, 'cache'),
      HELM_DATA_HOME: path.join(home, 'data'),
    },
  });
}

async function userHelmOk(args: string[]): Promise<string> {
  const result = await userHelm(args);
  if (result.code !== 0) throw new Error(`helm ${args.slice(0, 2).join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

interface Listed {
  name: string;
  namespace: string;
  status: string;
  chart: string;
}

/** What the extension refuses before helm runs. */
class Refused extends Error {}

/**
 * The extension's "Install operator" button: steps 1 to 4, `extra` after the install command
 * (empty for the button itself). Resolves with how long `helm install --wait` took and the
 * release's status in `helm list` after it.
 */
async function extensionInstall(namespace: string, extra: string[] = []): Promise<{ ms: number; status?: string }> {
  const repos = await userHelm(['repo', 'list', '-o', 'json']);
  const names = repos.code === 0 ? (JSON.parse(repos.stdout) as { name: string }[]).map((r) => r.name) : [];
  if (!names.includes('kube9')) await userHelmOk(['repo', 'add', 'kube9', pub.chartRepoUrl, '--ca-file', pub.caPath]);
  await userHelmOk(['repo', 'update', 'kube9']);
  const releases = JSON.parse(await userHelmOk(['list', '--all-namespaces', '-o', 'json'])) as Listed[];
  const there = releases.find((r) => r.name === RELEASE && r.namespace === namespace);
  if (there) {
    throw new Refused(
      `kube9-operator is already installed in namespace ${namespace} (${there.chart}, ${there.status}): upgrade it instead`,
    );
  }
  const t0 = performance.now();
  const installed = await userHelm([
    'install',
    RELEASE,
    'kube9/kube9-operator',
    '--namespace',
    namespace,
    '--create-namespace',
    '--wait',
    '--timeout',
    '5m',
    ...extra,
  ]);
  const ms = performance.now() - t0;
  if (installed.code !== 0) throw new Error(`helm install failed after ${Math.round(ms)} ms: ${installed.stderr}`);
  const after = JSON.parse(await userHelmOk(['list', '--all-namespaces', '-o', 'json'])) as Listed[];
  return { ms, status: after.find((r) => r.name === RELEASE && r.namespace === namespace)?.status };
}

/** The extension's "Upgrade" button to `version`. */
function extensionUpgrade(namespace: string, version: string): Promise<HelmResult> {
  return userHelm([
    'upgrade',
    RELEASE,
    'kube9/kube9-operator',
    '--namespace',
    namespace,
    '--reuse-values',
    '--version',
    version,
    '--wait',
    '--timeout',
    '5m',
  ]);
}

/** Waits for the status document in `namespace` to say `tier` (operated/free or enabled/pro). */
function statusSays(namespace: string, tier: 'free' | 'pro', timeoutMs = 60_000): Promise<Record<string, any>> {
  return waitFor(
    `the status ConfigMap in ${namespace} to say ${tier}`,
    async () => {
      const status = await readStatus(namespace, core);
      const mode = tier === 'free' ? 'operated' : 'enabled';
      return status?.tier === tier && status.mode === mode ? status : undefined;
    },
    timeoutMs,
    200,
  );
}

/** The extension's staleness rule: written within 5 minutes and healthy, else it shows degraded. */
function fresh(status: Record<string, any>): { stale: boolean; health: string } {
  return { stale: Date.now() - Date.parse(status.lastUpdate as string) > STALE_MS, health: status.health as string };
}

/** The status ConfigMap in `namespace` says pro, fresh, healthy and registered. */
async function expectFreshPro(namespace: string): Promise<void> {
  const seen = await statusSays(namespace, 'pro');
  expect({ ...fresh(seen), registered: seen.registered }).toEqual({
    stale: false,
    health: 'healthy',
    registered: true,
  });
}

function readyPod(namespace: string, not?: string): Promise<V1Pod> {
  return waitFor(
    `a Ready operator pod in ${namespace}`,
    async () => (await operatorPods(core, namespace)).find((p) => p.metadata?.uid !== not && isReady(p)),
    180_000,
    250,
  );
}

async function uninstall(namespace: string): Promise<void> {
  await userHelmOk(['uninstall', RELEASE, '--namespace', namespace, '--wait', '--timeout', '2m']);
}

describe('Install, free: the button with no values at all', () => {
  const namespace = 'kube9-system';

  it('returns 0 within the 5 m timeout, deployed, the status says operated/free and is fresh', async () => {
    const t0 = Date.now();
    const { ms, status } = await extensionInstall(namespace);
    expect(status).toBe('deployed');
    const seen = await statusSays(namespace, 'free', 30_000);
    figures.push(
      `free install: helm install --wait returned in ${(ms / 1000).toFixed(1)} s, operated/free seen ${((Date.now() - t0) / 1000).toFixed(1)} s after the click`,
    );
    expect(ms).toBeLessThan(5 * 60_000);
    expect(fresh(seen)).toEqual({ stale: false, health: 'healthy' });
    expect(seen.apiKeyConfigured).toBe(false);
    const pod = await readyPod(namespace);
    expect(pod.spec!.containers[0].image).toBe(`${IMAGE}:${current}`);
    expect(pod.spec!.imagePullSecrets ?? []).toEqual([]);
    const values = JSON.parse(await userHelmOk(['get', 'values', RELEASE, '-n', namespace, '-o', 'json'])) as unknown;
    expect(values).toBeNull();
  });

  it('refuses a second install into that namespace before helm runs; NOTES.txt says how to upgrade', async () => {
    await expect(extensionInstall(namespace)).rejects.toThrow(
      new Refused(
        `kube9-operator is already installed in namespace ${namespace} (kube9-operator-${current}, deployed): upgrade it instead`,
      ),
    );
    const history = JSON.parse(await userHelmOk(['history', RELEASE, '-n', namespace, '-o', 'json'])) as unknown[];
    expect(history).toHaveLength(1);
    const notes = await userHelmOk(['get', 'notes', RELEASE, '-n', namespace]);
    expect(notes).toContain(
      `helm upgrade ${RELEASE} kube9/kube9-operator -n ${namespace} --reuse-values --version X.Y.Z`,
    );
  });

  it('verifies the chart it installed from the repository against the signing key (helm pull --verify)', async () => {
    const dest = path.join(cp.dir, 'verified');
    await fsp.mkdir(dest, { recursive: true });
    const pulled = await userHelm([
      'pull',
      'kube9/kube9-operator',
      '--version',
      current,
      '--verify',
      '--keyring',
      cp.chartKey!.publicKeyring,
      '-d',
      dest,
    ]);
    expect({ code: pulled.code, stderr: pulled.stderr }).toEqual({ code: 0, stderr: '' });
    expect(pulled.stdout).toContain('Signed by: kube9 chart signing (test)');
  });

  it('uninstalls through the same sequence: nothing left in the namespace, nothing cluster-scoped', async () => {
    await uninstall(namespace);
    const left = await waitFor(
      'nothing of the release in the namespace',
      async () => {
        const objects = await everyObjectIn(namespace, kc);
        return objects.length === 0 ? objects : undefined;
      },
      60_000,
      500,
    ).catch(() => everyObjectIn(namespace, kc));
    expect(left).toEqual([]);
    expect(await clusterScopedNamesWith(namespace, kc)).toEqual([]);
  });
});

describe('Install, pro', () => {
  it('with the key in a Secret made before the install (existingSecret)', async () => {
    const namespace = 'kube9-pro-secret';
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    await core.createNamespacedSecret({
      namespace,
      body: { metadata: { name: 'kube9-api-key' }, stringData: { apiKey: TEST_KEYS.chart } },
    });
    const { status } = await extensionInstall(namespace, [
      '--set',
      'existingSecret=kube9-api-key',
      ...serverArgs(simulator.url, INTERVAL_SECONDS),
    ]);
    expect(status).toBe('deployed');
    await expectFreshPro(namespace);
    await uninstall(namespace);
  });

  it('with --set apiKey given at install', async () => {
    const namespace = 'kube9-pro-key';
    const { status } = await extensionInstall(namespace, [
      '--set',
      `apiKey=${TEST_KEYS.chart}`,
      ...serverArgs(simulator.url, INTERVAL_SECONDS),
    ]);
    expect(status).toBe('deployed');
    await expectFreshPro(namespace);
    await uninstall(namespace);
  });
});

describe('bad input', () => {
  it('a version not in the index is refused, naming the version', async () => {
    const result = await userHelm([
      'install',
      RELEASE,
      'kube9/kube9-operator',
      '-n',
      'kube9-nine',
      '--version',
      '9.9.9',
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/kube9-operator.*9\.9\.9.*not found|9\.9\.9.*not found/);
  });

  it("an unreachable repository or an untrusted certificate: helm's own error", async () => {
    const closed = `https://${cp.node!.network.hostIp}:${await freePort(cp.node!.network.hostIp)}`;
    const unreachable = await userHelm(['repo', 'add', 'kube9-unreachable', closed, '--ca-file', pub.caPath]);
    expect(unreachable.code).not.toBe(0);
    expect(unreachable.stderr).toMatch(/cannot be reached/);
    expect(unreachable.stderr).toMatch(/connection refused/);
    const untrusted = await userHelm(['repo', 'add', 'kube9-untrusted', pub.chartRepoUrl]);
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toMatch(/certificate signed by unknown authority|failed to verify certificate/);
  });
});

describe('Upgrade, as the button does it, to a newer version published from this tree', () => {
  let earlierCharts: { label: string; chart: string[] }[];

  beforeAll(async () => {
    await release({
      registry: `${pub.address}/${PUBLIC_NAMESPACE}`,
      version: next,
      key: cp.cosignKeys!.privateKey,
      authFile: pub.authFile,
      caPath: pub.caPath,
      chartRepo: { dir: pub.chartRepoDir, url: pub.chartRepoUrl },
      gpg: cp.chartKey!,
    });
    // The earlier charts run the image built from this tree under their appVersion's tag (the
    // charts are what is tested), copied within the stand-in as the publisher would push it.
    const certDir = path.dirname(pub.caPath);
    await execFileAsync('skopeo', [
      'copy',
      '--all',
      '--quiet',
      '--src-cert-dir',
      certDir,
      '--dest-cert-dir',
      certDir,
      '--dest-authfile',
      pub.authFile,
      `docker://${pub.address}/${PUBLIC_NAMESPACE}/kube9-operator:${current}`,
      `docker://${pub.address}/${PUBLIC_NAMESPACE}/kube9-operator:0.1.0`,
    ]);
    const dir = path.join(cp.dir, 'earlier-charts');
    earlierCharts = [
      { label: '0.1.0', chart: [await packageChartAt(CHART_0_1_0_COMMIT, path.join(dir, '0.1.0'), cp.helmPath)] },
      { label: '0.2.0', chart: [await packageChartAt(CHART_0_2_0_COMMIT, path.join(dir, '0.2.0'), cp.helmPath)] },
      { label: `this tree's (${current})`, chart: ['kube9/kube9-operator', '--version', current] },
    ];
  }, 900_000);

  it('helm search repo kube9-operator lists it first, and --versions lists every version', async () => {
    await userHelmOk(['repo', 'update', 'kube9']);
    const latest = JSON.parse(await userHelmOk(['search', 'repo', 'kube9-operator', '-o', 'json'])) as {
      name: string;
      version: string;
    }[];
    expect(latest.map((c) => `${c.name} ${c.version}`)).toEqual([`kube9/kube9-operator ${next}`]);
    const every = JSON.parse(await userHelmOk(['search', 'repo', 'kube9-operator', '--versions', '-o', 'json'])) as {
      version: string;
    }[];
    expect(every.map((c) => c.version)).toEqual([next, current]);
  });

  for (const tier of ['free', 'pro'] as const) {
    for (const index of [0, 1, 2]) {
      it(`from earlier chart #${index + 1} (0.1.0, 0.2.0, this tree's), ${tier}: --reuse-values alone; the key kept, the tier the same, the ConfigMap never missing`, async () => {
        const earlier = earlierCharts[index];
        const namespace = `kube9-up-${index}-${tier}`;
        const tierArgs =
          tier === 'pro' ? ['--set', `apiKey=${TEST_KEYS.chart}`, ...serverArgs(simulator.url, INTERVAL_SECONDS)] : [];
        // The earlier charts (0.1.0, 0.2.0) named an image that was never published: they are
        // installed with the published one's repository, and no tag (their appVersion).
        const imageArgs = index < 2 ? ['--set', `image.repository=${IMAGE}`] : [];
        await userHelmOk([
          'install',
          RELEASE,
          ...earlier.chart,
          '--namespace',
          namespace,
          '--create-namespace',
          ...imageArgs,
          ...tierArgs,
        ]);
        const old = await readyPod(namespace);
        await statusSays(namespace, tier);

        const readings: { at: number; tier: string }[] = []; // tier, or 'missing'
        let watching = true;
        const watcher = (async () => {
          while (watching) {
            const status = await readStatus(namespace, core).catch(() => undefined);
            readings.push({ at: Date.now(), tier: (status?.tier as string | undefined) ?? 'missing' });
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
        })();
        let upgraded: HelmResult;
        const t0 = performance.now();
        try {
          upgraded = await extensionUpgrade(namespace, next);
          const newPod = await readyPod(namespace, old.metadata!.uid);
          expect(newPod.spec!.containers[0].image).toBe(`${IMAGE}:${next}`);
          // A write of the new pod.
          await waitFor(
            'a status write of the new pod',
            async () => {
              const status = await readStatus(namespace, core);
              return status &&
                Date.parse(status.lastUpdate as string) > Date.parse(newPod.status!.startTime!.toString())
                ? true
                : undefined;
            },
            3 * INTERVAL_SECONDS * 1000,
            200,
          );
        } finally {
          watching = false;
          await watcher;
        }
        figures.push(
          `upgrade ${earlier.label} ${tier}: helm upgrade --wait ${((performance.now() - t0) / 1000).toFixed(1)} s, ${readings.length} readings`,
        );
        expect({ code: upgraded.code, stderr: upgraded.stderr }).toEqual({ code: 0, stderr: '' });
        expect(readings.filter((r) => r.tier === 'missing')).toEqual([]);
        if (tier === 'free') expect([...new Set(readings.map((r) => r.tier))]).toEqual(['free']);
        else {
          // The new pod resumes the saved registration; a reading of free while it does must not
          // outlast one interval (as in chart-upgrade.e2e-spec.ts).
          const notPro = readings.filter((r) => r.tier !== 'pro');
          figures.push(`  ${notPro.length} of ${readings.length} readings not pro`);
          expect(notPro.length === 0 ? 0 : notPro.at(-1)!.at - notPro[0].at).toBeLessThan(INTERVAL_SECONDS * 1000);
          expect(readings.at(-1)!.tier).toBe('pro');
        }
        const listed = JSON.parse(await userHelmOk(['list', '-n', namespace, '-o', 'json'])) as Listed[];
        expect(listed.map((r) => `${r.chart} ${r.status}`)).toEqual([`kube9-operator-${next} deployed`]);
        const values = (JSON.parse(await userHelmOk(['get', 'values', RELEASE, '-n', namespace, '-o', 'json'])) ??
          {}) as { apiKey?: string };
        expect(values.apiKey).toBe(tier === 'pro' ? TEST_KEYS.chart : undefined);
        await statusSays(namespace, tier);
        await uninstall(namespace);
      });
    }
  }
});

it('nothing left the machine: the node guard dropped nothing', async () => {
  expect(fs.existsSync(pub.chartRepoDir)).toBe(true);
  expect(await cp.node!.guardCounters()).toEqual({ forward_drops: 0, output_drops: 0 });
});
