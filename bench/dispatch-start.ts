/**
 * `dispatch-start`: one dispatch every 10 ms to an idle worker through the API
 * (`POST /v1/hands/dispatch` by an aspect token), timed from the start of the dispatch request to
 * the claim reply at a worker long-polling `POST /v1/workers/claim {wait_s: 25}`. Baseline:
 * graphile-worker 0.17.3, from `graphile_worker.add_job` (SQL, no HTTP hop) to the start of the
 * task, on the same Postgres. Rounds alternate, rotating which side goes first.
 */
import { registerAspects } from './lib/aspects.js';
import {
  type Claimed,
  HAND_NAME,
  JsonHttp,
  TARGET,
  graphileMigrate,
  mintWorkerToken,
  okResult,
  registerTarget,
  startGraphile,
} from './lib/hands.js';
import { type BenchOptions, type BenchResult, ms, times, yesNo } from './lib/report.js';
import { sleep, withScope } from './lib/setup.js';
import { summarize } from './lib/stats.js';

const INTERVAL_MS = 10;
const WARMUP = 50;
const BLOCK = 500;
const ROUNDS = 2;
/** Waiting claimers on our side, and graphile-worker's concurrency: one is always idle. */
const WORKERS = 2;
const SAMPLE_TIMEOUT_MS = 30_000;

/** Resolves a pending sample when its dispatch (or job) starts, by tag. */
class Pending {
  private readonly waiting = new Map<string, (at: number) => void>();

  expect(tag: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(tag);
        reject(new Error(`${tag} did not start within ${SAMPLE_TIMEOUT_MS} ms`));
      }, SAMPLE_TIMEOUT_MS);
      this.waiting.set(tag, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }

  started(tag: string, at: number): void {
    const resolve = this.waiting.get(tag);
    this.waiting.delete(tag);
    resolve?.(at);
  }
}

export async function dispatchStart(options: BenchOptions): Promise<BenchResult> {
  return withScope(async (scope) => {
    const db = await scope.database('dispatch_start');
    const { replicas, admin } = await scope.brokers(db, 1);
    const broker = replicas[0];
    if (!broker) throw new Error('no broker');
    await registerTarget(broker.url, admin);
    const [caller] = await registerAspects(broker.url, admin, ['caller']);
    if (!caller) throw new Error('no caller');
    const workerToken = await mintWorkerToken(admin);
    await graphileMigrate(db.url);
    const adder = await scope.pgClient(db.url);

    const pending = new Pending();
    // Our workers: WORKERS loops, each long-polling one dispatch at a time, completing it, again.
    const dispatcher = new JsonHttp(broker.url, caller.token, 2);
    const workers = new JsonHttp(broker.url, workerToken, 2 * WORKERS);
    scope.defer(() => dispatcher.close());
    let stopped = false;
    const accepted: number[] = [];
    const loops = Array.from({ length: WORKERS }, async (_, i) => {
      const workerId = `start-w${i}`;
      while (!stopped) {
        try {
          const reply = await workers.post<{ dispatch: Claimed }>('/v1/workers/claim', {
            worker_id: workerId,
            wait_s: 25,
          });
          const at = performance.now();
          const d = reply.body?.dispatch;
          if (!d) continue;
          pending.started(d.content, at);
          await workers.post('/v1/workers/complete', { worker_id: workerId, results: [okResult(d)] });
        } catch (err) {
          if (!stopped) throw err;
        }
      }
    });
    scope.defer(async () => {
      stopped = true;
      workers.close();
      await Promise.allSettled(loops);
    });

    const runner = await startGraphile(db.url, WORKERS, async (payload) => {
      pending.started(String((payload as { tag: string }).tag), performance.now());
    });
    scope.defer(() => runner.stop());

    let n = 0;
    const ours = async (): Promise<number> => {
      const tag = `start ${n++}`;
      const starts = pending.expect(tag);
      const started = performance.now();
      const reply = await dispatcher.post<{ state: string }>('/v1/hands/dispatch', {
        target: TARGET,
        hand: HAND_NAME,
        content: tag,
      });
      accepted.push(performance.now() - started);
      if (reply.body?.state !== 'queued') throw new Error(`dispatch refused: ${JSON.stringify(reply.body)}`);
      return (await starts) - started;
    };
    const baseline = async (): Promise<number> => {
      const tag = `job ${n++}`;
      const starts = pending.expect(tag);
      const started = performance.now();
      await adder.query(`SELECT graphile_worker.add_job('noop', json_build_object('tag', $1::text))`, [tag]);
      return (await starts) - started;
    };
    /** `count` samples, one every INTERVAL_MS (the next waits if one took longer). */
    const paced = async (sample: () => Promise<number>, count: number): Promise<number[]> => {
      const out: number[] = [];
      let next = performance.now();
      for (let i = 0; i < count; i++) {
        const wait = next - performance.now();
        if (wait > 0) await sleep(wait);
        next = Math.max(next + INTERVAL_MS, performance.now());
        out.push(await sample());
      }
      return out;
    };

    await paced(ours, WARMUP);
    await paced(baseline, WARMUP);
    accepted.length = 0;
    const samples = { ours: [] as number[], graphile: [] as number[] };
    for (let round = 0; round < ROUNDS; round++) {
      const sides = round % 2 === 0 ? (['ours', 'graphile'] as const) : (['graphile', 'ours'] as const);
      for (const side of sides)
        samples[side].push(...(await paced(side === 'ours' ? ours : baseline, BLOCK)));
      options.log(`dispatch-start: round ${round + 1}/${ROUNDS}`);
    }

    const o = summarize(samples.ours);
    const g = summarize(samples.graphile);
    const a = summarize(accepted);
    return {
      name: 'dispatch-start',
      what: `One dispatch every ${INTERVAL_MS} ms through the API (POST /v1/hands/dispatch, aspect token) to an idle worker: from the start of the dispatch request to the claim reply at a worker long-polling POST /v1/workers/claim {wait_s: 25}; baseline: graphile-worker 0.17.3, from graphile_worker.add_job (SQL, no HTTP) to the task's start. ${WORKERS} waiting claimers / graphile concurrency ${WORKERS}.`,
      rows: [
        {
          metric: 'p50',
          ours: ms(o.p50),
          baseline: ms(g.p50),
          ratio: times(o.p50 / g.p50),
          target: '≤ 1.2× graphile',
          met: yesNo(o.p50 <= 1.2 * g.p50),
        },
        {
          metric: 'p99',
          ours: ms(o.p99),
          baseline: ms(g.p99),
          ratio: times(o.p99 / g.p99),
          target: '≤ 1.5× graphile',
          met: yesNo(o.p99 <= 1.5 * g.p99),
        },
        {
          metric: 'p50, dispatch request to its 202 reply (diagnostic)',
          ours: ms(a.p50),
          baseline: '—',
          ratio: '—',
          target: '—',
          met: '—',
        },
      ],
      notes: [
        `ours: ${o.n} samples, mean ${ms(o.mean)}, p90 ${ms(o.p90)}, max ${ms(o.max, 1)}; graphile: ${g.n}, mean ${ms(g.mean)}, p90 ${ms(g.p90)}, max ${ms(g.max, 1)}`,
        `dispatch reply (202) p50 ${ms(a.p50)}, p99 ${ms(a.p99)}: the claim reply can come before it`,
        `${WARMUP} warm-up samples a side; ${ROUNDS} rounds of ${BLOCK} a side, alternating which goes first; the claimer completes each dispatch (untimed) and long-polls again; graphile-worker with its defaults (LISTEN for new jobs, poll 2 s), silent logger`,
      ],
    };
  });
}
