/**
 * `nexus send --wait[=S]` (B.34): after sending, prints the thread's replies as they arrive until
 * S seconds pass with no new message (default 120), with progress on stderr. It polls the thread's
 * history (`GET /v1/messages?thread_id=&after=`), which any participant may read, so it works
 * with an aspect's token as well as an admin's.
 */
import type { BrokerClient } from '../client/index.js';
import { ConfigError } from '../platform/index.js';
import type { Message } from '../protocol/index.js';
import { messageLine } from './output.js';

export const DEFAULT_QUIET_S = 120;
const POLL_MS = 500;
/** Without a terminal, a progress line this often while nothing arrives. */
const PROGRESS_EVERY_MS = 15_000;

/**
 * The `--wait` value commander gives (`true` for a bare flag, else the text after it) as seconds,
 * or null when the text is not a number: commander takes the word after a bare `--wait` as its
 * value, so `nexus send --wait "question"` arrives as a wait of "question" and no content.
 */
export function waitSeconds(value: true | string): number | null {
  if (value === true) return DEFAULT_QUIET_S;
  if (!/^\d+$/.test(value)) return null;
  const seconds = Number(value);
  if (seconds < 1 || seconds > 86_400) throw new ConfigError('--wait must be whole seconds from 1 to 86400');
  return seconds;
}

export async function printThreadReplies(
  client: BrokerClient,
  sent: { id: string; thread_id: string },
  options: { quietS: number; json: boolean },
): Promise<void> {
  const progress = new Progress(sent.thread_id, options.quietS);
  let after = sent.id;
  let replies = 0;
  let lastActivity = Date.now();
  for (;;) {
    const { messages } = await client.get<{ messages: Message[] }>(
      `/v1/messages?thread_id=${sent.thread_id}&after=${after}&limit=100`,
    );
    for (const m of messages) {
      progress.clear();
      process.stdout.write(options.json ? `${JSON.stringify(m)}\n` : `${messageLine(m)}\n`);
      after = m.id;
      replies++;
      lastActivity = Date.now();
    }
    const quietMs = Date.now() - lastActivity;
    if (quietMs >= options.quietS * 1000) break;
    if (messages.length < 100) {
      progress.show(quietMs, replies);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
  progress.clear();
  if (replies === 0)
    throw new Error(
      `no reply in thread ${sent.thread_id} within ${options.quietS} s (is anyone running? try nexus roster)`,
    );
  process.stderr.write(
    `${replies} ${replies === 1 ? 'reply' : 'replies'}; quiet for ${options.quietS} s, done\n`,
  );
}

/** A status line on stderr: rewritten in place on a terminal, an occasional line otherwise. */
class Progress {
  private shown = false;
  private lastLineAt = Date.now();

  constructor(
    private readonly threadId: string,
    private readonly quietS: number,
  ) {
    process.stderr.write(
      `waiting for replies in thread ${threadId} (until ${quietS} s pass without one; Ctrl-C stops waiting)\n`,
    );
  }

  show(quietMs: number, replies: number): void {
    const text = `… ${replies} so far, ${Math.floor(quietMs / 1000)} s quiet of ${this.quietS}`;
    if (process.stderr.isTTY) {
      process.stderr.write(`\r${text}\x1b[K`);
      this.shown = true;
    } else if (Date.now() - this.lastLineAt >= PROGRESS_EVERY_MS) {
      process.stderr.write(`thread ${this.threadId}: ${text}\n`);
      this.lastLineAt = Date.now();
    }
  }

  clear(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
    this.shown = false;
  }
}
