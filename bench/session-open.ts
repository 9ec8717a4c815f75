/**
 * `session-open`: open a 10,000-entry session with compactions and rewound branches (the real
 * `SessionFile.open`: read, per-line zod validation, head recovery; then `buildContext` of the
 * head) against a raw read + `JSON.parse` of every line of the same file. Alternating trials.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SESSION_FORMAT_VERSION, type SessionEntry, type SessionHeader } from '../protocol/index.js';
import { buildContext } from '../runtime/session/context.pure.js';
import { SessionFile } from '../runtime/session/session-file.js';
import { ulidGenerator } from '../runtime/session/ulid.js';
import { type BenchOptions, type BenchResult, ms, times, yesNo } from './lib/report.js';
import { median } from './lib/stats.js';

const ENTRIES = 10_000;
const COMPACT_EVERY = 300;
const REWIND_EVERY = 1_500;
const TRIALS = 30;
const WARMUP = 3;

const USAGE = {
  input_tokens: 1834,
  output_tokens: 96,
  cache_read_input_tokens: 0,
  cache_creation_input_tokens: 0,
};

interface Generated {
  lines: string[];
  head: string;
  compactions: number;
  branches: number;
}

/**
 * A long-lived session as the runtime writes it: a fork's header, a system prompt, then turns with
 * a tool call each (five entries), a compaction every ~300 entries keeping the last 6 turns, and
 * every ~1,500 entries a rewind ~200 entries back with a branch summary under the target.
 */
export function generateSession(): Generated {
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const nextId = ulidGenerator(() => clock);
  const entries: SessionEntry[] = [];
  const branch: SessionEntry[] = []; // the active branch, root first
  const turnStarts: string[] = []; // turn.user ids on the active branch
  let compactions = 0;
  let branches = 0;
  const add = (kind: SessionEntry['kind'], payload: SessionEntry['payload']): SessionEntry => {
    clock += 997;
    const entry = {
      id: nextId(),
      parentId: branch.at(-1)?.id ?? null,
      kind,
      ts: new Date(clock).toISOString(),
      payload,
    } as SessionEntry;
    entries.push(entry);
    branch.push(entry);
    if (kind === 'turn.user') turnStarts.push(entry.id);
    return entry;
  };

  add('system.prompt', { text: 'You are wren, one aspect of a team. '.repeat(80) });
  let n = 0;
  while (entries.length < ENTRIES) {
    n++;
    add('turn.user', {
      content: `<message id="${1000 + n}" from="heron" thread="${n % 17}">Please look at item ${n} of the backlog and tell me whether it still blocks the release; the notes from the last review are attached below.</message>`,
      message_ids: [String(1000 + n)],
      thread_id: String(n % 17),
    });
    add('turn.assistant', {
      content: '',
      tool_calls: [
        {
          id: `toolu_${n}`,
          name: 'send_message',
          input: { content: `Item ${n} no longer blocks the release: the fix landed and the test passes.` },
        },
      ],
      usage: USAGE,
      model: 'claude-sonnet-4-5',
      stop_reason: 'tool_use',
    });
    add('turn.tool_result', {
      tool_call_id: `toolu_${n}`,
      content: `{"id":"${5000 + n}","thread_id":"${n % 17}"}`,
      is_error: false,
    });
    add('turn.assistant', {
      content: 'done',
      tool_calls: [],
      usage: USAGE,
      model: 'claude-sonnet-4-5',
      stop_reason: 'end_turn',
    });
    add('custom.turn_end', { reason: 'done', message_ids: [String(1000 + n)], usage: USAGE });
    if (entries.length % COMPACT_EVERY < 5 && turnStarts.length > 6) {
      compactions++;
      add('compaction', {
        first_kept_entry_id: turnStarts.at(-6) as string,
        summary: `Backlog review so far: items up to ${n - 6} were checked; decisions recorded. `.repeat(12),
        tokens_before: 150_000,
        tokens_after: 12_000,
        model: 'claude-sonnet-4-5',
      });
    }
    if (entries.length % REWIND_EVERY < 5 && branch.length > 400) {
      // Rewind ~200 entries back to a turn boundary and leave a summary of the departed branch.
      let cut = branch.length - 200;
      while (cut > 0 && branch[cut]?.kind !== 'custom.turn_end') cut--;
      const departed = branch[cut + 1] as SessionEntry;
      branch.length = cut + 1;
      while (turnStarts.length > 0 && !branch.some((e) => e.id === turnStarts.at(-1))) turnStarts.pop();
      branches++;
      add('branch_summary', {
        summary: 'Explored reordering the backlog by risk; abandoned in favour of the original order.',
        from_entry_id: departed.id,
      });
    }
  }
  const header: SessionHeader = {
    nexus_session: SESSION_FORMAT_VERSION,
    sid: 'global',
    created_at: new Date(Date.parse('2026-01-01T00:00:00Z')).toISOString(),
    forked_from: { sid: 'global', entry_id: (entries[0] as SessionEntry).id },
  };
  return {
    lines: [header, ...entries].map((e) => JSON.stringify(e)),
    head: (branch.at(-1) as SessionEntry).id,
    compactions,
    branches,
  };
}

export async function sessionOpen(options: BenchOptions): Promise<BenchResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'nexus-bench-open-'));
  try {
    const file = path.join(dir, 'global.jsonl');
    const generated = generateSession();
    await writeFile(file, generated.lines.map((l) => `${l}\n`).join(''));
    // A current `.head`, as after a clean run: open trusts it and writes nothing.
    await writeFile(`${file}.head`, JSON.stringify({ id: generated.head, lines: generated.lines.length }));
    const bytes = (await stat(file)).size;

    let problems = 0;
    let contextMessages = 0;
    const openParts: number[] = [];
    const replayParts: number[] = [];
    const ours = async (): Promise<number> => {
      const started = performance.now();
      const session = await SessionFile.open(file, { sid: 'global', onProblem: () => problems++ });
      const opened = performance.now();
      const context = buildContext(session.entries, session.head);
      const finished = performance.now();
      openParts.push(opened - started);
      replayParts.push(finished - opened);
      contextMessages = context.messages.length;
      if (session.head !== generated.head)
        throw new Error(`head ${session.head}, expected ${generated.head}`);
      return finished - started;
    };
    let parsedLines = 0;
    const raw = async (): Promise<number> => {
      const started = performance.now();
      const text = await readFile(file, 'utf8');
      const values: unknown[] = [];
      for (const line of text.split('\n')) if (line) values.push(JSON.parse(line));
      parsedLines = values.length;
      return performance.now() - started;
    };

    for (let i = 0; i < WARMUP; i++) {
      await ours();
      await raw();
    }
    openParts.length = 0;
    replayParts.length = 0;
    const oursTimes: number[] = [];
    const rawTimes: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      if (trial % 2 === 0) {
        oursTimes.push(await ours());
        rawTimes.push(await raw());
      } else {
        rawTimes.push(await raw());
        oursTimes.push(await ours());
      }
    }
    options.log(`session-open: ${TRIALS} trials a side`);
    if (problems > 0) throw new Error(`the generated session had ${problems} problem lines`);

    const o = median(oursTimes);
    const r = median(rawTimes);
    return {
      name: 'session-open',
      what: `Open a session of ${ENTRIES.toLocaleString('en-US')} entries (${(bytes / 1e6).toFixed(1)} MB; ${generated.compactions} compactions, ${generated.branches} rewound branches with summaries, a fork's header) with the real SessionFile.open and buildContext of its head; baseline: readFile + JSON.parse of every line. Median of ${TRIALS} alternating trials a side.`,
      rows: [
        {
          metric: 'open + replay (median)',
          ours: ms(o, 1),
          baseline: ms(r, 1),
          ratio: times(o / r),
          target: '≤ 3× raw',
          met: yesNo(o <= 3 * r),
        },
        {
          metric: 'open + replay, absolute (median)',
          ours: ms(o, 1),
          baseline: '—',
          ratio: '—',
          target: '< 200 ms',
          met: yesNo(o < 200),
        },
        {
          metric: 'of which open: read, validate, head (diagnostic)',
          ours: ms(median(openParts), 1),
          baseline: ms(r, 1),
          ratio: times(median(openParts) / r),
          target: '—',
          met: '—',
        },
        {
          metric: 'of which buildContext (diagnostic)',
          ours: ms(median(replayParts), 1),
          baseline: '—',
          ratio: '—',
          target: '—',
          met: '—',
        },
      ],
      notes: [
        `ours: ${oursTimes.map((x) => x.toFixed(0)).join(', ')} ms`,
        `raw: ${rawTimes.map((x) => x.toFixed(0)).join(', ')} ms (${parsedLines.toLocaleString('en-US')} lines parsed)`,
        `the replayed context holds ${contextMessages} messages (the newest compaction's summary and the turns it keeps)`,
        `${WARMUP} warm-up trials a side not counted; the file is in the page cache for both sides`,
      ],
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
