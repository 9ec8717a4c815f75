/**
 * `deliver`: persist-to-receive across two replicas at 100 msg/s. The sender's socket is on replica
 * A, the receiver's on replica B; latency runs from the start of the send call to the `message`
 * frame at the receiver, on one local clock. Baseline: a raw persist with NOTIFY in one statement,
 * timed from the start of the query to the moment a second pg connection (LISTEN) hears it.
 */
import { content, registerAspects } from './lib/aspects.js';
import { BenchSocket } from './lib/bench-socket.js';
import { createRawTable, sqlSend } from './lib/raw.js';
import { type BenchOptions, type BenchResult, ms, times, yesNo } from './lib/report.js';
import { countTransactions, sleep, withScope } from './lib/setup.js';
import { summarize } from './lib/stats.js';

const RATE = 100;
const BLOCK = 500;
const BLOCKS = 2; // rounds of ours, raw, diagnostic: 1,000 samples a side, 30 s of sending in all
const WARMUP = 50;
const BYTES = 200;
const CHANNEL = 'bench_deliver';

/** Calls `fire(i)` for i in [0, count) at `rate` per second on a drift-corrected schedule. */
async function paced(count: number, fire: (i: number) => void): Promise<void> {
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = start + (i * 1000) / RATE - performance.now();
    if (wait > 0) await sleep(wait);
    fire(i);
  }
}

/** Waits until `done()` or `limitMs` passes. */
async function settle(done: () => boolean, limitMs: number): Promise<void> {
  const end = performance.now() + limitMs;
  while (!done() && performance.now() < end) await sleep(5);
}

export async function deliver(options: BenchOptions): Promise<BenchResult> {
  return withScope(async (scope) => {
    const db = await scope.database('deliver');
    const { replicas, admin } = await scope.brokers(db, 2);
    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    const [sender, receiver] = await registerAspects(a.url, admin, ['sender', 'receiver']);
    if (!sender || !receiver) throw new Error('set-up failed');

    // Ours: sequence numbers travel in the content, so a receipt before `sent` is matched too.
    const startedAt = new Map<number, number>();
    const latencies = new Map<number, number>();
    let recording = false;
    const receiverSocket = await BenchSocket.open({
      url: b.url,
      token: receiver.token,
      instanceId: receiver.instanceId,
      onMessage: (message, at) => {
        const seq = Number(/^d(\d+) /.exec(message.content)?.[1]);
        const started = startedAt.get(seq);
        if (recording && started !== undefined) latencies.set(seq, at - started);
      },
    });
    scope.defer(() => receiverSocket.close());
    const senderSocket = await BenchSocket.open({
      url: a.url,
      token: sender.token,
      instanceId: sender.instanceId,
    });
    scope.defer(() => senderSocket.close());
    let seqCounter = 0;
    const first = await senderSocket.send({ content: content('d0', BYTES), to: ['receiver'] });
    const thread = first.thread_id;
    let sendFailures = 0;
    const sentLatencies = new Map<number, number>();
    const oursBlock = async (count: number): Promise<number[]> => {
      const seqs: number[] = [];
      await paced(count, () => {
        const seq = ++seqCounter;
        seqs.push(seq);
        startedAt.set(seq, performance.now());
        senderSocket.send({ content: content(`d${seq}`, BYTES), thread_id: thread, to: ['receiver'] }).then(
          () => {
            if (recording) sentLatencies.set(seq, performance.now() - (startedAt.get(seq) as number));
          },
          () => sendFailures++,
        );
      });
      await settle(() => seqs.every((s) => latencies.has(s)), 5000);
      return seqs.flatMap((s) => (latencies.has(s) ? [latencies.get(s) as number] : []));
    };

    // Raw: persist and NOTIFY in one statement on one connection; another connection LISTENs.
    const writer = await scope.pgClient(db.url);
    const listener = await scope.pgClient(db.url);
    await createRawTable(writer);
    const rawStarted = new Map<number, number>();
    const rawLatencies = new Map<number, number>();
    listener.on('notification', (n) => {
      const at = performance.now();
      const seq = Number(n.payload?.split(':')[1]);
      const started = rawStarted.get(seq);
      if (started !== undefined) rawLatencies.set(seq, at - started);
    });
    await listener.query(`LISTEN ${CHANNEL}`);
    let rawSeq = 0;
    let rawFailures = 0;
    let writerQueue: Promise<void> = Promise.resolve();
    /** Paced like ours; `persist(seq)` must end in a notification `ID:SEQ` on CHANNEL. */
    const pgBlock = async (count: number, persist: (seq: number) => Promise<unknown>): Promise<number[]> => {
      const seqs: number[] = [];
      await paced(count, () => {
        const seq = ++rawSeq;
        seqs.push(seq);
        rawStarted.set(seq, performance.now());
        // Queued behind the previous one if that is still running, as pg itself would.
        writerQueue = writerQueue.then(() =>
          persist(seq).then(
            () => undefined,
            () => void rawFailures++,
          ),
        );
      });
      await settle(() => seqs.every((s) => rawLatencies.has(s)), 5000);
      return seqs.flatMap((s) => (rawLatencies.has(s) ? [rawLatencies.get(s) as number] : []));
    };
    const rawBlock = (count: number) =>
      pgBlock(count, (seq) =>
        writer.query(
          `WITH m AS (INSERT INTO bench_raw_messages (thread_id, sender, to_list, kind, content)
                       VALUES (1, 'sender', '{receiver}', 'chat', $1) RETURNING id)
           SELECT pg_notify('${CHANNEL}', m.id || ':' || $2) FROM m`,
          [content(`d${seq}`, BYTES), seq],
        ),
      );
    // Diagnostic: the broker's SQL path without the broker: nexus_send, then NOTIFY after commit
    // from another connection (as the broker's notifier does), heard by the LISTEN connection.
    const notifier = await scope.pgClient(db.url);
    const sqlBlock = (count: number) =>
      pgBlock(count, async (seq) => {
        const sent = await sqlSend(writer, 'sender', 'receiver', thread, content(`q${seq}`, BYTES));
        await notifier.query('SELECT pg_notify($1, $2)', [CHANNEL, `${sent.id}:${seq}`]);
      });

    await oursBlock(WARMUP);
    await rawBlock(WARMUP);
    await sqlBlock(WARMUP);
    recording = true;
    const ours: number[] = [];
    const raw: number[] = [];
    const sql: number[] = [];
    for (let block = 0; block < BLOCKS; block++) {
      ours.push(...(await oursBlock(BLOCK)));
      raw.push(...(await rawBlock(BLOCK)));
      sql.push(...(await sqlBlock(BLOCK)));
      options.log(`deliver: round ${block + 1}/${BLOCKS}`);
    }

    const COUNTED = 200;
    const transactions = await countTransactions(db, async () => {
      await oursBlock(COUNTED);
    });
    const o = summarize(ours);
    const r = summarize(raw);
    const q = summarize(sql);
    const sentPart = summarize([...sentLatencies.values()]);
    const expected = BLOCK * BLOCKS;
    return {
      name: 'deliver',
      what: `Persist-to-receive across 2 replicas at ${RATE} msg/s (${BYTES} B): sender on replica A, receiver on replica B, from send-call start to the message frame; baseline: raw INSERT + pg_notify in one statement until a second pg connection (LISTEN) hears it.`,
      rows: [
        {
          metric: 'p50',
          ours: ms(o.p50),
          baseline: ms(r.p50),
          ratio: times(o.p50 / r.p50),
          target: `≤ 2× raw (${ms(2 * r.p50)})`,
          met: yesNo(o.p50 <= 2 * r.p50),
        },
        {
          metric: 'p99',
          ours: ms(o.p99),
          baseline: ms(r.p99),
          ratio: times(o.p99 / r.p99),
          target: `≤ 3× raw (${ms(3 * r.p99)})`,
          met: yesNo(o.p99 <= 3 * r.p99),
        },
        {
          metric: 'p50, nexus_send + NOTIFY from pg (diagnostic)',
          ours: ms(q.p50),
          baseline: ms(r.p50),
          ratio: times(q.p50 / r.p50),
          target: '—',
          met: '—',
        },
        {
          metric: 'p99, nexus_send + NOTIFY from pg (diagnostic)',
          ours: ms(q.p99),
          baseline: ms(r.p99),
          ratio: times(q.p99 / r.p99),
          target: '—',
          met: '—',
        },
      ],
      notes: [
        `received ${o.n}/${expected} (ours, send failures ${sendFailures}) and ${r.n}/${expected} (raw) and ${q.n}/${expected} (diagnostic; pg failures ${rawFailures}) within 5 s of each block`,
        `ours, send call to its sent frame on replica A: p50 ${ms(sentPart.p50)}, p99 ${ms(sentPart.p99)} (the rest of the path: NOTIFY after commit, replica B hears it, reads the mailbox, pushes the frame)`,
        `ours: p90 ${ms(o.p90)}, max ${ms(o.max)}; raw: p90 ${ms(r.p90)}, max ${ms(r.max)}`,
        `database transactions per message, both replicas (background loops subtracted): ${(transactions / COUNTED).toFixed(2)}`,
        `rounds of ${BLOCK} ours, ${BLOCK} raw, ${BLOCK} diagnostic after ${WARMUP} warm-up messages a side; the diagnostic rows run the broker's SQL path without the broker: nexus_send, then pg_notify after commit from a second connection, until the LISTEN connection hears it`,
      ],
    };
  });
}
