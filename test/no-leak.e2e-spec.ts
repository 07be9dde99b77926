/*
 * Runs last (see sequencer.js): every byte the operators of this run printed,
 * everything written into the shared cluster (every ConfigMap and Event write
 * the API server's audit log recorded, request bodies included, and what is
 * left in every namespace), and every GET /metrics the tests scraped, searched
 * for every API key the tests used. Secrets are the one place a key may be,
 * and they are not searched.
 */
import { CoreV1Api, EventsV1Api } from '@kubernetes/client-node';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { adminKubeConfig, requiredEnv } from './support/kube';
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

  it('appears in no ConfigMap or Event write of this run (the audit log of the shared control plane)', () => {
    // The tests delete their namespaces, so what the operators wrote is mostly gone by now:
    // the API server's audit log kept every write, with its request body.
    const written = readFileSync(path.join(requiredEnv('KUBE9_TEST_CP_DIR'), 'audit.log'), 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { objectRef?: { resource?: string; name?: string } })
      .filter((event) => event.objectRef?.resource === 'configmaps' || event.objectRef?.resource === 'events');
    const text = JSON.stringify(written);

    expect(written.filter((event) => event.objectRef?.name === 'kube9-operator-status').length).toBeGreaterThan(100);
    // The operators' own Events, among them those of a refused key.
    expect(text).toContain('kube9-server refused the API key');
    expect(leaksIn(text)).toEqual([]);
  });

  it('appears in no ConfigMap and no Event left in any namespace', async () => {
    const kubeConfig = adminKubeConfig();
    const configMaps = await kubeConfig.makeApiClient(CoreV1Api).listConfigMapForAllNamespaces();
    const coreEvents = await kubeConfig.makeApiClient(CoreV1Api).listEventForAllNamespaces();
    const events = await kubeConfig.makeApiClient(EventsV1Api).listEventForAllNamespaces();
    const left = JSON.stringify([configMaps.items, coreEvents.items, events.items]);

    expect(configMaps.items.length).toBeGreaterThan(0);
    expect(leaksIn(left)).toEqual([]);
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
