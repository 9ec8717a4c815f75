import { mkdir, mkdtemp, readFile, writeFile, appendFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SessionFile, type SessionProblem } from './session-file.js';
import { nodeSessionFs, type SessionFs } from './session-fs.js';

describe('SessionFile', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'nexus-session-'));
    file = path.join(dir, 'session', 'global.jsonl');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const user = (content: string) => ({ kind: 'turn.user' as const, payload: { content, message_ids: [] } });
  const reopen = (problems: SessionProblem[] = []) =>
    SessionFile.open(file, { sid: 'global', onProblem: (p) => problems.push(p) });

  it('creates a file with a versioned header and appends a chain under the head', async () => {
    const session = await reopen();
    const [a, b] = await session.append([user('one'), user('two')]);
    const lines = (await readFile(file, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ nexus_session: 1, sid: 'global' });
    expect(lines.slice(1).map((e) => [e.id, e.parentId])).toEqual([
      [a?.id, null],
      [b?.id, a?.id],
    ]);
    expect(JSON.parse(await readFile(`${file}.head`, 'utf8'))).toEqual({ id: b?.id, lines: 3 });
  });

  it('reopens to the same entries and head', async () => {
    const session = await reopen();
    await session.append([user('one'), user('two')]);
    const again = await reopen();
    expect(again.entries.map((e) => e.id)).toEqual(session.entries.map((e) => e.id));
    expect(again.head).toBe(session.head);
  });

  it('copies a torn final line to FILE.torn, truncates it and reports it', async () => {
    const session = await reopen();
    await session.append([user('kept')]);
    await appendFile(file, '{"id":"01ARZ3NDEKTSV4RRF');
    const problems: SessionProblem[] = [];
    const again = await reopen(problems);
    expect(again.entries).toHaveLength(1);
    expect(problems).toEqual([
      expect.objectContaining({ file, line: 3, reason: expect.stringContaining('torn') }),
    ]);
    expect(await readFile(`${file}.torn`, 'utf8')).toContain('01ARZ3NDEKTSV4RRF');
    expect((await readFile(file, 'utf8')).endsWith('}\n')).toBe(true);
  });

  it('skips a bad middle line with file and line, and keeps everything after it', async () => {
    const session = await reopen();
    await session.append([user('before')]);
    await appendFile(file, 'this is not json\n');
    const after = await session.append([user('after')]);
    const problems: SessionProblem[] = [];
    const again = await reopen(problems);
    expect(again.entries.map((e) => e.kind === 'turn.user' && e.payload.content)).toEqual([
      'before',
      'after',
    ]);
    expect(again.head).toBe(after[0]?.id);
    expect(problems).toEqual([{ file, line: 3, reason: 'not valid JSON; skipped' }]);
  });

  it('repairs a .head that is older than the file to the newest entry descending from it', async () => {
    const session = await reopen();
    await session.append([user('one')]);
    const stale = await readFile(`${file}.head`, 'utf8');
    const [, newest] = await session.append([user('two'), user('three')]);
    await writeFile(`${file}.head`, stale); // a crash before the .head rename
    const again = await reopen();
    expect(again.head).toBe(newest?.id);
  });

  it('falls back to the last valid entry when .head is missing or names no entry', async () => {
    const session = await reopen();
    const [, last] = await session.append([user('one'), user('two')]);
    await writeFile(`${file}.head`, '{"id":"01ARZ3NDEKTSV4RRFFQ69G5FAV","lines":3}');
    expect((await reopen()).head).toBe(last?.id);
    await rm(`${file}.head`);
    expect((await reopen()).head).toBe(last?.id);
  });

  it('moves the head back without deleting anything', async () => {
    const session = await reopen();
    const [first] = await session.append([user('one'), user('two')]);
    await session.moveHead(first?.id as string);
    const again = await reopen();
    expect(again.head).toBe(first?.id);
    expect(again.entries).toHaveLength(2);
  });

  it('fsyncs the appended lines before it writes .head, and never fsyncs .head on an append', async () => {
    const calls: string[] = [];
    const recording: SessionFs = {
      ...nodeSessionFs,
      openWriter: (f) => {
        const real = nodeSessionFs.openWriter(f);
        return {
          append: async (t) => {
            calls.push(`append ${path.basename(f)}`);
            await real.append(t);
          },
          writeHead: async (t, durable) => {
            calls.push(`writeHead ${path.basename(f)}.head durable=${durable}`);
            await real.writeHead(t, durable);
          },
          close: () => real.close(),
        };
      },
    };
    const session = await SessionFile.open(file, { sid: 'global', fs: recording });
    const [first] = await session.append([user('one')]);
    await session.moveHead(first?.id as string);
    await session.close();
    expect(calls).toEqual([
      'append global.jsonl',
      'writeHead global.jsonl.head durable=false',
      'writeHead global.jsonl.head durable=true',
    ]);
  });

  it('rewrites .head in place, padding a shorter text so the file stays valid JSON', async () => {
    await mkdir(path.dirname(file), { recursive: true });
    const writer = nodeSessionFs.openWriter(file);
    await writer.writeHead('{"id":"a-long-head-text","lines":12345}', false);
    await writer.writeHead('{"id":"short","lines":2}', false);
    await writer.close();
    expect(JSON.parse(await readFile(`${file}.head`, 'utf8'))).toEqual({ id: 'short', lines: 2 });
  });

  it('keeps writing .head in place after a rewind replaced it by rename', async () => {
    const session = await reopen();
    const [first] = await session.append([user('one')]);
    await session.moveHead(first?.id as string);
    const [second] = await session.append([user('two')], first?.id as string);
    expect(JSON.parse(await readFile(`${file}.head`, 'utf8'))).toEqual({ id: second?.id, lines: 3 });
    await session.close();
    expect((await reopen()).head).toBe(second?.id);
  });

  it('refuses a header of a newer format version, naming the file and line, and leaves the file alone', async () => {
    await reopen();
    const newer = '{"nexus_session":99,"sid":"x","created_at":"2026-01-01T00:00:00Z"}\n';
    await writeFile(file, newer);
    await expect(reopen()).rejects.toThrow(
      `${file}:1: written in session format 99; this runtime reads format 1`,
    );
    expect(await readFile(file, 'utf8')).toBe(newer);
  });

  it('rebuilds a corrupt header from the session id and the first entry, keeping the bad line (B.82)', async () => {
    const session = await reopen();
    const [first, second] = await session.append([user('one'), user('two')]);
    const lines = (await readFile(file, 'utf8')).split('\n');
    await writeFile(file, ['{"nexus_sess', ...lines.slice(1)].join('\n'));
    const problems: SessionProblem[] = [];
    const again = await reopen(problems);
    expect(again.header).toEqual({ nexus_session: 1, sid: 'global', created_at: first?.ts });
    expect(again.entries.map((e) => e.id)).toEqual([first?.id, second?.id]);
    expect(again.head).toBe(second?.id);
    expect(await readFile(`${file}.bad-header`, 'utf8')).toBe('{"nexus_sess\n');
    expect(problems).toEqual([
      {
        file,
        line: 1,
        reason: expect.stringContaining('the bad line is kept in global.jsonl.bad-header'),
        kept_as: `${file}.bad-header`,
      },
    ]);
    // Repaired on disk: the next open finds nothing to report.
    const quiet: SessionProblem[] = [];
    expect((await reopen(quiet)).entries).toHaveLength(2);
    expect(quiet).toEqual([]);
  });

  it('inserts a missing header before a first line that is an entry, losing nothing', async () => {
    const session = await reopen();
    const [first] = await session.append([user('one')]);
    const lines = (await readFile(file, 'utf8')).split('\n');
    await writeFile(file, lines.slice(1).join('\n'));
    const problems: SessionProblem[] = [];
    const again = await reopen(problems);
    expect(again.entries.map((e) => e.id)).toEqual([first?.id]);
    expect(again.header.created_at).toBe(first?.ts);
    expect(problems).toEqual([
      expect.objectContaining({ line: 1, reason: expect.stringContaining('inserted') }),
    ]);
    const onDisk = (await readFile(file, 'utf8')).trim().split('\n');
    expect(onDisk).toHaveLength(2);
    expect(JSON.parse(onDisk[0] as string)).toMatchObject({ nexus_session: 1, sid: 'global' });
  });

  it('starts afresh when the only line, the header, was torn', async () => {
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, '{"nexus_session":1,"si');
    const again = await reopen();
    expect(again.entries).toEqual([]);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ nexus_session: 1, sid: 'global' });
  });
});
