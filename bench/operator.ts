/**
 * `operator` (QUALITY.md, SPEC B.64): 100 Aspects created at once against the Kubernetes API
 * double, reconciled by `nexus operator` (a process, 20 QPS burst 30: the product defaults) with a
 * real broker on Postgres, the runtime's registration simulated (bench/lib/operator-rig.ts). Timed
 * from the creates until every Aspect has its PVC, Secret, ConfigMap and StatefulSet and a status
 * of its generation with Registered True. No pod runs (the double's controllers are off), so the
 * phase stays Pending with PodReady False: the budget is about reaching Registered.
 *
 * Writes are counted from the double's request log (the operator's requests only: the test's
 * creates go straight to the store), Events and the Lease excluded (B.64). Then a window with a
 * resync in it, after convergence: the operator reconciles every Aspect again and must write nothing.
 */
import { aspectManifest } from '../testing/aspect-crd.js';
import type { LoggedRequest } from '../testing/kube-double/index.js';
import { names } from './lib/aspects.js';
import {
  NOT_PER_ASPECT,
  simulateRegistrations,
  startOperatorBench,
  startOperatorProcess,
  trackConvergence,
} from './lib/operator-rig.js';
import { type BenchOptions, type BenchResult, ms, times, yesNo } from './lib/report.js';
import { sleep, withScope } from './lib/setup.js';
import { percentile } from './lib/stats.js';

const ASPECTS = 100;
const NAMESPACE = 'bench';
const QPS = 20;
const BASELINE_QPS = 5;
const RESYNC_S = 10;
const WRITE_BUDGET = 8;

/** `verb kind` → count, e.g. `create StatefulSet`, with the answer's status when not 2xx. */
function breakdown(entries: LoggedRequest[]): string {
  const counts = new Map<string, number>();
  for (const r of entries) {
    const key = `${r.verb}${r.subresource ? ` ${r.subresource}` : ''} ${r.kind ?? '?'}${r.status >= 300 ? ` → ${r.status}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([key, n]) => `${key} ${n}`)
    .join(', ');
}

/** Which Aspect a write was about: the Aspect itself or an object labelled or named for it. */
function aspectOf(r: LoggedRequest, aspects: Set<string>): string | undefined {
  const name = r.name ?? '';
  if (aspects.has(name)) return name;
  const base = name.replace(/-(home|config|token)$/, '');
  return aspects.has(base) ? base : undefined;
}

export async function operator(options: BenchOptions): Promise<BenchResult> {
  return withScope(async (scope) => {
    const { brokerUrl, double, operator: base } = await startOperatorBench(scope, 'operator');
    const operatorProcess = await startOperatorProcess({
      ...base,
      env: { OPERATOR_QPS: String(QPS), OPERATOR_BURST: '30', RESYNC_S: String(RESYNC_S) },
    });
    scope.defer(() => operatorProcess.stop());
    const registrations = { registered: 0, failed: 0 };
    scope.defer(simulateRegistrations(double, brokerUrl, NAMESPACE, registrations));

    const aspectNames = names('a', ASPECTS);
    double.log.clear();
    const start = performance.now();
    const tracker = trackConvergence(double, NAMESPACE, aspectNames, start, 300_000);
    for (const name of aspectNames) double.put(aspectManifest(NAMESPACE, name));
    options.log(`operator: ${ASPECTS} Aspects created; waiting for convergence`);
    try {
      await tracker.done;
    } catch (err) {
      throw new Error(
        `${(err as Error).message}\noperator output:\n${operatorProcess.output().slice(-4000)}`,
        { cause: err },
      );
    }
    const wallMs = performance.now() - start;
    const converging = double.log.entries.filter((r) => r.verb !== 'watch');
    const writes = double.log.writes().filter((r) => !NOT_PER_ASPECT.has(r.kind ?? ''));
    const events = double.log.writes({ kind: 'Event' }).length;
    const counted = new Set(writes);
    const perAspect = new Map<string, number>();
    const set = new Set(aspectNames);
    for (const r of writes) {
      const owner = aspectOf(r, set);
      if (owner) perAspect.set(owner, (perAspect.get(owner) ?? 0) + 1);
    }
    const counts = aspectNames.map((n) => perAspect.get(n) ?? 0).sort((a, b) => a - b);
    const over = counts.filter((n) => n > WRITE_BUDGET).length;
    const writesPerAspect = writes.length / ASPECTS;
    const targetMs = (writes.length / QPS + 5) * 1000;
    const baselineMs = (writes.length / BASELINE_QPS) * 1000;
    const times_ = [...tracker.convergedAt.values()].sort((a, b) => a - b);

    // The no-op window: long enough for a resync and the 2 s polls of Aspects not Ready.
    options.log('operator: converged; watching a resync for writes');
    const reconcilesBefore = await operatorProcess.reconciles();
    double.log.clear();
    await sleep((RESYNC_S + 3) * 1000);
    const reconcilesInWindow = (await operatorProcess.reconciles()) - reconcilesBefore;
    const noopWrites = double.log.writes().filter((r) => !NOT_PER_ASPECT.has(r.kind ?? ''));
    const noopEvents = double.log.writes({ kind: 'Event' }).length;

    return {
      name: 'operator',
      what: `${ASPECTS} Aspects created at once against the API double; \`nexus operator\` (a process, ${QPS} QPS burst 30) with a real broker; the runtime's registration simulated; timed until each has its owned objects and a Registered status of its generation`,
      rows: [
        {
          metric: 'writes per Aspect (mean)',
          ours: writesPerAspect.toFixed(2),
          baseline: '—',
          ratio: '—',
          target: `≤ ${WRITE_BUDGET}`,
          met: yesNo(writesPerAspect <= WRITE_BUDGET && over === 0),
        },
        {
          metric: 'writes per Aspect (max)',
          ours: String(counts.at(-1) ?? 0),
          baseline: '—',
          ratio: '—',
          target: `≤ ${WRITE_BUDGET}`,
          met: yesNo(over === 0),
        },
        {
          metric: `wall time, ${ASPECTS} Aspects`,
          ours: ms(wallMs, 0),
          baseline: `${ms(baselineMs, 0)} (writes ÷ ${BASELINE_QPS} QPS)`,
          ratio: times(wallMs / baselineMs),
          target: `≤ ${ms(targetMs, 0)} (writes ÷ ${QPS} + 5 s)`,
          met: yesNo(wallMs <= targetMs),
        },
        {
          metric: 'writes in a no-op window (resync)',
          ours: String(noopWrites.length),
          baseline: '—',
          ratio: '—',
          target: '0',
          met: yesNo(noopWrites.length === 0 && reconcilesInWindow >= ASPECTS),
        },
      ],
      notes: [
        `writes counted: ${writes.length} (${breakdown(writes)}); Events ${events} and Lease writes not counted`,
        `writes per Aspect: min ${counts[0]}, median ${percentile(counts, 50)}, max ${counts.at(-1)}; ${over} Aspects over ${WRITE_BUDGET}`,
        `other requests while converging (watches not counted): ${breakdown(converging.filter((r) => !counted.has(r)))}`,
        `convergence per Aspect (ms from the creates): p50 ${percentile(times_, 50).toFixed(0)}, p90 ${percentile(times_, 90).toFixed(0)}, max ${(times_.at(-1) ?? 0).toFixed(0)}; registrations simulated ${registrations.registered} (${registrations.failed} refused: a token rotated under them)`,
        `no-op window ${RESYNC_S + 3} s with RESYNC_S=${RESYNC_S}: ${reconcilesInWindow} reconciles, ${noopWrites.length} writes${noopWrites.length ? ` (${breakdown(noopWrites)})` : ''}, ${noopEvents} Events`,
        `the baseline is client-go's default limiter (5 QPS) spending the same writes; the target allows ${QPS} QPS for the same writes plus 5 s for registration and status to follow`,
      ],
    };
  });
}
