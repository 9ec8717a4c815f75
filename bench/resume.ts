/**
 * `resume`: a receiver that missed 10,000 messages reconnects with `resume_after`; time from hello
 * to the 10,000th message received (the client acks every message, as the shipped client does).
 * Baseline: a bare `ws` server in its own process that answers hello with one raw
 * `SELECT … FROM messages WHERE id > $1` over the same rows and one `ws.send` per row.
 */
import { content, registerAspects } from './lib/aspects.js';
import { BenchSocket } from './lib/bench-socket.js';
import { type BenchOptions, type BenchResult, ms, perSecond, times, yesNo } from './lib/report.js';
import { countTransactions, mapLimit, withScope } from './lib/setup.js';
import { median } from './lib/stats.js';

const MISSED = 10_000;
const TRIALS = 5;
const BYTES = 200;

/** Connects, resumes after `after`, and resolves with ms from hello to the MISSED-th message. */
async function resumeOnce(options: {
  url: string;
  token?: string;
  instanceId?: string;
  after: string;
}): Promise<number> {
  let done: (at: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (done = resolve));
  let count = 0;
  const socket = await BenchSocket.open({
    url: options.url,
    ...(options.token ? { token: options.token } : {}),
    ...(options.instanceId ? { instanceId: options.instanceId } : {}),
    resumeAfter: options.after,
    onMessage: (_m, at) => {
      if (++count === MISSED) done(at);
    },
  });
  const limit = new Promise<number>((_, reject) =>
    setTimeout(() => reject(new Error(`only ${count} of ${MISSED} messages within 60 s`)), 60_000).unref(),
  );
  try {
    const at = await Promise.race([finished, limit]);
    return at - socket.helloAt;
  } finally {
    await socket.close();
  }
}

export async function resume(options: BenchOptions): Promise<BenchResult> {
  return withScope(async (scope) => {
    const db = await scope.database('resume');
    const { replicas, admin } = await scope.brokers(db, 1);
    const url = replicas[0]?.url as string;
    const [writer, reader] = await registerAspects(url, admin, ['writer', 'reader']);
    if (!writer || !reader) throw new Error('set-up failed');

    // The reader is away while 10,000 messages are written for it.
    const writerSocket = await BenchSocket.open({ url, token: writer.token, instanceId: writer.instanceId });
    const text = content('resume', BYTES);
    const first = await writerSocket.send({ content: text, to: ['reader'] });
    await mapLimit(
      Array.from({ length: MISSED - 1 }, (_, i) => i),
      16,
      () => writerSocket.send({ content: text, thread_id: first.thread_id }),
    );
    await writerSocket.close();
    options.log(`resume: ${MISSED} messages written`);
    const after = String(BigInt(first.id) - 1n);

    const server = await scope.baselineServer('resume', { DATABASE_URL: db.url });
    await resumeOnce({ url, token: reader.token, instanceId: reader.instanceId, after }); // warm-up
    await resumeOnce({ url: server.url, after });
    const ours: number[] = [];
    const raw: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      ours.push(await resumeOnce({ url, token: reader.token, instanceId: reader.instanceId, after }));
      raw.push(await resumeOnce({ url: server.url, after }));
      options.log(`resume: trial ${trial + 1}/${TRIALS}`);
    }
    const transactions = await countTransactions(db, async () => {
      await resumeOnce({ url, token: reader.token, instanceId: reader.instanceId, after });
    });
    const o = median(ours);
    const r = median(raw);
    const oursRate = MISSED / (o / 1000);
    return {
      name: 'resume',
      what: `Reconnect after missing ${MISSED.toLocaleString('en-US')} messages (${BYTES} B): hello with resume_after to the ${MISSED.toLocaleString('en-US')}th message received, acking each; baseline: a bare ws server running one raw SELECT … WHERE id > $1 over the same rows and one ws.send per row.`,
      rows: [
        {
          metric: `time to ${MISSED.toLocaleString('en-US')} (median of ${TRIALS})`,
          ours: ms(o, 0),
          baseline: ms(r, 0),
          ratio: times(o / r),
          target: '≤ 2× raw',
          met: yesNo(o <= 2 * r),
        },
        {
          metric: 'messages/s',
          ours: perSecond(oursRate),
          baseline: perSecond(MISSED / (r / 1000)),
          ratio: times(r / o),
          target: '≥ 20,000/s',
          met: yesNo(oursRate >= 20_000),
        },
      ],
      notes: [
        `trials: ours ${ours.map((x) => x.toFixed(0)).join(', ')} ms; raw ${raw.map((x) => x.toFixed(0)).join(', ')} ms`,
        `database transactions during one resume of ${MISSED.toLocaleString('en-US')} (background loops subtracted): ${transactions} (raw: 1)`,
        'each trial resumes from the same point (resume_after before the first missed id); one warm-up trial a side not counted',
      ],
    };
  });
}
