/*
 * Reading GET /metrics the way Prometheus does: the text exposition format
 * (version 0.0.4), parsed into samples a test can look up by name and labels.
 * Every scrape is also kept on disk, so the no-leak check (run last) can search
 * all of them for the test keys.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { OUTPUT_LOG } from './operator-process';

/** Every /metrics body scraped during this run, one file per test process. */
export const SCRAPES_DIR = path.join(path.dirname(path.dirname(OUTPUT_LOG)), 'metrics-scrapes');

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  text: string;
  contentType: string;
  samples: Sample[];
  /** TYPE of each metric family, by name. */
  types: Map<string, string>;
  /** The value of the one sample of `name` whose labels include `labels`; throws when not exactly one. */
  value(name: string, labels?: Record<string, string>): number;
  /** All samples of `name`. */
  all(name: string): Sample[];
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;

function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_, char: string) => (char === 'n' ? '\n' : char));
}

function parseValue(text: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

/** Parses the text format; a line that is neither a comment nor a well-formed sample fails the parse. */
export function parseMetrics(text: string, contentType = ''): Scrape {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1], type[2]);
    if (line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    const labelText = match[2] ?? '';
    LABEL.lastIndex = 0;
    let consumed = 0;
    let label: RegExpExecArray | null;
    while ((label = LABEL.exec(labelText)) !== null) {
      labels[label[1]] = unescapeLabel(label[2]);
      consumed = LABEL.lastIndex;
    }
    if (consumed !== labelText.length) throw new Error(`malformed labels in: ${line}`);
    samples.push({ name: match[1], labels, value: parseValue(match[3]) });
  }
  const all = (name: string) => samples.filter((sample) => sample.name === name);
  return {
    text,
    contentType,
    samples,
    types,
    all,
    value(name, labels = {}) {
      const matching = all(name).filter((sample) =>
        Object.entries(labels).every(([key, value]) => sample.labels[key] === value),
      );
      if (matching.length !== 1) {
        throw new Error(`${matching.length} samples of ${name}${JSON.stringify(labels)} in the scrape`);
      }
      return matching[0].value;
    },
  };
}

/** GET {baseUrl}/metrics, kept for the no-leak check, and parsed. */
export async function scrapeMetrics(baseUrl: string): Promise<Scrape> {
  const response = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const text = await response.text();
  mkdirSync(SCRAPES_DIR, { recursive: true });
  appendFileSync(path.join(SCRAPES_DIR, `scrapes-${process.pid}.txt`), `${text}\n`);
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}: ${text.slice(0, 200)}`);
  return parseMetrics(text, response.headers.get('content-type') ?? '');
}
