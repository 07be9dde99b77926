/*
 * Runs last (see sequencer.js): every byte the operators of this run printed,
 * everything they wrote into the cluster (ConfigMaps, Events, in every
 * namespace), and every GET /metrics the tests scraped, searched for every API
 * key the tests used. Secrets are the one place a key may be, and they are not
 * searched.
 */
import { CoreV1Api, EventsV1Api } from '@kubernetes/client-node';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { adminKubeConfig } from './support/kube';
import { ALL_TEST_KEYS } from './support/keys';
import { SCRAPES_DIR } from './support/metrics';
import { OUTPUT_LOG } from './support/operator-process';

/** The whole key, and each line of a key that spans lines (the header-breaking one). */
const NEEDLES = ALL_TEST_KEYS.flatMap((key) => [key, ...key.split('\n').filter((part) => part.length >= 8)]);

function leaksIn(text: string): string[] {
  return [...new Set(NEEDLES.filter((needle) => text.includes(needle)))];
}

describe('the API key never leaves its Secret', () => {
  it('appears nowhere in what the operators printed during this run', () => {
    const dir = path.dirname(OUTPUT_LOG);
    const files = existsSync(dir) ? readdirSync(dir).map((file) => path.join(dir, file)) : [];
    const printed = files.map((file) => readFileSync(file, 'utf8')).join('\n');

    expect(printed.length).toBeGreaterThan(10_000);
    expect(printed).toContain('kube9-server refused the API key');
    expect(leaksIn(printed)).toEqual([]);
  });

  it('appears in no ConfigMap and no Event in any namespace', async () => {
    const kubeConfig = adminKubeConfig();
    const configMaps = await kubeConfig.makeApiClient(CoreV1Api).listConfigMapForAllNamespaces();
    const coreEvents = await kubeConfig.makeApiClient(CoreV1Api).listEventForAllNamespaces();
    const events = await kubeConfig.makeApiClient(EventsV1Api).listEventForAllNamespaces();
    const written = JSON.stringify([configMaps.items, coreEvents.items, events.items]);

    expect(written).toContain('kube9-operator-status');
    expect(leaksIn(written)).toEqual([]);
  });

  it('appears in no GET /metrics answer scraped during this run', () => {
    const files = existsSync(SCRAPES_DIR) ? readdirSync(SCRAPES_DIR).map((file) => path.join(SCRAPES_DIR, file)) : [];
    const scraped = files.map((file) => readFileSync(file, 'utf8')).join('\n');

    // Scrapes of operators that had a key configured (test/metrics.e2e-spec.ts) are among them.
    expect(scraped).toMatch(/^kube9_operator_api_key_configured 1$/m);
    expect(scraped).toMatch(/^kube9_operator_registered 1$/m);
    expect(leaksIn(scraped)).toEqual([]);
  });
});
