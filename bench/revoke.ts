/**
 * `revoke`: a token is revoked on replica A while replica B is probed every 5 ms with it; time from
 * the start of the revoke call to the first 401 on B. 20 trials, each with a fresh token that B
 * has authenticated (and cached) first. The baseline is the 1 s bound of SPEC section 3.
 */
import http from 'node:http';
import { mintAspectToken } from '../testing/index.js';
import { type BenchOptions, type BenchResult, ms, times, yesNo } from './lib/report.js';
import { sleep, withScope } from './lib/setup.js';
import { summarize } from './lib/stats.js';

const TRIALS = 20;
const PROBE_MS = 5;
const LIMIT_MS = 3000;
const BOUND_MS = 1000;

function probe(agent: http.Agent, url: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      new URL('/v1/aspects', url),
      { agent, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('probe timed out')));
  });
}

export async function revoke(options: BenchOptions): Promise<BenchResult> {
  return withScope(async (scope) => {
    const db = await scope.database('revoke');
    const { replicas, admin } = await scope.brokers(db, 2);
    const b = replicas[1] as (typeof replicas)[0];
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    scope.defer(() => agent.destroy());
    const fromStart: number[] = [];
    const fromReply: number[] = [];
    let unrevoked = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const { id, token } = await mintAspectToken(admin, `probe${trial}`);
      if ((await probe(agent, b.url, token)) !== 200) throw new Error('a fresh token was refused on B');
      const started = performance.now();
      const revoked = admin.delete(`/v1/admin/tokens/${id}`).then(() => performance.now());
      let refusedAt: number | null = null;
      for (let next = started; performance.now() - started < LIMIT_MS; next += PROBE_MS) {
        const status = await probe(agent, b.url, token);
        if (status === 401) {
          refusedAt = performance.now();
          break;
        }
        const wait = next + PROBE_MS - performance.now();
        if (wait > 0) await sleep(wait);
      }
      const repliedAt = await revoked;
      if (refusedAt === null) unrevoked++;
      else {
        fromStart.push(refusedAt - started);
        fromReply.push(Math.max(0, refusedAt - repliedAt));
      }
      options.log(`revoke: trial ${trial + 1}/${TRIALS}`);
    }
    const s = summarize(fromStart);
    const r = summarize(fromReply);
    return {
      name: 'revoke',
      what: `Revoke a token on replica A (DELETE /v1/admin/tokens/:id) while probing GET /v1/aspects on replica B every ${PROBE_MS} ms with it; time from the start of the revoke call to the first 401 on B, ${TRIALS} trials; baseline: the 1 s bound.`,
      rows: [
        {
          metric: 'p50',
          ours: ms(s.p50, 1),
          baseline: ms(BOUND_MS, 0),
          ratio: times(s.p50 / BOUND_MS),
          target: '—',
          met: '—',
        },
        {
          metric: 'p99',
          ours: ms(s.p99, 1),
          baseline: ms(BOUND_MS, 0),
          ratio: times(s.p99 / BOUND_MS),
          target: '≤ 100 ms',
          met: yesNo(s.n === TRIALS && s.p99 <= 100),
        },
      ],
      notes: [
        `from the revoke call's 204 reply: p50 ${ms(r.p50, 1)}, p99 ${ms(r.p99, 1)}; trials not refused within ${LIMIT_MS} ms: ${unrevoked}`,
        `probe resolution ${PROBE_MS} ms; max ${ms(s.max, 1)}`,
      ],
    };
  });
}
