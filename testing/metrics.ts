/**
 * Reading a process's Prometheus text, as a scraper would: `scrapeMetrics(url)` fetches it and
 * `sample(name, labels)` finds one series by its exact label set.
 */

/** One parsed exposition: series by name, each with its labels and value. */
export interface Scrape {
  text: string;
  /** The value of `name` with exactly these labels, or undefined when there is no such series. */
  sample(name: string, labels?: Record<string, string>): number | undefined;
  /** Every label set exported under `name`. */
  labelSets(name: string): Record<string, string>[];
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses Prometheus text exposition (comments skipped). */
export function parseMetrics(text: string): Scrape {
  const series: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = LINE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key as string] = value as string;
    series.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  const same = (a: Record<string, string>, b: Record<string, string>) =>
    Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => b[k] === v);
  return {
    text,
    sample: (name, labels = {}) => series.find((s) => s.name === name && same(s.labels, labels))?.value,
    labelSets: (name) => series.filter((s) => s.name === name).map((s) => s.labels),
  };
}

/** Fetches and parses `url` (a `/metrics` endpoint). */
export async function scrapeMetrics(url: string): Promise<Scrape> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
  return parseMetrics(await response.text());
}
