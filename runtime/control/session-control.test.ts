/**
 * Fork and activate applied to session files in a temporary home (B.12, B.20, B.48, B.50): what
 * each writes, that a refused request changes no file, and that a request is applied at most once.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildContext } from '../session/context.pure.js';
import { SessionFile } from '../session/session-file.js';
import { Sessions, type ContextMode } from '../session/sessions.js';
import { createScriptedProvider } from '../providers/scripted.js';
import { invoke } from '../providers/provider.js';
import { applyControl, type SessionControlDeps } from './session-control.js';

const MISSING = '01ARZ3NDEKTSV4RRFFQ69G5FAV';

describe('session control: fork and activate', () => {
  let home: string;
  beforeEach(async () => {
    home = await mkdtemp(path.join(tmpdir(), 'nexus-control-'));
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  function depsFor(mode: ContextMode): SessionControlDeps {
    return {
      home,
      sessions: new Sessions(home, mode, () => undefined),
      contextMode: mode,
      window: 200_000,
      reserveTokens: 40_000,
      keepRecentTurns: 1,
      tokensOf: () => 0,
      summariser: {
        provider: createScriptedProvider({ script: null }),
        model: 'scripted',
        call: invoke,
        signal: new AbortController().signal,
      },
    };
  }

  /** A session with two turns: system, user, assistant, turn_end, user, assistant (with a tool call). */
  async function twoTurns(session: SessionFile) {
    const [system, u1, a1, end1, u2, a2] = await session.append([
      { kind: 'system.prompt', payload: { text: 'You are scout.' } },
      { kind: 'turn.user', payload: { content: 'plan Rome', message_ids: ['1'], thread_id: '7' } },
      { kind: 'turn.assistant', payload: { content: 'three days', tool_calls: [] } },
      { kind: 'custom.turn_end', payload: { reason: 'done', message_ids: ['1'] } },
      { kind: 'turn.user', payload: { content: 'make it a week', message_ids: ['2'], thread_id: '7' } },
      {
        kind: 'turn.assistant',
        payload: { content: '', tool_calls: [{ id: 'call_1', name: 'send_message', input: {} }] },
      },
    ]);
    return { system, u1, a1, end1, u2, a2 } as Record<string, { id: string }>;
  }

  /** Every file under session/ with its text, to show a refused request changed nothing. */
  async function snapshot(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) await walk(full);
        else out[path.relative(home, full)] = await readFile(full, 'utf8');
      }
    };
    await walk(path.join(home, 'session'));
    return out;
  }

  describe('a rewind or forced compaction whose summary call fails (B.50)', () => {
    it('writes nothing, and answers with the error', async () => {
      const deps = depsFor('global');
      const session = await deps.sessions.forThread('7');
      const { a1 } = await twoTurns(session);
      const before = await snapshot();
      const failing: SessionControlDeps = {
        ...deps,
        summariser: { ...deps.summariser, call: () => Promise.reject(new Error('provider down')) },
      };
      const rewound = await applyControl(
        'r1',
        'rewind',
        { target_entry_id: a1?.id, emit_branch_summary: true },
        failing,
      );
      expect(rewound).toMatchObject({
        ok: false,
        error: { message: expect.stringContaining('provider down') },
      });
      expect(await snapshot()).toEqual(before);
      const compacted = await applyControl('r2', 'compact', {}, failing);
      expect(compacted).toMatchObject({ ok: false });
      expect(await snapshot()).toEqual(before);
      // Nothing to compact is refused without a trace too.
      const one = depsFor('thread');
      await (
        await one.sessions.forThread('9')
      ).append([{ kind: 'turn.user', payload: { content: 'only one', message_ids: ['3'], thread_id: '9' } }]);
      const alone = await snapshot();
      expect(await applyControl('r3', 'compact', { thread_id: '9' }, one)).toMatchObject({ ok: false });
      expect(await snapshot()).toEqual(alone);
    });
  });

  describe('tree pages', () => {
    it('stop short of the frame limit however wide the previews are, and page on with after (B.48)', async () => {
      const deps = depsFor('global');
      const session = await deps.sessions.forThread('7');
      const wide = 'é'.repeat(300); // two bytes each in UTF-8, 200 kept in the preview
      await session.append(
        Array.from({ length: 2000 }, (_, i) => ({
          kind: 'turn.user' as const,
          payload: { content: `${i} ${wide}`, message_ids: [String(i + 1)], thread_id: '7' },
        })),
      );
      const first = await applyControl('t1', 'tree', { sid: 'global', limit: 2000 }, deps);
      const page = (first as { ok: true; result: { entries: { id: string }[] } }).result.entries;
      expect(page.length).toBeGreaterThan(0);
      expect(page.length).toBeLessThan(2000);
      expect(Buffer.byteLength(JSON.stringify(first))).toBeLessThan(600 * 1024);
      const rest = await applyControl(
        't2',
        'tree',
        { sid: 'global', limit: 2000, after: page.at(-1)?.id },
        deps,
      );
      const next = (rest as { ok: true; result: { entries: { id: string }[] } }).result.entries;
      expect(next[0]?.id).not.toBe(page.at(-1)?.id);
      expect(page.length + next.length).toBeLessThanOrEqual(2000);
    });
  });

  describe('in thread mode', () => {
    it('copies the ancestry into the reserved thread, closes unanswered tool calls there, and keeps the source', async () => {
      const deps = depsFor('thread');
      const source = await deps.sessions.forThread('7');
      const e = await twoTurns(source);
      const outcome = await applyControl(
        '11',
        'fork',
        { thread_id: '7', source_entry_id: e.a2?.id, new_thread_id: '9' },
        deps,
      );
      expect(outcome).toEqual({ ok: true, result: { thread_id: '9', head: expect.any(String) } });

      const fork = await SessionFile.open(path.join(home, 'session', 'threads', '9.jsonl'), { sid: '9' });
      expect(fork.header.forked_from).toEqual({ sid: '7', entry_id: e.a2?.id });
      expect(fork.entries.slice(0, 6).map((x) => x.id)).toEqual(Object.values(e).map((x) => x.id));
      const closure = fork.entries[6];
      expect(closure).toMatchObject({
        kind: 'turn.tool_result',
        parentId: e.a2?.id,
        payload: { tool_call_id: 'call_1', content: 'abandoned by fork', is_error: true },
      });
      expect(outcome.ok && (outcome.result as { head: string }).head).toBe(closure?.id);
      expect(buildContext(fork.entries, fork.head).messages.map((m) => m.content)).toEqual([
        'plan Rome',
        'three days',
        'make it a week',
        '',
        'abandoned by fork',
      ]);

      // The source keeps every entry; only the record of the request was added to it.
      const again = await SessionFile.open(source.file, { sid: '7' });
      expect(again.entries.map((x) => x.kind)).toEqual([
        ...source.entries.slice(0, 6).map((x) => x.kind),
        'custom.control',
      ]);
      expect(again.entries.at(-1)?.payload).toEqual({ request_id: '11', action: 'fork' });
    });

    it('with a seed, stops the copy at the parent of the replaced turn.user', async () => {
      const deps = depsFor('thread');
      const e = await twoTurns(await deps.sessions.forThread('7'));
      const outcome = await applyControl(
        '12',
        'fork',
        {
          thread_id: '7',
          source_entry_id: e.u2?.id,
          seed_user_message: 'make it a month',
          new_thread_id: '9',
        },
        deps,
      );
      expect(outcome).toEqual({ ok: true, result: { thread_id: '9', head: e.end1?.id } });
      const fork = await SessionFile.open(path.join(home, 'session', 'threads', '9.jsonl'), { sid: '9' });
      expect(fork.has(e.u2?.id as string)).toBe(false);
      expect(fork.header.forked_from).toEqual({ sid: '7', entry_id: e.u2?.id });
    });

    it('refuses bad requests with the code the broker answers, and changes no file', async () => {
      const deps = depsFor('thread');
      const e = await twoTurns(await deps.sessions.forThread('7'));
      const before = await snapshot();
      const cases: [unknown, string, string][] = [
        [{ thread_id: '7', source_entry_id: MISSING, new_thread_id: '9' }, 'not_found', 'source_entry_id'],
        [
          { thread_id: '7', source_entry_id: e.a1?.id, seed_user_message: 'x', new_thread_id: '9' },
          'invalid_request',
          'seed_user_message: needs a turn.user source entry',
        ],
        [{ thread_id: '8', source_entry_id: e.a1?.id, new_thread_id: '9' }, 'not_found', 'session 8'],
        [{ source_entry_id: e.a1?.id, new_thread_id: '9' }, 'invalid_request', 'thread_id: is required'],
        [{ thread_id: '7', source_entry_id: e.a1?.id }, 'invalid_request', 'new_thread_id: is required'],
        [{ thread_id: '7', source_entry_id: e.a1?.id, new_thread_id: '7' }, 'conflict', 'already exists'],
        [
          { thread_id: '7', source_entry_id: 'nope', new_thread_id: '9' },
          'invalid_request',
          'source_entry_id',
        ],
      ];
      for (const [params, code, text] of cases) {
        const outcome = await applyControl('13', 'fork', params, deps);
        expect(outcome).toEqual({ ok: false, error: { code, message: expect.stringContaining(text) } });
      }
      expect(await applyControl('14', 'activate', { sid: 'global' }, deps)).toMatchObject({
        ok: false,
        error: { code: 'conflict' },
      });
      expect(await snapshot()).toEqual(before);
    });

    it('applies a request id at most once', async () => {
      const deps = depsFor('thread');
      const e = await twoTurns(await deps.sessions.forThread('7'));
      const params = { thread_id: '7', source_entry_id: e.a1?.id, new_thread_id: '9' };
      expect(await applyControl('15', 'fork', params, deps)).toMatchObject({ ok: true });
      expect(await applyControl('15', 'fork', { ...params, new_thread_id: '10' }, deps)).toEqual({
        ok: false,
        error: { code: 'conflict', message: 'control request 15 was already applied' },
      });
      expect(
        (await readdir(path.join(home, 'session', 'threads'))).filter((f) => f.endsWith('.jsonl')),
      ).toEqual(['7.jsonl', '9.jsonl']);
    });
  });

  describe('in global mode', () => {
    it('makes the fork the active session, takes the next turn there, and activates global again', async () => {
      const deps = depsFor('global');
      const global = await deps.sessions.forThread('7');
      const e = await twoTurns(global);
      const forked = await applyControl('21', 'fork', { source_entry_id: e.end1?.id }, deps);
      expect(forked).toEqual({
        ok: true,
        result: { session: expect.stringMatching(/^fork-[0-9A-Z]{26}$/), head: e.end1?.id },
      });
      const sid = (forked.ok && (forked.result as { session: string }).session) as string;
      expect(await readFile(path.join(home, 'session', 'active'), 'utf8')).toBe(`${sid}\n`);
      const forkFile = path.join(home, 'session', 'forks', `${sid.slice('fork-'.length)}.jsonl`);
      expect((await deps.sessions.forThread('7')).file).toBe(forkFile);
      // A restarted runtime reads the active session from the file.
      expect((await depsFor('global').sessions.forThread('7')).file).toBe(forkFile);

      const listed = await applyControl('22', 'list_sessions', {}, deps);
      expect(
        listed.ok && (listed.result as { sessions: { sid: string; active?: boolean }[] }).sessions,
      ).toEqual([expect.objectContaining({ sid: 'global' }), expect.objectContaining({ sid, active: true })]);
      const tree = await applyControl('23', 'tree', { sid }, deps);
      expect(tree).toMatchObject({ ok: true, result: { sid, head: e.end1?.id } });

      const back = await applyControl('24', 'activate', { sid: 'global' }, deps);
      expect(back).toMatchObject({ ok: true, result: { session: 'global' } });
      expect((await deps.sessions.forThread('7')).file).toBe(global.file);
      expect(await readFile(path.join(home, 'session', 'active'), 'utf8')).toBe('global\n');
      // Nothing was deleted from the original session.
      const reopened = await SessionFile.open(global.file, { sid: 'global' });
      for (const entry of Object.values(e)) expect(reopened.has(entry.id)).toBe(true);
    });

    it('forks from the active fork, naming it as the origin', async () => {
      const deps = depsFor('global');
      const e = await twoTurns(await deps.sessions.forThread('7'));
      const first = await applyControl('31', 'fork', { source_entry_id: e.a2?.id }, deps);
      const firstSid = (first.ok && (first.result as { session: string }).session) as string;
      const second = await applyControl('32', 'fork', { source_entry_id: e.u1?.id }, deps);
      const secondSid = (second.ok && (second.result as { session: string }).session) as string;
      const fork = await deps.sessions.forThread('7');
      expect(fork.header).toMatchObject({
        sid: secondSid,
        forked_from: { sid: firstSid, entry_id: e.u1?.id },
      });
    });

    it('refuses to activate a thread id or an unknown fork, and changes nothing', async () => {
      const deps = depsFor('global');
      await twoTurns(await deps.sessions.forThread('7'));
      const before = await snapshot();
      expect(await applyControl('41', 'activate', { sid: '7' }, deps)).toMatchObject({
        ok: false,
        error: { code: 'invalid_request' },
      });
      expect(await applyControl('42', 'activate', { sid: 'fork-NOPE' }, deps)).toMatchObject({
        ok: false,
        error: { code: 'not_found' },
      });
      expect(await applyControl('43', 'activate', { sid: 'elsewhere' }, deps)).toMatchObject({
        ok: false,
        error: { code: 'invalid_request' },
      });
      expect(await snapshot()).toEqual(before);
    });
  });
});
