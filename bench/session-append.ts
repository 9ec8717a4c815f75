/**
 * `session-append`: one step of a turn appended to a session with the real `SessionFile` (write,
 * fdatasync, `.head` rewritten in place without fsync, SPEC B.13) against a raw append + fdatasync
 * of the same bytes on a file held open. Both sides run in alternating blocks on the same disk, so
 * drift on the shared machine hits them alike. A separate pass counts the syncs per step through
 * the session's file-system port.
 */
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SessionEntry } from '../protocol/index.js';
import { SessionFile, type NewEntry } from '../runtime/session/session-file.js';
import { nodeSessionFs, type SessionFs } from '../runtime/session/session-fs.js';
import { type BenchOptions, type BenchResult, ms, times, yesNo } from './lib/report.js';
import { summarize } from './lib/stats.js';

const ROUNDS = 6;
const BLOCK = 500;
const WARMUP = 200;
const COUNTED_STEPS = 100;

const USAGE = {
  input_tokens: 1834,
  output_tokens: 96,
  cache_read_input_tokens: 0,
  cache_creation_input_tokens: 0,
};

/** The entries of one ordinary turn with a `send_message` call, appended one per step as the loop does. */
function turnEntries(n: number): NewEntry[] {
  const inbound = `<message id="${1000 + n}" from="wren" thread="42">Could you check the figures for the Heron report and tell me if the totals in section ${n % 9} still add up?</message>`;
  const answer = `The totals in section ${n % 9} add up once the March correction is applied; the summary table still shows the old figure, which I will point out.`;
  return [
    { kind: 'turn.user', payload: { content: inbound, message_ids: [String(1000 + n)], thread_id: '42' } },
    {
      kind: 'turn.assistant',
      payload: {
        content: '',
        tool_calls: [{ id: 'toolu_01', name: 'send_message', input: { content: answer } }],
        usage: USAGE,
        model: 'claude-sonnet-4-5',
        stop_reason: 'tool_use',
      },
    },
    {
      kind: 'turn.tool_result',
      payload: {
        tool_call_id: 'toolu_01',
        content: `{"id":"${2000 + n}","thread_id":"42"}`,
        is_error: false,
      },
    },
    {
      kind: 'turn.assistant',
      payload: {
        content: 'done',
        tool_calls: [],
        usage: USAGE,
        model: 'claude-sonnet-4-5',
        stop_reason: 'end_turn',
      },
    },
    {
      kind: 'custom.turn_end',
      payload: { reason: 'done', message_ids: [String(1000 + n)], usage: USAGE },
    },
  ];
}

/** `count` steps, cycling through whole turns. */
function steps(count: number, offset: number): NewEntry[] {
  const out: NewEntry[] = [];
  for (let n = offset; out.length < count; n++) out.push(...turnEntries(n));
  return out.slice(0, count);
}

/** The session's file-system port, counting the syncs each call makes (fsync or fdatasync). */
function countingFs(counts: { syncs: number }): SessionFs {
  return {
    ...nodeSessionFs,
    openWriter: (file) => {
      const real = nodeSessionFs.openWriter(file);
      return {
        append: async (text) => {
          counts.syncs += 1; // the file (fdatasync)
          await real.append(text);
        },
        writeHead: async (text, durable) => {
          if (durable) counts.syncs += 2; // .head and its folder
          await real.writeHead(text, durable);
        },
        close: () => real.close(),
      };
    },
    writeDurably: async (file, text) => {
      counts.syncs += 2; // the file and its folder
      await nodeSessionFs.writeDurably(file, text);
    },
    replace: async (file, text, durable) => {
      if (durable) counts.syncs += 2; // the file and its folder
      await nodeSessionFs.replace(file, text, durable);
    },
  };
}

export async function sessionAppend(options: BenchOptions): Promise<BenchResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nexus-bench-append-'));
  try {
    const session = await SessionFile.open(path.join(dir, 'global.jsonl'), { sid: 'global' });
    const rawFile = path.join(dir, 'raw.jsonl');
    const raw = await open(rawFile, 'a');
    try {
      // The raw side writes exactly the lines the session wrote in its warm-up, again and again.
      const warm = await appendSteps(session, steps(WARMUP, 0));
      const lines = warm.lines;
      let rawNext = 0;
      const rawBlock = async (count: number): Promise<number[]> => {
        const samples: number[] = [];
        for (let i = 0; i < count; i++) {
          const line = lines[rawNext++ % lines.length] as string;
          const started = performance.now();
          await raw.write(line);
          await raw.datasync();
          samples.push(performance.now() - started);
        }
        return samples;
      };
      await rawBlock(WARMUP);

      const ours: number[] = [];
      const baseline: number[] = [];
      let offset = WARMUP;
      for (let round = 0; round < ROUNDS; round++) {
        const oursFirst = round % 2 === 0;
        const runOurs = async () => {
          ours.push(...(await appendSteps(session, steps(BLOCK, offset))).samples);
          offset += BLOCK;
        };
        const runRaw = async () => baseline.push(...(await rawBlock(BLOCK)));
        if (oursFirst) {
          await runOurs();
          await runRaw();
        } else {
          await runRaw();
          await runOurs();
        }
        options.log(`session-append: round ${round + 1}/${ROUNDS}`);
      }

      const counts = { syncs: 0 };
      const counted = await SessionFile.open(path.join(dir, 'counted.jsonl'), {
        sid: 'counted',
        fs: countingFs(counts),
      });
      counts.syncs = 0; // creating the file is not a step
      await appendSteps(counted, steps(COUNTED_STEPS, 0));
      const syncsPerStep = counts.syncs / COUNTED_STEPS;
      await counted.close();
      await session.close();

      const o = summarize(ours);
      const r = summarize(baseline);
      const bytesPerStep = lines.reduce((n, l) => n + Buffer.byteLength(l), 0) / lines.length;
      const oursBytes = (await stat(session.file)).size;
      return {
        name: 'session-append',
        what: `One step of a turn (turn.user, turn.assistant with a tool call, turn.tool_result, turn.assistant, custom.turn_end in turn; ${bytesPerStep.toFixed(0)} B a line on average) appended with the real SessionFile (write + fdatasync on the held file, .head rewritten in place without fsync), ${(ROUNDS * BLOCK).toLocaleString('en-US')} steps a side in alternating blocks of ${BLOCK}; baseline: the same lines appended to a file held open, each followed by fdatasync.`,
        rows: [
          {
            metric: 'p50 per step',
            ours: ms(o.p50, 3),
            baseline: ms(r.p50, 3),
            ratio: times(o.p50 / r.p50),
            target: '≤ 1.2× raw',
            met: yesNo(o.p50 <= 1.2 * r.p50),
          },
          {
            metric: 'mean per step',
            ours: ms(o.mean, 3),
            baseline: ms(r.mean, 3),
            ratio: times(o.mean / r.mean),
            target: '≤ 1.2× raw',
            met: yesNo(o.mean <= 1.2 * r.mean),
          },
          {
            metric: 'p99 per step',
            ours: ms(o.p99, 3),
            baseline: ms(r.p99, 3),
            ratio: times(o.p99 / r.p99),
            target: '—',
            met: '—',
          },
          {
            metric: 'syncs per step',
            ours: syncsPerStep.toFixed(2),
            baseline: '1.00',
            ratio: '—',
            target: 'one',
            met: yesNo(syncsPerStep === 1),
          },
        ],
        notes: [
          `folder: ${dir} (${tmpdir()}); session file ${(oursBytes / 1e6).toFixed(1)} MB at the end`,
          `ours: p90 ${ms(o.p90, 3)}, max ${ms(o.max, 1)}; raw: p90 ${ms(r.p90, 3)}, max ${ms(r.max, 1)}`,
          `syncs counted through the session's file-system port over ${COUNTED_STEPS} steps (an append: 1; creating a file and a durable .head: 2; an ordinary .head rewrite: 0)`,
          `${WARMUP} warm-up steps a side not counted`,
        ],
      };
    } finally {
      await raw.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Appends one entry per step, timing each; returns the lines written, as the file holds them. */
async function appendSteps(
  session: SessionFile,
  entries: NewEntry[],
): Promise<{ samples: number[]; lines: string[] }> {
  const samples: number[] = [];
  const lines: string[] = [];
  for (const entry of entries) {
    const started = performance.now();
    const [written] = await session.append([entry]);
    samples.push(performance.now() - started);
    lines.push(`${JSON.stringify(written as SessionEntry)}\n`);
  }
  return { samples, lines };
}
