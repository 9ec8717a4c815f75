/**
 * Golden session files (QUALITY fault 11): hand-written files in golden/, each opened by the current
 * code and replayed, must give exactly the context recorded beside it in <case>.expected.json.
 * An expected file is never regenerated from the code: a difference is a change of behaviour.
 */
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildContext } from './context.pure.js';
import { SessionFile, type SessionProblem } from './session-file.js';

const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden');

/** The problems each case must report, as "line: reason" (the file is the temp copy). */
const CASES: Record<string, string[]> = {
  compaction: [],
  rewind: [],
  fork: [],
  'branch-summary': [],
  'elided-tool-results': [],
  'torn-line': ['7: torn final line copied to torn-line.jsonl.torn and truncated'],
  'corrupt-middle': [
    '5: not valid JSON; skipped',
    '7: payload.content: Invalid input: expected string, received number; skipped',
  ],
};

describe('golden session files', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'nexus-golden-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Opens a temp copy of golden/<name>.jsonl (open may repair it) and replays it. */
  async function openCopy(name: string) {
    const file = path.join(dir, `${name}.jsonl`);
    await copyFile(path.join(GOLDEN, `${name}.jsonl`), file);
    const problems: SessionProblem[] = [];
    const session = await SessionFile.open(file, { sid: 'unused', onProblem: (p) => problems.push(p) });
    const { system, messages } = buildContext(session.entries, session.head);
    return { file, session, problems, context: { system, messages } };
  }

  it.each(Object.entries(CASES))('%s replays to exactly the recorded context', async (name, problems) => {
    const expected: unknown = JSON.parse(await readFile(path.join(GOLDEN, `${name}.expected.json`), 'utf8'));
    const opened = await openCopy(name);
    expect(opened.context).toStrictEqual(expected);
    expect(opened.problems.map((p) => `${p.file}:${p.line}: ${p.reason}`)).toEqual(
      problems.map((p) => `${opened.file}:${p}`),
    );
    // No .head was given, so the head is the last valid entry, and open wrote it down.
    expect(opened.session.head).toBe(opened.session.entries.at(-1)?.id);
    expect(JSON.parse(await readFile(`${opened.file}.head`, 'utf8'))).toEqual({
      id: opened.session.head,
      lines: opened.session.lines,
    });
  });

  it('fork keeps the header naming its origin, and the copied ancestry', async () => {
    const { session } = await openCopy('fork');
    expect(session.header).toEqual({
      nexus_session: 1,
      sid: '9',
      created_at: '2026-01-07T08:00:00.000Z',
      forked_from: { sid: '7', entry_id: '01JS0VRCE00000000000000005' },
    });
    expect(session.has('01JS0VRCE00000000000000005')).toBe(false); // the replaced message
    expect(session.descendsFrom(session.head as string, '01JS0VRCE00000000000000001')).toBe(true);
  });

  it('rewind keeps the abandoned branch in the file, off the replayed branch', async () => {
    const { session } = await openCopy('rewind');
    expect(session.entries).toHaveLength(14);
    expect(session.descendsFrom(session.head as string, '01JREW1ND00000000000000005')).toBe(false);
  });

  it('torn-line copies the torn file to FILE.torn, truncates it, and reopens cleanly', async () => {
    const original = await readFile(path.join(GOLDEN, 'torn-line.jsonl'), 'utf8');
    const first = await openCopy('torn-line');
    expect(await readFile(`${first.file}.torn`, 'utf8')).toBe(original);
    expect(await readFile(first.file, 'utf8')).toBe(original.slice(0, original.lastIndexOf('\n') + 1));

    const problems: SessionProblem[] = [];
    const again = await SessionFile.open(first.file, { sid: 'unused', onProblem: (p) => problems.push(p) });
    expect(problems).toEqual([]);
    const { system, messages } = buildContext(again.entries, again.head);
    expect({ system, messages }).toStrictEqual(first.context);
  });

  it('corrupt-middle keeps every line after the bad ones and leaves the file as it was', async () => {
    const original = await readFile(path.join(GOLDEN, 'corrupt-middle.jsonl'), 'utf8');
    const { file, session } = await openCopy('corrupt-middle');
    expect(session.entries.map((e) => e.id.slice(-1))).toEqual(['1', '2', '3', '5', '7', '8']);
    expect(await readFile(file, 'utf8')).toBe(original);
  });
});
