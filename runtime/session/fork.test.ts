/**
 * Writing a fork (B.13, B.20): the file, its header and `.head`, the fsync order, and agreement with
 * the hand-written golden/fork.jsonl, which records a seeded thread fork of thread 7 into thread 9.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { forkAncestry } from './fork.pure.js';
import { SessionFile } from './session-file.js';
import { nodeSessionFs, type SessionFs } from './session-fs.js';
import { buildContext } from './context.pure.js';
import type { SessionEntry } from '../../protocol/index.js';

const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'golden', 'fork.jsonl');
const REPLACED = '01JS0VRCE00000000000000005';

describe('SessionFile.createFork', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'nexus-fork-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const lines = async (file: string) =>
    (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);

  /** Thread 7 as golden/fork.jsonl was forked from it: the copied ancestry, then the replaced message. */
  async function sourceOfGolden(): Promise<SessionFile> {
    const golden = (await readFile(GOLDEN, 'utf8')).split('\n');
    const replaced = {
      id: REPLACED,
      parentId: '01JS0VRCE00000000000000004',
      kind: 'turn.user',
      ts: '2026-01-06T09:00:04.000Z',
      payload: { content: '[alice] Make it a long weekend.', message_ids: ['202'], thread_id: '7' },
    };
    const file = path.join(dir, 'session', 'threads', '7.jsonl');
    await nodeSessionFs.mkdirp(path.dirname(file));
    const header = { nexus_session: 1, sid: '7', created_at: '2026-01-06T09:00:00.000Z' };
    const text = [JSON.stringify(header), ...golden.slice(1, 5), JSON.stringify(replaced)].join('\n');
    await writeFile(file, `${text}\n`);
    return SessionFile.open(file, { sid: '7' });
  }

  it('writes what golden/fork.jsonl records: the header naming its origin and the ancestry, ids kept', async () => {
    const source = await sourceOfGolden();
    const file = path.join(dir, 'session', 'threads', '9.jsonl');
    const fork = await SessionFile.createFork(file, {
      sid: '9',
      forkedFrom: { sid: '7', entry_id: REPLACED },
      entries: forkAncestry(source.entries, source.get(REPLACED) as SessionEntry, true),
      now: () => new Date('2026-01-07T08:00:00.000Z'),
    });
    const golden = (await readFile(GOLDEN, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    // The golden file goes on with the seed's turn; what the fork itself writes is its first 5 lines.
    expect(await lines(file)).toEqual(golden.slice(0, 5));
    expect(fork.head).toBe('01JS0VRCE00000000000000004');
    expect(JSON.parse(await readFile(`${file}.head`, 'utf8'))).toEqual({ id: fork.head, lines: 5 });

    // The source keeps every entry, the replaced message too.
    const again = await SessionFile.open(source.file, { sid: '7' });
    expect(again.has(REPLACED)).toBe(true);
    expect(again.entries).toHaveLength(5);
  });

  it('reopens to the same entries, head and replay, and appends under the copied head', async () => {
    const source = await sourceOfGolden();
    const file = path.join(dir, 'session', 'forks', 'X1.jsonl');
    const fork = await SessionFile.createFork(file, {
      sid: 'fork-X1',
      forkedFrom: { sid: '7', entry_id: REPLACED },
      entries: forkAncestry(source.entries, source.get(REPLACED) as SessionEntry, false),
    });
    const reopened = await SessionFile.open(file, { sid: 'fork-X1' });
    expect(reopened.header.forked_from).toEqual({ sid: '7', entry_id: REPLACED });
    expect(reopened.entries).toEqual(fork.entries);
    expect(buildContext(reopened.entries, reopened.head)).toEqual(buildContext(source.entries, REPLACED));
    const [next] = await reopened.append([
      { kind: 'turn.assistant', payload: { content: 'a long weekend, then', tool_calls: [] } },
    ]);
    expect(next?.parentId).toBe(REPLACED);
  });

  it('writes the file in one durable replace before its .head, and refuses to overwrite', async () => {
    const calls: string[] = [];
    const recording: SessionFs = {
      ...nodeSessionFs,
      replace: async (f, t, durable) => {
        calls.push(`replace ${path.basename(f)} durable=${durable}`);
        await nodeSessionFs.replace(f, t, durable);
      },
    };
    const source = await sourceOfGolden();
    const file = path.join(dir, 'session', 'threads', '9.jsonl');
    const options = {
      sid: '9',
      forkedFrom: { sid: '7', entry_id: REPLACED },
      entries: source.entries,
      fs: recording,
    };
    await SessionFile.createFork(file, options);
    // The whole file lands at once, before anything else is written.
    expect(calls[0]).toBe('replace 9.jsonl durable=true');
    expect(JSON.parse(await readFile(`${file}.head`, 'utf8'))).toEqual({
      id: source.entries.at(-1)?.id,
      lines: source.entries.length + 1,
    });
    const before = await readFile(file, 'utf8');
    await expect(SessionFile.createFork(file, options)).rejects.toThrow(`${file} already exists`);
    expect(await readFile(file, 'utf8')).toBe(before);
  });
});
