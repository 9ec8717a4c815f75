/**
 * `bus-throughput`: two replicas, 50 connected aspects (25 on each), 8 of them sending 200 B
 * messages in a closed loop (4 per replica, each awaiting `sent` before its next send) to the
 * others in turn, one thread per pair. Counts messages persisted (acknowledged `sent`) and
 * delivered per second. Baseline: raw single-row INSERTs from 8 pg clients in a closed loop, run
 * for half the time before and half after ours, on the same Postgres.
 */
import type pg from 'pg';
import { content, names, registerAspects } from './lib/aspects.js';
import { measureCpu, perUnit, type CpuUse } from './lib/cpu.js';
import { BenchSocket } from './lib/bench-socket.js';
import { createRawTable, rawInsert, sqlSend } from './lib/raw.js';
import { type BenchOptions, type BenchResult, perSecond, times, yesNo } from './lib/report.js';
import { countTransactions, mapLimit, sleep, withScope } from './lib/setup.js';

const ASPECTS = 50;
const SENDERS_PER_REPLICA = 4;
const BYTES = 200;
const WARMUP_MS = 2000;
const DRAIN_LIMIT_MS = 20_000;

/** Closed-loop raw inserts from `clients` for `ms`; returns rows inserted per second. */
async function rawRun(
  clients: pg.Client[],
  durationMs: number,
): Promise<{ rate: number; failures: number; total: number }> {
  const text = content('raw', BYTES);
  const measureFrom = performance.now() + WARMUP_MS;
  const end = measureFrom + durationMs;
  let count = 0;
  let total = 0;
  let failures = 0;
  await Promise.all(
    clients.map(async (client, i) => {
      while (performance.now() < end) {
        try {
          await rawInsert(client, `s${i}`, `r${i}`, text);
          total++;
          const now = performance.now();
          if (now >= measureFrom && now <= end) count++;
        } catch {
          failures++;
          if (failures > 100) return;
        }
      }
    }),
  );
  return { rate: count / (durationMs / 1000), failures, total };
}

/** Diagnostic: the broker's send SQL (nexus_send) in the same pattern from 8 pg clients, no broker. */
async function sqlRun(
  clients: pg.Client[],
  senders: string[],
  everyone: string[],
  durationMs: number,
): Promise<{ rate: number; failures: number; total: number }> {
  const text = content('sql', BYTES);
  const measureFrom = performance.now() + WARMUP_MS;
  const end = measureFrom + durationMs;
  let count = 0;
  let total = 0;
  let failures = 0;
  await Promise.all(
    clients.map(async (client, i) => {
      const sender = senders[i] as string;
      const others = everyone.filter((name) => name !== sender);
      const threads = new Map<string, string>();
      for (let k = 0; performance.now() < end; k++) {
        const to = others[(k + i) % others.length] as string;
        try {
          const sent = await sqlSend(client, sender, to, threads.get(to) ?? null, text);
          threads.set(to, sent.thread_id);
          total++;
          const now = performance.now();
          if (now >= measureFrom && now <= end) count++;
        } catch {
          failures++;
          if (failures > 100) return;
        }
      }
    }),
  );
  return { rate: count / (durationMs / 1000), failures, total };
}

export async function busThroughput(options: BenchOptions): Promise<BenchResult> {
  const seconds = options.seconds ?? 30;
  return withScope(async (scope) => {
    const db = await scope.database('bus_throughput');
    const { replicas, admin } = await scope.brokers(db, 2);
    const [a, b] = replicas as [(typeof replicas)[0], (typeof replicas)[0]];
    const aspects = await registerAspects(a.url, admin, names('a', ASPECTS), 8);

    // Deliveries are counted per receipt time, so the window matches the senders'.
    let measureFrom = Number.POSITIVE_INFINITY;
    let measureTo = Number.POSITIVE_INFINITY;
    let delivered = 0;
    let deliveredInWindow = 0;
    const sockets = await mapLimit(aspects, 10, (aspect, i) =>
      BenchSocket.open({
        url: i < ASPECTS / 2 ? a.url : b.url,
        token: aspect.token,
        instanceId: aspect.instanceId,
        keepAlive: true,
        onMessage: (_m, at) => {
          delivered++;
          if (at >= measureFrom && at <= measureTo) deliveredInWindow++;
        },
      }),
    );
    for (const socket of sockets) scope.defer(() => socket.close());

    const raws = await Promise.all(Array.from({ length: 8 }, () => scope.pgClient(db.url)));
    await createRawTable(raws[0] as pg.Client);

    options.log(`bus-throughput: raw inserts, ${seconds / 2} s`);
    const rawBefore = await rawRun(raws, (seconds / 2) * 1000);

    options.log(`bus-throughput: ours, ${seconds} s`);
    const senderIndexes = [
      ...Array.from({ length: SENDERS_PER_REPLICA }, (_, i) => i),
      ...Array.from({ length: SENDERS_PER_REPLICA }, (_, i) => ASPECTS / 2 + i),
    ];
    const text = content('bus', BYTES);
    let sent = 0;
    let sentTotal = 0;
    let failures = 0;
    let drainMs = 0;
    let deliveredOfOurs = 0;
    const brokerPids = { brokers: [a.child.pid as number, b.child.pid as number] };
    let cpu: CpuUse | undefined;
    const transactions = await countTransactions(db, async () => {
      cpu = await measureCpu(brokerPids, db, async () => {
        measureFrom = performance.now() + WARMUP_MS;
        measureTo = measureFrom + seconds * 1000;
        await Promise.all(
          senderIndexes.map(async (index) => {
            const socket = sockets[index] as BenchSocket;
            const others = aspects.filter((_, i) => i !== index).map((x) => x.name);
            const threads = new Map<string, string>();
            for (let k = 0; performance.now() < measureTo; k++) {
              const to = others[(k + index) % others.length] as string;
              const thread = threads.get(to);
              try {
                const reply = await socket.send({
                  content: text,
                  to: [to],
                  ...(thread ? { thread_id: thread } : {}),
                });
                threads.set(to, reply.thread_id);
                sentTotal++;
                const now = performance.now();
                if (now >= measureFrom && now <= measureTo) sent++;
              } catch {
                failures++;
                if (failures > 100 || !socket.isOpen) return;
              }
            }
          }),
        );
        const drainStart = performance.now();
        while (delivered < sentTotal && performance.now() - drainStart < DRAIN_LIMIT_MS) await sleep(10);
        drainMs = performance.now() - drainStart;
        deliveredOfOurs = delivered;
      });
    });

    options.log(`bus-throughput: nexus_send from 8 pg clients, ${seconds / 2} s`);
    let sqlLevel = { rate: 0, failures: 0, total: 0 };
    const sqlCpu = await measureCpu({}, db, async () => {
      sqlLevel = await sqlRun(
        raws,
        senderIndexes.map((i) => (aspects[i] as (typeof aspects)[number]).name),
        aspects.map((x) => x.name),
        (seconds / 2) * 1000,
      );
    });

    options.log(`bus-throughput: raw inserts, ${seconds / 2} s`);
    let rawAfter = { rate: 0, failures: 0, total: 0 };
    const rawCpu = await measureCpu({}, db, async () => {
      rawAfter = await rawRun(raws, (seconds / 2) * 1000);
    });

    const persisted = sent / seconds;
    const deliveredRate = deliveredInWindow / seconds;
    const raw = (rawBefore.rate + rawAfter.rate) / 2;
    return {
      name: 'bus-throughput',
      what: `2 replicas, ${ASPECTS} connected aspects (25 per replica), 8 closed-loop senders (4 per replica), ${BYTES} B messages, ${seconds} s; baseline: raw single-row INSERT with 8 pg clients (${seconds / 2} s before and ${seconds / 2} s after ours); diagnostic: the broker's send SQL (nexus_send) in the same pattern from 8 pg clients, no broker (${seconds / 2} s).`,
      rows: [
        {
          metric: 'messages persisted/s',
          ours: perSecond(persisted),
          baseline: perSecond(raw),
          ratio: times(persisted / raw),
          target: '≥ 0.5× raw (stretch 0.7×)',
          met: yesNo(persisted >= 0.5 * raw),
        },
        {
          metric: 'stretch',
          ours: perSecond(persisted),
          baseline: perSecond(raw),
          ratio: times(persisted / raw),
          target: '≥ 0.7× raw',
          met: yesNo(persisted >= 0.7 * raw),
        },
        {
          metric: 'messages delivered/s',
          ours: perSecond(deliveredRate),
          baseline: perSecond(raw),
          ratio: times(deliveredRate / raw),
          target: '— (kept up with persisted)',
          met: '—',
        },
        {
          metric: 'nexus_send from 8 pg clients (diagnostic)',
          ours: perSecond(sqlLevel.rate),
          baseline: perSecond(raw),
          ratio: times(sqlLevel.rate / raw),
          target: '—',
          met: '—',
        },
      ],
      notes: [
        `raw before ${perSecond(rawBefore.rate)}, after ${perSecond(rawAfter.rate)} (failures ${rawBefore.failures + rawAfter.failures})`,
        `ours: ${sentTotal} sent in all (${failures} failures), ${deliveredOfOurs} delivered; the last delivery came ${drainMs.toFixed(0)} ms after the senders stopped`,
        cpu ? perUnit(cpu, sentTotal) : 'no CPU reading',
        `raw: ${perUnit(rawCpu, rawAfter.total, 'insert')}`,
        `nexus_send from pg (no broker): ${perUnit(sqlCpu, sqlLevel.total, 'send')}; failures ${sqlLevel.failures}`,
        `database transactions per message sent, both replicas (background loops subtracted): ${(transactions / sentTotal).toFixed(2)}`,
        `${WARMUP_MS / 1000} s warm-up on each run not counted; each message goes to one other aspect, each sender cycling through the other 49 (one thread per pair); receivers ack every message`,
      ],
    };
  });
}
