/**
 * Property-based fuzzing of session lines, session files and aspect.json (QUALITY faults 10, 18):
 * never a crash, every error names the field, every valid line kept, every bad line reported with
 * its line number, and `.head` always names an existing entry. fast-check prints the seed of a
 * failure; `fc.assert(…, { seed, path })` replays it.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import type { z } from 'zod';
import {
  AspectConfig,
  HeadFile,
  fieldIssues,
  firstIssueText,
  parseSessionEntry,
} from '../../protocol/index.js';
import { anyJson, anyText, errorProblem, mutatedBody } from '../../testing/fuzz.js';
import { HomeError, parseAspectConfig } from '../home/home.js';
import { SessionFile, type SessionProblem } from './session-file.js';

const RUNS = 300;
type Json = Record<string, unknown>;

/** Null when `text` is "path: rule" for the first issue of `error` (the shared rule of testing/fuzz.ts). */
function fieldProblem(text: string, error: z.ZodError): string | null {
  const details = { issues: fieldIssues(error) };
  return errorProblem({ error: { code: 'invalid_request', message: text, details } }, 'body');
}

// ---- valid session entries -------------------------------------------------------------------

const ULID_DIGITS = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ulid = fc.string({ unit: fc.constantFrom(...ULID_DIGITS), minLength: 26, maxLength: 26 });
const text = fc.string({ unit: 'binary', maxLength: 40 });
const nonEmpty = fc.string({ unit: 'binary', minLength: 1, maxLength: 20 });
const decimalId = fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String);
const count = fc.nat({ max: 1_000_000 });
const ts = fc
  .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString());

const kindAndPayload: fc.Arbitrary<{ kind: string; payload: Json }> = fc.oneof(
  fc.record({ kind: fc.constant('system.prompt'), payload: fc.record({ text }) }),
  fc.record({
    kind: fc.constant('turn.user'),
    payload: fc.record(
      { content: text, message_ids: fc.array(decimalId, { maxLength: 3 }), thread_id: decimalId },
      { requiredKeys: ['content'] },
    ),
  }),
  fc.record({
    kind: fc.constant('turn.assistant'),
    payload: fc.record(
      {
        content: text,
        tool_calls: fc.array(
          fc.record({ id: nonEmpty, name: nonEmpty, input: fc.jsonValue({ maxDepth: 2 }) }),
          {
            maxLength: 2,
          },
        ),
        usage: fc.record({ input_tokens: count, output_tokens: count }),
        model: text,
        stop_reason: text,
      },
      { requiredKeys: ['content'] },
    ),
  }),
  fc.record({
    kind: fc.constant('turn.tool_result'),
    payload: fc.record(
      { tool_call_id: nonEmpty, content: text, is_error: fc.boolean() },
      { requiredKeys: ['tool_call_id', 'content'] },
    ),
  }),
  fc.record({
    kind: fc.constant('compaction'),
    payload: fc.record({
      first_kept_entry_id: ulid,
      summary: text,
      tokens_before: count,
      tokens_after: count,
      model: text,
    }),
  }),
  fc.record({
    kind: fc.constant('branch_summary'),
    payload: fc.record({ summary: text, from_entry_id: ulid }),
  }),
  fc.record({
    kind: fc.stringMatching(/^custom\.[a-z0-9_.]{1,12}$/),
    payload: fc.dictionary(text, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  }),
);

const validEntry: fc.Arbitrary<Json> = fc
  .record({ id: ulid, parentId: fc.option(ulid, { nil: null }), ts, body: kindAndPayload })
  .map(({ id, parentId, ts: at, body }) => ({
    id,
    parentId,
    kind: body.kind,
    ts: at,
    payload: body.payload,
  }));

/** Whether a line is an entry SessionFile must keep (JSON and a valid entry). */
function isEntry(line: string): boolean {
  try {
    return parseSessionEntry(JSON.parse(line)).success;
  } catch {
    return false;
  }
}

// ---- (a) parseSessionEntry ---------------------------------------------------------------------

describe('parseSessionEntry fuzzing', () => {
  it('accepts every generated valid entry (the generator is honest)', () => {
    fc.assert(
      fc.property(validEntry, (entry) => {
        const result = parseSessionEntry(entry);
        if (!result.success) throw new Error(firstIssueText(result.error));
      }),
      { numRuns: RUNS },
    );
  });

  it('never throws on any JSON or mutated entry, and every refusal starts with a field path', () => {
    const input = fc.oneof(
      anyJson,
      mutatedBody(validEntry).map((b) => b.value),
    );
    fc.assert(
      fc.property(input, (value) => {
        const result = parseSessionEntry(value);
        if (result.success) return;
        const problem = fieldProblem(firstIssueText(result.error), result.error);
        if (problem) throw new Error(problem);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---- (b) SessionFile.open on damaged files ----------------------------------------------------

type LineSpec =
  | { type: 'entry'; entry: Json; parent: number }
  | { type: 'garbage'; text: string }
  | { type: 'duplicate'; of: number };

const oneLine = (s: string) => s.replaceAll('\n', ' ');
const garbage = fc
  .oneof(
    anyText.map(oneLine),
    mutatedBody(validEntry).map((b) => b.text),
    fc.constantFrom('', '\u0000'.repeat(16), '{}', 'null', '{"kind":"custom.x"}'),
  )
  .filter((line) => !isEntry(line));

const lineSpec: fc.Arbitrary<LineSpec> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ type: fc.constant('entry' as const), entry: validEntry, parent: fc.nat() }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant('garbage' as const), text: garbage }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('duplicate' as const), of: fc.nat() }) },
);

/** What `.head` holds before the open. */
const headSpec = fc.oneof(
  fc.constant({ type: 'missing' as const }),
  fc.record({ type: fc.constant('garbage' as const), text: anyText }),
  fc.record({ type: fc.constant('entry' as const), of: fc.nat(), lines: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ type: fc.constant('unknown' as const), lines: fc.integer({ min: 1, max: 40 }) }),
);

/** A torn last line: a cut valid line, or text without a newline. */
const tornSpec = fc.option(
  fc.oneof(
    fc.record({ entry: validEntry, cut: fc.nat() }).map(({ entry, cut }) => {
      const line = JSON.stringify(entry);
      return line.slice(0, 1 + (cut % (line.length - 1)));
    }),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 60 }).map((s) => oneLine(s) || 'x'),
  ),
  { nil: null },
);

/** Why a middle line was skipped: not JSON, a duplicate, or "field.path: rule". */
const BAD_LINE_REASON =
  /^(not valid JSON; skipped|duplicate entry id \S+; the first one is kept|(\(root\)|[A-Za-z_$[]).*: .+; skipped)$/s;

const HEADER = JSON.stringify({ nexus_session: 1, sid: 'global', created_at: '2026-01-01T00:00:00.000Z' });
const idOf = (n: number) => `01J${String(n).padStart(23, '0')}`;

/** Lays the specs out as file lines: unique ids, parents among earlier entries (or null, or lost). */
function layOut(specs: LineSpec[]) {
  const lines = [HEADER];
  const kept: string[] = [];
  const keptLines: string[] = [];
  const bad: number[] = [];
  for (const spec of specs) {
    if (spec.type === 'entry') {
      const parents = [null, idOf(999_999), ...kept];
      const entry = { ...spec.entry, id: idOf(kept.length), parentId: parents[spec.parent % parents.length] };
      lines.push(JSON.stringify(entry));
      keptLines.push(JSON.stringify(entry));
      kept.push(entry.id);
    } else if (spec.type === 'garbage') {
      lines.push(spec.text);
      bad.push(lines.length);
    } else if (keptLines.length > 0) {
      lines.push(keptLines[spec.of % keptLines.length] as string);
      bad.push(lines.length);
    }
  }
  return { lines, kept, bad };
}

describe('SessionFile.open fuzzing', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'nexus-session-fuzz-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const exists = (file: string) =>
    stat(file).then(
      () => true,
      () => false,
    );

  it('keeps every valid line, reports every bad one by line, repairs a torn tail, and fixes .head', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(lineSpec, { maxLength: 20 }),
        tornSpec,
        headSpec,
        async (specs, torn, head) => {
          const file = path.join(dir, `run-${run++}.jsonl`);
          const { lines, kept, bad } = layOut(specs);
          await writeFile(file, `${lines.join('\n')}\n${torn ?? ''}`);
          if (head.type === 'garbage') await writeFile(`${file}.head`, head.text);
          if (head.type === 'entry' && kept.length > 0)
            await writeFile(
              `${file}.head`,
              JSON.stringify({ id: kept[head.of % kept.length], lines: head.lines }),
            );
          if (head.type === 'unknown')
            await writeFile(`${file}.head`, JSON.stringify({ id: idOf(888_888), lines: head.lines }));
          const before = await readFile(file, 'utf8');
          const whole = before.slice(0, before.lastIndexOf('\n') + 1);

          const problems: SessionProblem[] = [];
          const session = await SessionFile.open(file, { sid: 'global', onProblem: (p) => problems.push(p) });

          expect(session.entries.map((e) => e.id)).toEqual(kept);
          const isTorn = (p: SessionProblem) => p.reason.startsWith('torn final line');
          const tornProblems = problems.filter(isTorn);
          expect(problems.filter((p) => !isTorn(p)).map((p) => p.line)).toEqual(bad);
          for (const p of problems) {
            expect(p.file).toBe(file);
            if (!isTorn(p)) expect(p.reason).toMatch(BAD_LINE_REASON);
          }
          if (torn === null) {
            expect(tornProblems).toEqual([]);
            expect(await exists(`${file}.torn`)).toBe(false);
          } else {
            expect(tornProblems.map((p) => p.line)).toEqual([lines.length + 1]);
            expect(await readFile(`${file}.torn`, 'utf8')).toBe(before);
          }
          expect(await readFile(file, 'utf8')).toBe(whole); // only the torn tail is ever cut
          expect(session.lines).toBe(lines.length);

          if (kept.length === 0) {
            expect(session.head).toBeNull();
            return;
          }
          const written = HeadFile.parse(JSON.parse(await readFile(`${file}.head`, 'utf8')));
          expect(written).toEqual({ id: session.head, lines: lines.length });
          expect(session.has(written.id)).toBe(true);
          const trusted = head.type === 'entry' && head.lines >= lines.length;
          if (trusted) expect(session.head).toBe(kept[head.of % kept.length]);

          // A second open finds nothing new to repair and the same head.
          const again = await SessionFile.open(file, { sid: 'global' });
          expect(again.head).toBe(session.head);
          expect(again.entries.map((e) => e.id)).toEqual(kept);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

// ---- (c) aspect.json ---------------------------------------------------------------------------

const aspectName = fc.stringMatching(/^[a-z]([-a-z0-9]{0,10}[a-z0-9])?$/);
const validConfig: fc.Arbitrary<Json> = fc.record(
  {
    name: aspectName,
    context_mode: fc.constantFrom('global', 'thread', 'stateless'),
    provider: fc.oneof(
      fc.constant({ kind: 'scripted' }),
      fc.record({ kind: fc.constantFrom('claude-api', 'openai-compatible'), model: fc.constant('gpt-4o') }),
      // A model not in the table needs its window (B.19).
      fc.record({
        kind: fc.constantFrom('claude-api', 'openai-compatible'),
        model: fc.constant('model-x'),
        context_window: fc.integer({ min: 1024, max: 10_000_000 }),
      }),
    ),
    compaction: fc.record({ keep_recent_turns: fc.integer({ min: 1, max: 1000 }) }),
    deliberation: fc.record({ max_turns: fc.integer({ min: 1, max: 100 }) }),
    hands: fc.uniqueArray(fc.record({ name: aspectName, description: text }), {
      maxLength: 2,
      selector: (h) => h.name,
    }),
    comms: fc.record({ send_to: fc.array(fc.oneof(aspectName, fc.constant('*')), { maxLength: 3 }) }),
    metadata: fc.dictionary(text, fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
  },
  { requiredKeys: ['name', 'context_mode', 'provider'] },
);

describe('parseAspectConfig fuzzing', () => {
  const FILE = '/home/scout/aspect.json';

  /** Parses, and returns what is wrong with the outcome, or null. */
  function outcomeProblem(value: unknown): string | null {
    try {
      parseAspectConfig(FILE, value);
      return null;
    } catch (err) {
      if (!(err instanceof HomeError)) return `threw ${String(err)}`;
      if (!err.message.startsWith(`${FILE}: `)) return `message does not start with the file: ${err.message}`;
      const result = AspectConfig.safeParse(value);
      if (result.success) return `refused a config the schema accepts: ${err.message}`;
      return fieldProblem(err.message.slice(FILE.length + 2), result.error);
    }
  }

  it('accepts every generated valid config (the generator is honest)', () => {
    fc.assert(
      fc.property(validConfig, (config) => {
        expect(() => parseAspectConfig(FILE, config)).not.toThrow();
      }),
      { numRuns: RUNS },
    );
  });

  it('returns a config or throws HomeError "FILE: field: reason" for any JSON or mutated config', () => {
    const input = fc.oneof(
      anyJson,
      mutatedBody(validConfig).map((b) => b.value),
    );
    fc.assert(
      fc.property(input, (value) => {
        const problem = outcomeProblem(value);
        if (problem) throw new Error(problem.slice(0, 500));
      }),
      { numRuns: RUNS },
    );
  });
});
