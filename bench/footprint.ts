/**
 * `footprint` (broker half): the broker process's RSS (VmRSS from /proc) idle after start, after
 * the set-up (1,000 aspect tokens minted and 1,000 aspects registered), and with 1,000 idle sockets
 * that passed hello. Absolute targets, no baseline.
 */
import { names, registerAspects } from './lib/aspects.js';
import { BenchSocket } from './lib/bench-socket.js';
import { type BenchOptions, type BenchResult, mb, yesNo } from './lib/report.js';
import { mapLimit, rssMb, sleep, withScope } from './lib/setup.js';

const SOCKETS = 1000;
const SETTLE_MS = 5000;

/** RSS samples once a second for `ms`; the last one is reported (the others show the spread). */
async function sampleRss(pid: number, durationMs: number): Promise<number[]> {
  const samples: number[] = [];
  for (let t = 0; t < durationMs; t += 1000) {
    await sleep(1000);
    samples.push(rssMb(pid));
  }
  return samples;
}

export async function footprint(options: BenchOptions): Promise<BenchResult> {
  return withScope(async (scope) => {
    const db = await scope.database('footprint');
    const { replicas, admin } = await scope.brokers(db, 1);
    const broker = replicas[0] as (typeof replicas)[0];
    const pid = broker.child.pid as number;

    const idleSamples = await sampleRss(pid, SETTLE_MS);
    const idle = idleSamples.at(-1) as number;

    options.log(`footprint: minting and registering ${SOCKETS} aspects`);
    const aspects = await registerAspects(broker.url, admin, names('f', SOCKETS), 16);
    const setupSamples = await sampleRss(pid, SETTLE_MS);
    const afterSetup = setupSamples.at(-1) as number;

    options.log(`footprint: opening ${SOCKETS} sockets`);
    const sockets = await mapLimit(aspects, 20, (aspect) =>
      BenchSocket.open({
        url: broker.url,
        token: aspect.token,
        instanceId: aspect.instanceId,
        keepAlive: true,
      }),
    );
    for (const socket of sockets) scope.defer(() => socket.close());
    const socketSamples = await sampleRss(pid, SETTLE_MS);
    const withSockets = socketSamples.at(-1) as number;
    const open = sockets.filter((s) => s.isOpen).length;

    // Conservative: the set-up's own garbage and caches count against the sockets. The heap grown by
    // the set-up can absorb the sockets, so the rise over the after-set-up figure reads lower.
    const perThousand = ((withSockets - idle) * 1000) / SOCKETS;
    return {
      name: 'footprint',
      what: `Broker RSS (VmRSS of the nexus broker process): idle after start, after minting ${SOCKETS.toLocaleString('en-US')} aspect tokens and registering ${SOCKETS.toLocaleString('en-US')} aspects, and with ${SOCKETS.toLocaleString('en-US')} idle sockets that passed hello.`,
      rows: [
        {
          metric: 'RSS idle',
          ours: mb(idle),
          baseline: '—',
          ratio: '—',
          target: '≤ 100 MB',
          met: yesNo(idle <= 100),
        },
        {
          metric: `RSS with ${SOCKETS.toLocaleString('en-US')} sockets`,
          ours: mb(withSockets),
          baseline: `${mb(afterSetup)} (after set-up)`,
          ratio: '—',
          target: '—',
          met: '—',
        },
        {
          metric: 'added per 1,000 sockets (over idle)',
          ours: mb(perThousand),
          baseline: '—',
          ratio: '—',
          target: '≤ +60 MB',
          met: yesNo(perThousand <= 60 && open === SOCKETS),
        },
      ],
      notes: [
        `RSS sampled once a second for ${SETTLE_MS / 1000} s after each step, last sample reported: idle ${idleSamples.map((x) => x.toFixed(1)).join(', ')}; after set-up ${setupSamples.map((x) => x.toFixed(1)).join(', ')}; with sockets ${socketSamples.map((x) => x.toFixed(1)).join(', ')} MB`,
        `${open} of ${SOCKETS} sockets open at the end; added over the RSS after set-up: ${mb(withSockets - afterSetup)} (the heap the set-up grew absorbs part of the sockets, so the figure over idle is the one held to the target)`,
      ],
    };
  });
}
