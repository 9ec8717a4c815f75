/** How commands print data: JSON with `--json`, else text; tables are tab-separated under a header. */
import { ConfigError } from '../platform/index.js';
import type { Message } from '../protocol/index.js';

/** Prints `value` as JSON with `--json`, else the text `text()` renders. */
export function print(value: unknown, json: boolean | undefined, text: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${text()}\n`);
}

/** A header line and one tab-separated line per row; `empty` when there are no rows. */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  empty: string,
): string {
  if (rows.length === 0) return empty;
  return [header, ...rows].map((cells) => cells.join('\t')).join('\n');
}

/** The default broker of client commands: where `nexus dev` and `nexus broker` listen (B.34). */
export const DEFAULT_BROKER_URL = 'http://127.0.0.1:7888';

/** NEXUS_URL, checked to be an http(s) URL, or the default. */
export function brokerUrlFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const url = env.NEXUS_URL || DEFAULT_BROKER_URL;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('NEXUS_URL must be an http:// or https:// URL, e.g. http://127.0.0.1:7888');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new ConfigError('NEXUS_URL must be an http:// or https:// URL, e.g. http://127.0.0.1:7888');
  return url;
}

/** One message as `nexus send --wait` and `nexus tail` show it. */
export function messageLine(m: Message): string {
  const kind = m.kind === 'chat' ? '' : ` (${m.kind}${m.hand ? ` ${m.hand}` : ''})`;
  return `[${m.thread_id}] ${m.from} → ${m.to.join(',') || '(thread)'}${kind}: ${m.content}`;
}
