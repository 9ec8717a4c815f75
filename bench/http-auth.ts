/**
 * `http-auth`: authenticated `GET /v1/aspects` requests per second (rate limits off), 8 keep-alive
 * connections in a closed loop. Baseline: a plain express handler in its own process running the
 * same roster SELECT with pg (pool of 10, like the broker), no auth. Rounds alternate.
 */
import { names, registerAspects } from './lib/aspects.js';
import { httpLoad, type LoadResult } from './lib/http-load.js';
import { type BenchOptions, type BenchResult, perSecond, times, yesNo } from './lib/report.js';
import { withScope } from './lib/setup.js';

const ASPECTS = 20;
const CONNECTIONS = 8;
const ROUND_MS = 3000;
const WARMUP_MS = 500;
const ROUNDS = 2;

export async function httpAuth(options: BenchOptions): Promise<BenchResult> {
  return withScope(async (scope) => {
    const db = await scope.database('http_auth');
    const { replicas, admin } = await scope.brokers(db, 1);
    const url = replicas[0]?.url as string;
    const [caller] = await registerAspects(url, admin, names('r', ASPECTS));
    if (!caller) throw new Error('set-up failed');
    const server = await scope.baselineServer('roster', { DATABASE_URL: db.url });

    const load = (target: string, headers: Record<string, string>) =>
      httpLoad({
        url: target,
        path: '/v1/aspects',
        headers,
        connections: CONNECTIONS,
        durationMs: ROUND_MS,
        warmupMs: WARMUP_MS,
      });
    const ours: LoadResult[] = [];
    const raw: LoadResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      ours.push(await load(url, { authorization: `Bearer ${caller.token}` }));
      raw.push(await load(server.url, {}));
      options.log(`http-auth: round ${round + 1}/${ROUNDS}`);
    }
    const mean = (rs: LoadResult[]) => rs.reduce((s, x) => s + x.rate, 0) / rs.length;
    const o = mean(ours);
    const r = mean(raw);
    return {
      name: 'http-auth',
      what: `Authenticated GET /v1/aspects (an aspect token; roster of ${ASPECTS}) with rate limits off, ${CONNECTIONS} keep-alive connections in a closed loop; baseline: a plain express handler in its own process running the same roster SELECT with pg, no auth.`,
      rows: [
        {
          metric: 'requests/s',
          ours: perSecond(o),
          baseline: perSecond(r),
          ratio: times(o / r),
          target: '≥ 0.5× raw',
          met: yesNo(o >= 0.5 * r),
        },
      ],
      notes: [
        `${ROUNDS} alternating rounds of ${ROUND_MS / 1000} s a side after ${WARMUP_MS} ms warm-up each: ours ${ours.map((x) => perSecond(x.rate)).join(', ')}; raw ${raw.map((x) => perSecond(x.rate)).join(', ')}`,
        `non-200 responses: ours ${ours.reduce((s, x) => s + x.failures, 0)}, raw ${raw.reduce((s, x) => s + x.failures, 0)}`,
      ],
    };
  });
}
