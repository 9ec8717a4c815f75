/** What a benchmark returns, and how it is printed. */

export interface Row {
  metric: string;
  ours: string;
  baseline: string;
  /** ours ÷ baseline, or another stated ratio; '—' when there is none. */
  ratio: string;
  target: string;
  met: 'yes' | 'no' | '—';
}

export interface BenchResult {
  name: string;
  /** What is measured, in one line. */
  what: string;
  rows: Row[];
  /** Settings and secondary figures worth keeping with the numbers. */
  notes: string[];
}

export interface BenchOptions {
  /** Duration of timed runs where a benchmark takes one (bus-throughput). */
  seconds: number | undefined;
  log: (line: string) => void;
}

export const ms = (x: number, digits = 2): string => (Number.isFinite(x) ? `${x.toFixed(digits)} ms` : 'n/a');

export const perSecond = (x: number): string =>
  Number.isFinite(x) ? `${Math.round(x).toLocaleString('en-US')}/s` : 'n/a';

export const mb = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(1)} MB` : 'n/a');

export const times = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}×` : 'n/a');

export const yesNo = (ok: boolean): 'yes' | 'no' => (ok ? 'yes' : 'no');

const COLUMNS: (keyof Row)[] = ['metric', 'ours', 'baseline', 'ratio', 'target', 'met'];

/** A Markdown table, readable on a terminal too (and pasteable into docs/benchmarks.md). */
export function formatResult(result: BenchResult): string {
  const cells = [COLUMNS.map(String), ...result.rows.map((r) => COLUMNS.map((c) => r[c]))];
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((row) => (row[i] as string).length)));
  const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i] as number)).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  const [header, ...body] = cells as [string[], ...string[][]];
  return [
    `### ${result.name}`,
    '',
    result.what,
    '',
    line(header),
    rule,
    ...body.map(line),
    '',
    ...result.notes.map((n) => `- ${n}`),
    '',
  ].join('\n');
}
