/**
 * `turn-overhead`: what the broker and the runtime add to an LLM turn. A real `nexus broker` and a
 * real `nexus agent` on the scripted provider (B.52) with 1 s to the first token and 60 tokens/s;
 * a peer sends a message and times until the aspect's reply (made with `send_message`) arrives.
 * Baseline, in the same run: the provider's own time, the same scripted step streamed to its end in
 * this process. Overhead = ours − baseline, held to < 1 % of the provider's time.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Script, SessionEntry } from '../protocol/index.js';
import { createScriptedProvider } from '../runtime/providers/scripted.js';
import { mintAspectToken, startAgentProcess, writeHome } from '../testing/index.js';
import { registerAspects } from './lib/aspects.js';
import { BenchSocket, type BenchMessage } from './lib/bench-socket.js';
import { measureCpu, perUnit } from './lib/cpu.js';
import { type BenchOptions, type BenchResult, ms, yesNo } from './lib/report.js';
import { sleep, withScope } from './lib/setup.js';
import { median, summarize } from './lib/stats.js';

const TRIALS = 15;
const INSTANT_TRIALS = 20;
const TTFT_MS = 1000;
const TOKENS_PER_S = 60;

/** About 60 tokens (characters ÷ 4, B.52): one second of streaming at 60 tokens/s. */
const REPLY =
  'I have read your note and checked the figures against the report. The totals agree once the March correction is applied to the second quarter, and the summary table only needs its footnote updated, so I am sending you the short answer now.';

const SCRIPT: Script = [
  // Diagnostic: an instant provider, so the round trip is the broker and the runtime alone.
  {
    match: 'instant-',
    tool_calls: [{ name: 'send_message', input: { content: 're: {{message.content}}' } }],
    then: 'done',
  },
  {
    reply: REPLY,
    tool_calls: [{ name: 'send_message', input: { content: 're: {{message.content}}' } }],
    then: 'done',
    ttft_ms: TTFT_MS,
    tokens_per_s: TOKENS_PER_S,
  },
];

export async function turnOverhead(options: BenchOptions): Promise<BenchResult> {
  return withScope(async (scope) => {
    const db = await scope.database('turn_overhead');
    const { replicas, admin } = await scope.brokers(db, 1);
    const broker = replicas[0];
    if (!broker) throw new Error('no broker');
    const [peer] = await registerAspects(broker.url, admin, ['peer']);
    if (!peer) throw new Error('set-up failed');
    const { token } = await mintAspectToken(admin, 'pilot');
    const home = await writeHome({
      'aspect.json': {
        name: 'pilot',
        context_mode: 'global',
        provider: { kind: 'scripted' },
        tools: ['send_message'],
      },
      'script.json': SCRIPT,
      'SOUL.md': 'You are pilot, a careful reviewer of figures.',
    });
    scope.defer(() => rm(home, { recursive: true, force: true }));
    const agent = startAgentProcess({ home, url: broker.url, token });
    scope.defer(async () => void (await agent.stop()));
    await agent.waitForLog('"registered"', 60_000);

    const replies = new Map<string, (at: number) => void>();
    const socket = await BenchSocket.open({
      url: broker.url,
      token: peer.token,
      instanceId: peer.instanceId,
      keepAlive: true,
      onMessage: (message: BenchMessage, at: number) => replies.get(message.content)?.(at),
    });
    scope.defer(() => socket.close());

    const sessionFile = path.join(home, 'session', 'global.jsonl');
    const turnEnds = async (): Promise<number> =>
      ((await readFile(sessionFile, 'utf8').catch(() => '')).match(/"kind":"custom\.turn_end"/g) ?? [])
        .length;
    let turns = 0;
    /** Wall-clock send and arrival times per content, to split the round trip by the session's timestamps. */
    const wall = new Map<string, { sent: number; arrived: number }>();
    /** Sends `content` in a new thread; resolves with ms from the send call to the reply's arrival. */
    const roundTrip = async (content: string): Promise<number> => {
      const arrived = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no reply to ${content} within 60 s`)), 60_000);
        replies.set(`re: ${content}`, (at) => {
          clearTimeout(timer);
          resolve(at);
        });
      });
      const sentAt = Date.now();
      const started = performance.now();
      await socket.send({ content, to: ['pilot'] });
      const at = await arrived;
      wall.set(content, { sent: sentAt, arrived: sentAt + (at - started) });
      replies.delete(`re: ${content}`);
      // The turn goes on after the reply (the step's `then` call): wait for its end, so trials never overlap.
      turns++;
      const deadline = Date.now() + 60_000;
      while ((await turnEnds()) < turns) {
        if (Date.now() > deadline) throw new Error(`turn ${turns} did not end within 60 s`);
        await sleep(50);
      }
      return at - started;
    };

    const provider = createScriptedProvider({ script: SCRIPT });
    /** The provider's own time for the same step: request to its `done` event, in this process. */
    const providerTime = async (content: string): Promise<number> => {
      const request = {
        model: 'scripted',
        system: 'You are pilot.',
        messages: [
          {
            role: 'user' as const,
            content: `<message id="1" from="peer" thread="1" kind="chat">${content}</message>`,
          },
        ],
        tools: [],
        maxOutputTokens: 4096,
      };
      const started = performance.now();
      for await (const event of provider.stream(request, new AbortController().signal)) {
        if (event.type === 'error') throw new Error(`scripted provider failed: ${event.error.message}`);
        if (event.type === 'done') break;
      }
      return performance.now() - started;
    };

    await roundTrip('instant-warmup'); // the first turn also writes the system prompt
    await roundTrip('paced-warmup');
    await providerTime('paced-warmup');
    options.log('turn-overhead: warmed up');

    const instant: number[] = [];
    for (let i = 0; i < INSTANT_TRIALS; i++) instant.push(await roundTrip(`instant-${i}`));
    options.log('turn-overhead: instant trials done');

    const ours: number[] = [];
    const baseline: number[] = [];
    const cpu = await measureCpu(
      { broker: [broker.child.pid as number], runtime: [agent.child.pid as number] },
      db,
      async () => {
        for (let i = 0; i < TRIALS; i++) {
          // Alternate which side goes first, so drift hits both alike.
          if (i % 2 === 0) {
            ours.push(await roundTrip(`paced-${i}`));
            baseline.push(await providerTime(`paced-${i}`));
          } else {
            baseline.push(await providerTime(`paced-${i}`));
            ours.push(await roundTrip(`paced-${i}`));
          }
          options.log(`turn-overhead: trial ${i + 1}/${TRIALS}`);
        }
      },
    );

    const legs = await splitRoundTrips(sessionFile, wall, 'instant-');
    const o = median(ours);
    const b = median(baseline);
    const overheads = ours.map((x, i) => x - (baseline[i] as number));
    const overhead = median(overheads);
    const share = overhead / b;
    const inst = summarize(instant);
    return {
      name: 'turn-overhead',
      what: `A peer's message to a real nexus agent on the scripted provider (${TTFT_MS} ms to the first token, ${TOKENS_PER_S} tokens/s, a reply of ${Math.ceil(REPLY.length / 4)} tokens then a send_message call), through a real broker: time from the send call to the reply's arrival at the peer. Baseline: the provider's own time for the same step (request to done), streamed in the benchmark process. ${TRIALS} alternating trials, each in a new thread of one global session.`,
      rows: [
        {
          metric: 'message sent → reply received (median)',
          ours: ms(o, 1),
          baseline: ms(b, 1),
          ratio: `${((o / b - 1) * 100).toFixed(2)} % over`,
          target: '—',
          met: '—',
        },
        {
          metric: 'broker + runtime overhead (median of per-trial differences)',
          ours: ms(overhead, 1),
          baseline: ms(b, 1),
          ratio: `${(share * 100).toFixed(2)} %`,
          target: '< 1 % of provider time',
          met: yesNo(share < 0.01),
        },
        {
          metric: 'round trip with an instant provider, p50 (diagnostic)',
          ours: ms(inst.p50, 1),
          baseline: '—',
          ratio: `${((inst.p50 / b) * 100).toFixed(2)} %`,
          target: '—',
          met: '—',
        },
        {
          metric: 'round trip with an instant provider, p99 (diagnostic)',
          ours: ms(inst.p99, 1),
          baseline: '—',
          ratio: '—',
          target: '—',
          met: '—',
        },
      ],
      notes: [
        `per-trial overhead: ${overheads.map((x) => x.toFixed(1)).join(', ')} ms`,
        `ours: ${ours.map((x) => x.toFixed(0)).join(', ')} ms; provider: ${baseline.map((x) => x.toFixed(0)).join(', ')} ms`,
        `the instant round trip is a message persisted and delivered to the runtime, the turn.user and turn.assistant appends (fdatasync each), the send_message call and the reply's delivery to the peer`,
        `each turn makes a second provider call after the reply (the step's "then", ${TTFT_MS} ms to its first token); trials wait for its custom.turn_end, outside the measured span`,
        `instant round trip by the session's timestamps (ms resolution, medians): send → turn.user appended ${legs.inbound.toFixed(1)} ms, turn.user → turn.assistant appended ${legs.runtime.toFixed(1)} ms, turn.assistant → reply at the peer ${legs.outbound.toFixed(1)} ms`,
        `${perUnit(cpu, TRIALS, 'paced turn')}; over the whole timed span, so it includes the background work of idle processes (broker polls, heartbeats) and, under clients, the baseline's streaming and the polling of the session file`,
      ],
    };
  });
}

/**
 * Splits round trips into three legs by the `ts` of the session entries the runtime wrote:
 * the inbound message's delivery and append, the runtime's own work up to the assistant entry
 * (provider call included), and the tool call's send and delivery to the peer.
 */
async function splitRoundTrips(
  sessionFile: string,
  wall: ReadonlyMap<string, { sent: number; arrived: number }>,
  prefix: string,
): Promise<{ inbound: number; runtime: number; outbound: number }> {
  const entries = (await readFile(sessionFile, 'utf8'))
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((line) => JSON.parse(line) as SessionEntry);
  const inbound: number[] = [];
  const runtime: number[] = [];
  const outbound: number[] = [];
  for (const [content, times] of wall) {
    if (!content.startsWith(prefix) || content.endsWith('warmup')) continue;
    const user = entries.find((e) => e.kind === 'turn.user' && e.payload.content.includes(`>${content}<`));
    const assistant = user && entries.find((e) => e.kind === 'turn.assistant' && e.parentId === user.id);
    if (!user || !assistant) continue;
    inbound.push(Date.parse(user.ts) - times.sent);
    runtime.push(Date.parse(assistant.ts) - Date.parse(user.ts));
    outbound.push(times.arrived - Date.parse(assistant.ts));
  }
  return { inbound: median(inbound), runtime: median(runtime), outbound: median(outbound) };
}
