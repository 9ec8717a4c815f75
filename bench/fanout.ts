/**
 * `fanout`: messages to a thread of 50 participants besides the sender, on one broker; deliveries
 * per second from the first send of a burst to the last receipt at the last of the 50 sockets.
 * Baseline: a bare `ws` server (its own process, like the broker) broadcasting the same payload to
 * 50 local sockets. Receivers ack every message on both sides.
 */
import { content, names, registerAspects } from './lib/aspects.js';
import { BenchSocket } from './lib/bench-socket.js';
import { type BenchOptions, type BenchResult, ms, perSecond, times, yesNo } from './lib/report.js';
import { countTransactions, mapLimit, sleep, withScope } from './lib/setup.js';
import { median, summarize } from './lib/stats.js';

const PARTICIPANTS = 50;
const BURST = 200;
const IN_FLIGHT = 16;
const ROUNDS = 3;
const SINGLES = 20;
const BYTES = 200;

interface Side {
  sender: BenchSocket;
  message: (i: number) => Record<string, unknown>;
}

/** Counts receipts across all receivers. */
class Counter {
  count = 0;
  lastAt = 0;
  hit = (_m: unknown, at: number) => {
    this.count++;
    this.lastAt = at;
  };
}

async function burst(side: Side, counter: Counter, count: number): Promise<number> {
  counter.count = 0;
  const started = performance.now();
  await mapLimit(
    Array.from({ length: count }, (_, i) => i),
    IN_FLIGHT,
    (i) => side.sender.send(side.message(i)),
  );
  const expected = count * PARTICIPANTS;
  while (counter.count < expected && performance.now() - started < 60_000) await sleep(1);
  return counter.count / ((counter.lastAt - started) / 1000);
}

/** One message at a time: time until all 50 have it. */
async function singles(side: Side, counter: Counter): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < SINGLES; i++) {
    counter.count = 0;
    const started = performance.now();
    await side.sender.send(side.message(i));
    while (counter.count < PARTICIPANTS && performance.now() - started < 10_000) await sleep(0);
    out.push(counter.lastAt - started);
    await sleep(20);
  }
  return out;
}

export async function fanout(options: BenchOptions): Promise<BenchResult> {
  return withScope(async (scope) => {
    const db = await scope.database('fanout');
    const { replicas, admin } = await scope.brokers(db, 1);
    const url = replicas[0]?.url as string;
    const participantNames = names('p', PARTICIPANTS);
    const [sender, ...participants] = await registerAspects(url, admin, ['sender', ...participantNames], 8);
    if (!sender) throw new Error('set-up failed');

    const ourCounter = new Counter();
    const ourSockets = await mapLimit(participants, 10, (p) =>
      BenchSocket.open({ url, token: p.token, instanceId: p.instanceId, onMessage: ourCounter.hit }),
    );
    for (const s of ourSockets) scope.defer(() => s.close());
    const ourSender = await BenchSocket.open({ url, token: sender.token, instanceId: sender.instanceId });
    scope.defer(() => ourSender.close());
    const text = content('fanout', BYTES);
    const first = await ourSender.send({ content: text, to: participantNames });
    const ours: Side = { sender: ourSender, message: () => ({ content: text, thread_id: first.thread_id }) };

    const server = await scope.baselineServer('broadcast');
    const rawCounter = new Counter();
    const rawSockets = await mapLimit(participantNames, 10, () =>
      BenchSocket.open({ url: server.url, onMessage: rawCounter.hit }),
    );
    for (const s of rawSockets) scope.defer(() => s.close());
    const rawSender = await BenchSocket.open({ url: server.url });
    scope.defer(() => rawSender.close());
    const raw: Side = { sender: rawSender, message: () => ({ content: text }) };

    await burst(ours, ourCounter, 20);
    await burst(raw, rawCounter, 20);
    const oursRates: number[] = [];
    const rawRates: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      oursRates.push(await burst(ours, ourCounter, BURST));
      rawRates.push(await burst(raw, rawCounter, BURST));
      options.log(`fanout: round ${round + 1}/${ROUNDS}`);
    }
    const oursSingle = summarize(await singles(ours, ourCounter));
    const rawSingle = summarize(await singles(raw, rawCounter));

    const transactions = await countTransactions(db, async () => {
      await burst(ours, ourCounter, BURST);
    });
    const o = median(oursRates);
    const r = median(rawRates);
    return {
      name: 'fanout',
      what: `Messages to a thread with ${PARTICIPANTS} receiving participants (one broker, all sockets local): deliveries/s over bursts of ${BURST} messages (${IN_FLIGHT} sends in flight); baseline: a bare ws server in its own process broadcasting the same payload to ${PARTICIPANTS} local sockets.`,
      rows: [
        {
          metric: 'deliveries/s (burst)',
          ours: perSecond(o),
          baseline: perSecond(r),
          ratio: times(o / r),
          target: '≥ 0.2× raw',
          met: yesNo(o >= 0.2 * r),
        },
        {
          metric: 'one message to all 50 (p50)',
          ours: ms(oursSingle.p50),
          baseline: ms(rawSingle.p50),
          ratio: times(oursSingle.p50 / rawSingle.p50),
          target: '—',
          met: '—',
        },
      ],
      notes: [
        `median of ${ROUNDS} bursts a side; ours ${oursRates.map((x) => perSecond(x)).join(', ')}; raw ${rawRates.map((x) => perSecond(x)).join(', ')}`,
        `database transactions per message in a burst (background loops subtracted): ${(transactions / BURST).toFixed(1)}`,
        `one message at a time (${SINGLES} a side), send start to the 50th receipt: ours p50 ${ms(oursSingle.p50)} p99 ${ms(oursSingle.p99)}; raw p50 ${ms(rawSingle.p50)} p99 ${ms(rawSingle.p99)}`,
      ],
    };
  });
}
