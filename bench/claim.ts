/**
 * `claim`: claim + complete of 20,000 pre-enqueued no-op dispatches from 5 dispatching aspects,
 * N = H = slots, at 4 and 8 slots, one broker. Measured at the SQL level (the broker's own data
 * access, `claim()` and `completeLeases()` of broker/hands/lease-sql.ts, from `slots` pg clients)
 * and through the API (a real broker process, `POST /v1/workers/claim {max: K}` and batched
 * `POST /v1/workers/complete`, B.74). Baselines in the same run on the same database:
 * graphile-worker 0.17.3 with concurrency = slots and a no-op task, and raw `FOR UPDATE SKIP
 * LOCKED` claim-then-complete from `slots` pg clients. Plus the latency of one fair claim from a
 * single client against one raw claim. Sides rotate within each round so drift hits all alike.
 */
import type pg from 'pg';
import type { Runner } from 'graphile-worker';
import { ClaimGate } from '../broker/hands/claim-gate.js';
import { claim as claimSql, completeLeases } from '../broker/hands/lease-sql.js';
import { createLogger } from '../platform/index.js';
import { LATENCY, singleClientLatency } from './claim-latency.js';
import { measureCpu, type CpuUse } from './lib/cpu.js';
import {
  type Claimed,
  JsonHttp,
  createRawJobs,
  graphileMigrate,
  mintWorkerToken,
  okResult,
  rawClaim,
  rawComplete,
  registerTarget,
  seedDispatches,
  seedGraphileJobs,
  seedRawJobs,
  setLimits,
  startGraphile,
} from './lib/hands.js';
import { type BenchOptions, type BenchResult, ms, perSecond, times, yesNo } from './lib/report.js';
import { sleep, withScope } from './lib/setup.js';

const JOBS = 20_000;
const DISPATCHERS = ['asp0', 'asp1', 'asp2', 'asp3', 'asp4'];
const SLOT_COUNTS = [4, 8];
const ROUNDS = 2;
/** Claim loops of the API side: each claims `{max: slots / API_LOOPS}` and completes in one batch. */
const API_LOOPS = 2;
const LEASE_S = 600;
const TOKEN_ID = 'bench-token';
const ENVELOPE = {
  status: 'ok',
  summary: '',
  artifacts: [],
  usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0 },
};

type Side = 'graphile' | 'raw' | 'sql' | 'sql1' | 'api' | 'api1';
const ALL_SIDES: Side[] = ['graphile', 'raw', 'sql', 'sql1', 'api', 'api1'];
/** `NEXUS_BENCH_CLAIM_SIDES=graphile,sql` runs only those sides (while profiling; reports need all). */
const SIDES: Side[] = process.env.NEXUS_BENCH_CLAIM_SIDES
  ? ALL_SIDES.filter((side) => process.env.NEXUS_BENCH_CLAIM_SIDES?.split(',').includes(side))
  : ALL_SIDES;

interface Run {
  side: Side;
  slots: number;
  rate: number;
  cpu: CpuUse;
}

export async function claim(options: BenchOptions): Promise<BenchResult> {
  return withScope(async (scope) => {
    const db = await scope.database('claim');
    const { replicas, admin } = await scope.brokers(db, 1, { HAND_QUEUE_LIMIT: '0' });
    const broker = replicas[0];
    if (!broker) throw new Error('no broker');
    await registerTarget(broker.url, admin);
    const workerToken = await mintWorkerToken(admin);
    const setup = await scope.pgClient(db.url);
    await createRawJobs(setup);
    await graphileMigrate(db.url);
    const clients: pg.Client[] = [];
    for (let i = 0; i <= Math.max(...SLOT_COUNTS); i++) clients.push(await scope.pgClient(db.url));
    const brokerPids = { broker: [broker.child.pid as number] };
    const gateLogger = createLogger({ name: 'bench-claim-gate', level: 'warn', destination: process.stderr });

    /** Each side starts from vacuumed, analysed tables with nothing left over. */
    const tidy = async () => {
      for (const table of [
        'hand_queue',
        'hand_running',
        'hand_dispatches',
        'bench_raw_jobs',
        'graphile_worker._private_jobs',
      ])
        await setup.query(`VACUUM ANALYZE ${table}`);
    };

    const graphile = async (slots: number): Promise<Run> => {
      await seedGraphileJobs(setup, JOBS);
      await tidy();
      let started = 0;
      let first = 0;
      let allStarted!: () => void;
      const everyStart = new Promise<void>((resolve) => (allStarted = resolve));
      let elapsed = 0;
      let runner: Runner | null = null;
      try {
        const cpu = await measureCpu(brokerPids, db, async () => {
          runner = await startGraphile(db.url, slots, async () => {
            if (started++ === 0) first = performance.now();
            if (started === JOBS) allStarted();
          });
          await everyStart;
          // The last completions are written after the task returns: done when the table is empty.
          const left = async () =>
            (
              await setup.query<{ n: number }>(
                'SELECT count(*)::integer AS n FROM graphile_worker._private_jobs',
              )
            ).rows[0]?.n;
          while ((await left()) !== 0) await sleep(5);
          elapsed = performance.now() - first;
        });
        return { side: 'graphile', slots, rate: JOBS / (elapsed / 1000), cpu };
      } finally {
        await (runner as Runner | null)?.stop();
      }
    };

    const raw = async (slots: number): Promise<Run> => {
      await seedRawJobs(setup, DISPATCHERS, JOBS);
      await tidy();
      let done = 0;
      let elapsed = 0;
      const cpu = await measureCpu(brokerPids, db, async () => {
        const started = performance.now();
        await Promise.all(
          clients.slice(0, slots).map(async (client, i) => {
            for (;;) {
              const id = await rawClaim(client, `w${i}`);
              if (id === null) return;
              await rawComplete(client, id);
              done++;
            }
          }),
        );
        elapsed = performance.now() - started;
      });
      if (done !== JOBS) throw new Error(`raw: ${done} of ${JOBS} done`);
      return { side: 'raw', slots, rate: JOBS / (elapsed / 1000), cpu };
    };

    const seedOurs = async (slots: number) => {
      await seedDispatches(setup, DISPATCHERS, JOBS);
      await setLimits(setup, slots, slots);
      await tidy();
    };

    /**
     * The broker's claim path without HTTP: the broker's own ClaimGate gathers the slots waiting at
     * that moment into one nexus_claim transaction (B.73) on one connection; each slot completes on
     * a pg client of its own, then kicks the gate (as a completion does in the broker).
     */
    const sql = async (slots: number): Promise<Run> => {
      await seedOurs(slots);
      const gateClient = clients[slots] as pg.Client;
      let rounds = 0;
      const gate = new ClaimGate((claimers) => {
        rounds++;
        return claimSql(gateClient, claimers, LEASE_S);
      }, gateLogger);
      gate.start();
      let done = 0;
      let elapsed = 0;
      const cpu = await measureCpu(brokerPids, db, async () => {
        const started = performance.now();
        await Promise.all(
          clients.slice(0, slots).map(async (client, i) => {
            const workerId = `sql-w${i}`;
            while (done < JOBS) {
              const rows = await gate.claim({ workerId, tokenId: TOKEN_ID, max: 1 }, 1, () => undefined);
              if (rows.length === 0) continue;
              const items = rows.map((r) => ({
                dispatchId: r.dispatch_id,
                attempt: r.attempt,
                envelope: ENVELOPE,
              }));
              const completed = await completeLeases(client, TOKEN_ID, workerId, items);
              done += completed.length;
              gate.kick();
              if (done >= JOBS && elapsed === 0) elapsed = performance.now() - started;
            }
          }),
        );
      });
      gate.stop();
      if (done !== JOBS) throw new Error(`sql: ${done} of ${JOBS} done`);
      options.log(
        `claim: sql ${slots} slots: ${(JOBS / rounds).toFixed(2)} dispatches per claim transaction`,
      );
      return { side: 'sql', slots, rate: JOBS / (elapsed / 1000), cpu };
    };

    /** Diagnostic: every pg client runs its own claim transaction for itself ({max: 1}, not gathered). */
    const sqlAlone = async (slots: number): Promise<Run> => {
      await seedOurs(slots);
      let done = 0;
      let elapsed = 0;
      const cpu = await measureCpu(brokerPids, db, async () => {
        const started = performance.now();
        await Promise.all(
          clients.slice(0, slots).map(async (client, i) => {
            const workerId = `sql1-w${i}`;
            for (;;) {
              const rows = await claimSql(client, [{ workerId, tokenId: TOKEN_ID, max: 1 }], LEASE_S);
              if (rows.length === 0) return;
              const items = rows.map((r) => ({
                dispatchId: r.dispatch_id,
                attempt: r.attempt,
                envelope: ENVELOPE,
              }));
              const completed = await completeLeases(client, TOKEN_ID, workerId, items);
              done += completed.length;
            }
          }),
        );
        elapsed = performance.now() - started;
      });
      if (done !== JOBS) throw new Error(`sql1: ${done} of ${JOBS} done`);
      return { side: 'sql1', slots, rate: JOBS / (elapsed / 1000), cpu };
    };

    /** Through the API: `loops` claim loops, each `{max}` then one batched complete. */
    const api = async (slots: number, loops: number, side: Side): Promise<Run> => {
      await seedOurs(slots);
      const max = slots / loops;
      const client = new JsonHttp(broker.url, workerToken, 2 * loops);
      let done = 0;
      let elapsed = 0;
      let requests = 0;
      const cpu = await measureCpu(brokerPids, db, async () => {
        const started = performance.now();
        await Promise.all(
          Array.from({ length: loops }, async (_, i) => {
            const workerId = `api-w${i}`;
            while (done < JOBS) {
              const reply = await client.post<{ dispatches: Claimed[] }>('/v1/workers/claim', {
                worker_id: workerId,
                max,
                wait_s: 1,
              });
              requests++;
              const claimed = reply.body?.dispatches ?? [];
              if (claimed.length === 0) continue;
              const completed = await client.post<{ results: { state?: string }[] }>('/v1/workers/complete', {
                worker_id: workerId,
                results: claimed.map(okResult),
              });
              requests++;
              done += (completed.body?.results ?? []).filter((r) => r.state === 'done').length;
              if (done >= JOBS && elapsed === 0) elapsed = performance.now() - started;
            }
          }),
        );
      });
      client.close();
      if (done !== JOBS) throw new Error(`api: ${done} of ${JOBS} done`);
      options.log(
        `claim: api ${slots} slots, ${loops} loops: ${(requests / JOBS).toFixed(2)} requests per dispatch`,
      );
      return { side, slots, rate: JOBS / (elapsed / 1000), cpu };
    };

    const measure: Record<Side, (slots: number) => Promise<Run>> = {
      graphile,
      raw,
      sql,
      sql1: sqlAlone,
      api: (slots) => api(slots, API_LOOPS, 'api'),
      api1: (slots) => api(slots, slots, 'api1'),
    };
    const runs: Run[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const slots of SLOT_COUNTS) {
        const order = SIDES.map((_, i) => SIDES[(i + round) % SIDES.length] as Side);
        for (const side of order) {
          const run = await measure[side](slots);
          runs.push(run);
          options.log(`claim: round ${round + 1}, ${slots} slots, ${side}: ${perSecond(run.rate)}`);
        }
      }
    }

    const latency = await singleClientLatency(
      setup,
      clients[0] as pg.Client,
      { dispatchers: DISPATCHERS, tokenId: TOKEN_ID, leaseS: LEASE_S, envelope: ENVELOPE },
      options,
    );

    const mean = (side: Side, slots: number) => {
      const of = runs.filter((r) => r.side === side && r.slots === slots);
      return of.reduce((s, r) => s + r.rate, 0) / of.length;
    };
    const each = (side: Side, slots: number) =>
      runs
        .filter((r) => r.side === side && r.slots === slots)
        .map((r) => perSecond(r.rate))
        .join(', ');
    const cpuPerJob = (side: Side, slots: number) => {
      const of = runs.filter((r) => r.side === side && r.slots === slots);
      const per = (group: string) =>
        (of.reduce((s, r) => s + (r.cpu.seconds[group] ?? 0), 0) * 1000) / (JOBS * of.length);
      return `postgres ${per('postgres').toFixed(2)} ms, broker ${per('broker').toFixed(2)} ms, clients ${per('clients').toFixed(2)} ms`;
    };

    const rows: BenchResult['rows'] = [];
    for (const slots of SLOT_COUNTS) {
      const g = mean('graphile', slots);
      const sqlTarget = slots >= 8 ? 0.9 : 0.75;
      rows.push(
        {
          metric: `${slots} slots, SQL level (the broker's gathered claim, ${slots} pg clients completing)`,
          ours: perSecond(mean('sql', slots)),
          baseline: perSecond(g),
          ratio: times(mean('sql', slots) / g),
          target: `≥ ${sqlTarget}× graphile`,
          met: yesNo(mean('sql', slots) >= sqlTarget * g),
        },
        {
          metric: `${slots} slots, SQL level, one claim transaction per client (diagnostic)`,
          ours: perSecond(mean('sql1', slots)),
          baseline: perSecond(g),
          ratio: times(mean('sql1', slots) / g),
          target: '—',
          met: '—',
        },
        {
          metric: `${slots} slots, API (${API_LOOPS} loops × {max: ${slots / API_LOOPS}}, batched complete)`,
          ours: perSecond(mean('api', slots)),
          baseline: perSecond(g),
          ratio: times(mean('api', slots) / g),
          target: '≥ 0.5× graphile',
          met: yesNo(mean('api', slots) >= 0.5 * g),
        },
        {
          metric: `${slots} slots, API, ${slots} loops × {max: 1} (diagnostic)`,
          ours: perSecond(mean('api1', slots)),
          baseline: perSecond(g),
          ratio: times(mean('api1', slots) / g),
          target: '—',
          met: '—',
        },
        {
          metric: `${slots} slots, raw SKIP LOCKED (diagnostic)`,
          ours: perSecond(mean('raw', slots)),
          baseline: perSecond(g),
          ratio: times(mean('raw', slots) / g),
          target: '—',
          met: '—',
        },
      );
    }
    rows.push(
      {
        metric: 'fairness claim p50, single client (claim(): one nexus_claim call)',
        ours: ms(latency.full.p50, 3),
        baseline: ms(latency.raw.p50, 3),
        ratio: times(latency.full.p50 / latency.raw.p50),
        target: '≤ 1.5× raw claim',
        met: yesNo(latency.full.p50 <= 1.5 * latency.raw.p50),
      },
      {
        metric: 'claim p99, single client (claim())',
        ours: ms(latency.full.p99, 3),
        baseline: ms(latency.raw.p99, 3),
        ratio: times(latency.full.p99 / latency.raw.p99),
        target: '—',
        met: '—',
      },
    );
    return {
      name: 'claim',
      what: `Claim + complete of ${JOBS.toLocaleString('en-US')} pre-enqueued no-op dispatches from ${DISPATCHERS.length} dispatching aspects, N = H = slots, HAND_QUEUE_LIMIT=0, one broker; baseline: graphile-worker 0.17.3 (concurrency = slots, no-op task, defaults otherwise) on the same Postgres. Rates are the mean of ${ROUNDS} rounds; sides rotate within a round.`,
      rows,
      notes: [
        ...SLOT_COUNTS.map(
          (slots) =>
            `${slots} slots, each run: graphile ${each('graphile', slots)}; raw ${each('raw', slots)}; SQL gathered ${each('sql', slots)}; SQL per client ${each('sql1', slots)}; API ${each('api', slots)}; API max 1 ${each('api1', slots)}`,
        ),
        ...SLOT_COUNTS.flatMap((slots) =>
          SIDES.map((side) => `CPU per dispatch, ${slots} slots, ${side}: ${cpuPerJob(side, slots)}`),
        ),
        `single client: ${LATENCY.warmup} warm-up claims a side, then ${LATENCY.blocks} blocks of ${LATENCY.block} per side rotating; each claim completed (untimed) before the next; claim() mean ${ms(latency.full.mean, 3)}, raw mean ${ms(latency.raw.mean, 3)}`,
        "SQL level: the broker's data access (claim(): one nexus_claim call that starts the dispatches and returns what a worker needs; completeLeases(): nexus_complete, the running rows go and nexus_finish_dispatches posts the hand_result messages); gathered: the broker's ClaimGate puts every slot waiting into one nexus_claim call, each slot {max: 1}; per client: each pg client claims for itself; raw: UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1) then DELETE, one statement each; graphile-worker: no local queue, no completion batching (its defaults), a pool of 10",
        'each side starts from 20,000 rows seeded in one SQL statement and VACUUM ANALYZE of the queue tables; finished dispatches stay in hand_dispatches (they accumulate over the runs, as in production)',
      ],
    };
  });
}
