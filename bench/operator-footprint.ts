/**
 * `operator-footprint` (the operator half of QUALITY.md's `footprint`, SPEC B.64): the RSS of the
 * `nexus operator` process after a forced GC with 1,000 converged Aspects in the API double.
 *
 * Pre-population: a first operator (QPS raised so it takes minutes, not the 6 at 20 QPS) converges
 * 1,000 Aspects with the runtime's registration simulated, then stops. A second operator, at the
 * product defaults, starts over the converged cluster, lists it, reconciles every Aspect once (and
 * must write nothing), and is measured: VmRSS from /proc right after full GCs, run inside it by a
 * preload (`--expose-gc`, bench/lib/gc-signal.mjs) on SIGUSR2. Beside it, the same process idle with
 * no Aspect (the operator's own floor) and a bare Node importing `@kubernetes/client-node`.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { aspectManifest } from '../testing/aspect-crd.js';
import { names } from './lib/aspects.js';
import {
  NOT_PER_ASPECT,
  simulateRegistrations,
  startOperatorBench,
  startOperatorProcess,
  trackConvergence,
  type OperatorProcess,
} from './lib/operator-rig.js';
import { type BenchOptions, type BenchResult, mb, times, yesNo } from './lib/report.js';
import { sleep, withScope } from './lib/setup.js';

const ASPECTS = 1000;
const NAMESPACE = 'bench';
const TARGET_MB = 200;
const SAMPLES = 3;

/** RSS after GC a few times, a second apart; the last is reported, all are noted. */
async function rssSamples(operator: OperatorProcess): Promise<{ rss: number[]; heap: number[] }> {
  const rss: number[] = [];
  const heap: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    if (i > 0) await sleep(1000);
    const sample = await operator.rssAfterGc();
    rss.push(sample.rss);
    heap.push(sample.heapUsedMb);
  }
  return { rss, heap };
}

/** A bare Node process importing client-node, RSS after GC (what B.64 calls ≈ 120 MB). */
async function clientNodeAlone(): Promise<number> {
  const script =
    "await import('@kubernetes/client-node'); globalThis.gc(); globalThis.gc(); process.stdout.write(String(process.memoryUsage().rss));";
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--expose-gc', '--input-type=module', '-e', script],
    { cwd: process.cwd() },
  );
  return Number(stdout) / 2 ** 20;
}

export async function operatorFootprint(options: BenchOptions): Promise<BenchResult> {
  return withScope(async (scope) => {
    const { brokerUrl, double, operator: base } = await startOperatorBench(scope, 'operator_footprint');
    const bare = await clientNodeAlone();

    // The operator's floor: leading, informers synced, nothing to reconcile.
    const idle = await startOperatorProcess({ ...base, env: { RESYNC_S: '3600' } });
    await sleep(2000);
    const idleRss = await rssSamples(idle);
    await idle.stop();

    options.log(`operator-footprint: converging ${ASPECTS} Aspects (pre-population)`);
    const filler = await startOperatorProcess({
      ...base,
      env: { OPERATOR_QPS: '1000', OPERATOR_BURST: '1000', RESYNC_S: '3600' },
    });
    scope.defer(() => filler.stop());
    scope.defer(simulateRegistrations(double, brokerUrl, NAMESPACE));
    const aspectNames = names('f', ASPECTS);
    double.log.clear();
    const start = performance.now();
    const tracker = trackConvergence(double, NAMESPACE, aspectNames, start, 20 * 60_000);
    for (const name of aspectNames) double.put(aspectManifest(NAMESPACE, name));
    try {
      await tracker.done;
    } catch (err) {
      throw new Error(`${(err as Error).message}\noperator output:\n${filler.output().slice(-4000)}`, {
        cause: err,
      });
    }
    const fillMs = performance.now() - start;
    const fillWrites = double.log.writes().filter((r) => !NOT_PER_ASPECT.has(r.kind ?? '')).length;
    const fillerRss = await rssSamples(filler);
    await filler.stop();

    options.log('operator-footprint: a fresh operator over the converged Aspects');
    double.log.clear();
    const measured = await startOperatorProcess({ ...base, env: { RESYNC_S: '3600' } });
    scope.defer(() => measured.stop());
    for (let waited = 0; (await measured.reconciles()) < ASPECTS; waited += 500) {
      if (waited > 10 * 60_000)
        throw new Error('the fresh operator did not reconcile every Aspect in 10 min');
      await sleep(500);
    }
    const freshWrites = double.log.writes().filter((r) => !NOT_PER_ASPECT.has(r.kind ?? '')).length;
    const rss = await rssSamples(measured);
    const last = rss.rss.at(-1) as number;
    const idleLast = idleRss.rss.at(-1) as number;
    const list = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');

    return {
      name: 'operator-footprint',
      what: `\`nexus operator\` RSS (VmRSS) after a forced GC: with ${ASPECTS.toLocaleString('en-US')} converged Aspects pre-populated in the API double (a fresh operator that listed and reconciled them all), beside the same process with none`,
      rows: [
        {
          metric: `RSS with ${ASPECTS.toLocaleString('en-US')} converged Aspects`,
          ours: mb(last),
          baseline: `${mb(idleLast)} (no Aspects)`,
          ratio: times(last / idleLast),
          target: `≤ ${TARGET_MB} MB`,
          met: yesNo(last <= TARGET_MB),
        },
        {
          metric: `added by ${ASPECTS.toLocaleString('en-US')} Aspects`,
          ours: mb(last - idleLast),
          baseline: '—',
          ratio: '—',
          target: '—',
          met: '—',
        },
        {
          metric: 'writes by the fresh operator over them',
          ours: String(freshWrites),
          baseline: '—',
          ratio: '—',
          target: '0',
          met: yesNo(freshWrites === 0),
        },
      ],
      notes: [
        `RSS after GC, ${SAMPLES} samples a second apart (MB): with the Aspects ${list(rss.rss)} (heap used ${list(rss.heap)}); no Aspects ${list(idleRss.rss)} (heap used ${list(idleRss.heap)})`,
        `a bare Node importing @kubernetes/client-node: ${mb(bare)} after GC (B.64's ≈ 120 MB)`,
        `pre-population: ${ASPECTS} Aspects converged by an operator at OPERATOR_QPS=1000 in ${(fillMs / 1000).toFixed(0)} s with ${fillWrites} writes (${(fillWrites / ASPECTS).toFixed(2)} per Aspect; Events and the Lease not counted); its own RSS after GC once converged: ${list(fillerRss.rss)} MB (heap used ${list(fillerRss.heap)})`,
        'the double ran in the benchmark process (historyLimit 2,000), the operator in its own; GC forced inside the operator by a preload on SIGUSR2 (node --expose-gc), VmRSS read from /proc right after',
      ],
    };
  });
}
