/**
 * `send`: durable send latency over an open WebSocket (`send` → `sent`), one sender, sequential,
 * against raw `INSERT … RETURNING` with pg from one client. Both sides run in alternating blocks
 * so drift on the shared machine hits them alike.
 */
import { registerAspects, content } from './lib/aspects.js';
import { BenchSocket } from './lib/bench-socket.js';
import { createRawTable, rawInsert, sqlSend } from './lib/raw.js';
import { type BenchOptions, type BenchResult, ms, times, yesNo } from './lib/report.js';
import { countTransactions, withScope } from './lib/setup.js';
import { summarize } from './lib/stats.js';

const MESSAGES = 10_000;
const BLOCK = 1_000;
const WARMUP = 500;
const BYTES = 200;

export async function send(options: BenchOptions): Promise<BenchResult> {
  return withScope(async (scope) => {
    const db = await scope.database('send');
    const { replicas, admin } = await scope.brokers(db, 1);
    const url = replicas[0]?.url as string;
    const [sender] = await registerAspects(url, admin, ['sender', 'receiver']);
    if (!sender) throw new Error('no sender');
    const socket = await BenchSocket.open({ url, token: sender.token, instanceId: sender.instanceId });
    scope.defer(() => socket.close());
    const raw = await scope.pgClient(db.url);
    await createRawTable(raw);
    const sqlClient = await scope.pgClient(db.url);

    const text = content('send', BYTES);
    let thread: string | undefined;
    const ours = async (): Promise<number> => {
      const started = performance.now();
      const sent = await socket.send({
        content: text,
        to: ['receiver'],
        ...(thread ? { thread_id: thread } : {}),
      });
      const elapsed = performance.now() - started;
      thread ??= sent.thread_id;
      return elapsed;
    };
    const baseline = async (): Promise<number> => {
      const started = performance.now();
      await rawInsert(raw, 'sender', 'receiver', text);
      return performance.now() - started;
    };

    // Diagnostic: the broker's SQL alone, from pg, on a thread of its own between the same two aspects.
    let sqlThread: string | null = null;
    const sqlOnly = async (): Promise<number> => {
      const started = performance.now();
      const sent = await sqlSend(sqlClient, 'sender', 'receiver', sqlThread, text);
      const elapsed = performance.now() - started;
      sqlThread ??= sent.thread_id;
      return elapsed;
    };

    for (let i = 0; i < WARMUP; i++) {
      await ours();
      await baseline();
      await sqlOnly();
    }
    const samples = { ours: [] as number[], raw: [] as number[], sql: [] as number[] };
    const run = { ours, raw: baseline, sql: sqlOnly };
    const sides = ['ours', 'raw', 'sql'] as const;
    for (let block = 0; block < MESSAGES / BLOCK; block++) {
      // Rotate which side goes first, so drift on the shared machine hits all three alike.
      const order = sides.map((_, i) => sides[(i + block) % sides.length] as (typeof sides)[number]);
      for (const side of order) {
        for (let i = 0; i < BLOCK; i++) samples[side].push(await run[side]());
      }
      options.log(`send: block ${block + 1}/${MESSAGES / BLOCK}`);
    }

    const COUNTED = 1000;
    const transactions = await countTransactions(db, async () => {
      for (let i = 0; i < COUNTED; i++) await ours();
    });

    const o = summarize(samples.ours);
    const r = summarize(samples.raw);
    const q = summarize(samples.sql);
    const p50Limit = 1.5 * r.p50 + 0.3;
    const p99Limit = 2 * r.p99;
    return {
      name: 'send',
      what: `Durable send latency over an open WebSocket (send → sent), ${MESSAGES.toLocaleString('en-US')} messages of ${BYTES} B, one sender, sequential; baseline: raw INSERT … RETURNING with pg, one client, same Postgres.`,
      rows: [
        {
          metric: 'p50',
          ours: ms(o.p50, 3),
          baseline: ms(r.p50, 3),
          ratio: times(o.p50 / r.p50),
          target: `≤ 1.5× raw + 0.3 ms (${ms(p50Limit, 3)})`,
          met: yesNo(o.p50 <= p50Limit),
        },
        {
          metric: 'p99',
          ours: ms(o.p99, 3),
          baseline: ms(r.p99, 3),
          ratio: times(o.p99 / r.p99),
          target: `≤ 2× raw (${ms(p99Limit, 3)})`,
          met: yesNo(o.p99 <= p99Limit),
        },
        {
          metric: 'p50, nexus_send from pg (diagnostic)',
          ours: ms(q.p50, 3),
          baseline: ms(r.p50, 3),
          ratio: times(q.p50 / r.p50),
          target: '—',
          met: '—',
        },
        {
          metric: 'p99, nexus_send from pg (diagnostic)',
          ours: ms(q.p99, 3),
          baseline: ms(r.p99, 3),
          ratio: times(q.p99 / r.p99),
          target: '—',
          met: '—',
        },
      ],
      notes: [
        `ours: mean ${ms(o.mean, 3)}, p90 ${ms(o.p90, 3)}, max ${ms(o.max, 1)}; raw: mean ${ms(r.mean, 3)}, p90 ${ms(r.p90, 3)}, max ${ms(r.max, 1)}`,
        `database transactions per send (broker, background loops subtracted): ${(transactions / COUNTED).toFixed(2)} (raw: 1)`,
        `${WARMUP} warm-up sends per side not counted; blocks of ${BLOCK} per side, rotating which side goes first; the diagnostic rows run the broker's send SQL (nexus_send, SPEC B.1) from one pg client, no broker; the recipient is registered but not connected`,
      ],
    };
  });
}
