/**
 * The single-client part of `claim` (bench/claim.ts): one fair claim (`claim()`, one `nexus_claim`
 * call) timed against one raw `SKIP LOCKED` claim, each completed untimed before the next, in
 * rotating blocks.
 */
import type pg from 'pg';
import { claim as claimSql, completeLeases } from '../broker/hands/lease-sql.js';
import { rawClaim, rawComplete, seedDispatches, seedRawJobs, setLimits } from './lib/hands.js';
import type { BenchOptions } from './lib/report.js';
import { summarize } from './lib/stats.js';

/** Warm-up claims a side, then blocks of `block` claims per side, rotating. */
export const LATENCY = { warmup: 200, block: 500, blocks: 4 };

export interface LatencyFixture {
  dispatchers: string[];
  tokenId: string;
  leaseS: number;
  envelope: Record<string, unknown>;
}

/** One claim from a single client, timed, then completed untimed: ours against raw. */
export async function singleClientLatency(
  setup: pg.Client,
  client: pg.Client,
  fixture: LatencyFixture,
  options: BenchOptions,
) {
  const { dispatchers, tokenId, leaseS, envelope } = fixture;
  const total = LATENCY.warmup + LATENCY.block * LATENCY.blocks;
  await seedDispatches(setup, dispatchers, 2 * total + 100);
  await setLimits(setup, 8, 8);
  await seedRawJobs(setup, dispatchers, total + 100);
  for (const table of ['hand_queue', 'hand_running', 'bench_raw_jobs'])
    await setup.query(`VACUUM ANALYZE ${table}`);

  const workerId = 'lat-w';
  const full = async () => {
    const started = performance.now();
    const rows = await claimSql(client, [{ workerId, tokenId: tokenId, max: 1 }], leaseS);
    const elapsed = performance.now() - started;
    await completeLeases(
      client,
      tokenId,
      workerId,
      rows.map((r) => ({ dispatchId: r.dispatch_id, attempt: r.attempt, envelope })),
    );
    return elapsed;
  };
  const raw = async () => {
    const started = performance.now();
    const id = await rawClaim(client, workerId);
    const elapsed = performance.now() - started;
    if (id !== null) await rawComplete(client, id);
    return elapsed;
  };
  for (let i = 0; i < LATENCY.warmup; i++) {
    await full();
    await raw();
  }
  const samples = { full: [] as number[], raw: [] as number[] };
  const sides = ['full', 'raw'] as const;
  const run = { full, raw };
  for (let block = 0; block < LATENCY.blocks; block++) {
    const order = sides.map((_, i) => sides[(i + block) % sides.length] as (typeof sides)[number]);
    for (const side of order) for (let i = 0; i < LATENCY.block; i++) samples[side].push(await run[side]());
    options.log(`claim: single-client block ${block + 1}/${LATENCY.blocks}`);
  }
  return {
    full: summarize(samples.full),
    raw: summarize(samples.raw),
  };
}
