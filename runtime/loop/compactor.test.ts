/**
 * The compactor on a real session file (B.49): when the kept turns alone exceed the budget, the
 * oldest kept tool results are replaced by a marker, the compaction entry records which, and the
 * next replay and the next compaction honour it. Nothing is deleted.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ELIDED_TOOL_RESULT, buildContext } from '../session/context.pure.js';
import { SessionFile } from '../session/session-file.js';
import type { Provider, ProviderRequest, ProviderResult } from '../providers/provider.js';
import { compact, type SummariserDeps } from './compactor.js';

describe('compact with a budget for the kept turns', () => {
  let dir: string;
  let session: SessionFile;
  const requests: ProviderRequest[] = [];
  const deps: SummariserDeps = {
    provider: {} as Provider, // never called directly: `call` stands in for the provider
    model: 'test-model',
    signal: new AbortController().signal,
    call: (_provider, request): Promise<ProviderResult> => {
      requests.push(request);
      return Promise.resolve({
        content: `summary ${requests.length}`,
        toolCalls: [],
        usage: {
          input_tokens: 0,
          output_tokens: 0,
          cache_read_input_tokens: 0,
          cache_creation_input_tokens: 0,
        },
        stopReason: 'end_turn',
        model: 'test-model',
      });
    },
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'nexus-compactor-'));
    session = await SessionFile.open(path.join(dir, 'global.jsonl'), { sid: 'global' });
    requests.length = 0;
  });
  afterEach(async () => {
    await session.close();
    await rm(dir, { recursive: true, force: true });
  });

  /** One turn that reads a file of `size` characters; returns the tool result's entry id. */
  async function readTurn(n: number, size: number): Promise<string> {
    const [, , result] = await session.append([
      { kind: 'turn.user', payload: { content: `read file ${n}`, message_ids: [String(n)] } },
      {
        kind: 'turn.assistant',
        payload: { content: '', tool_calls: [{ id: `call_${n}`, name: 'read', input: { n } }] },
      },
      {
        kind: 'turn.tool_result',
        payload: { tool_call_id: `call_${n}`, content: 'x'.repeat(size), is_error: false },
      },
      { kind: 'turn.assistant', payload: { content: `file ${n} read`, tool_calls: [] } },
    ]);
    return (result as { id: string }).id;
  }

  it('elides the oldest kept tool results, records them, and replays them as the marker', async () => {
    await readTurn(1, 400);
    const second = await readTurn(2, 8000);
    const third = await readTurn(3, 8000);
    const result = await compact(session, 2, 5000, deps, { keptBudgetTokens: 3000 });

    expect(result).toMatchObject({ elidedToolResults: 1, tokensBefore: 5000 });
    const entry = session.get(result?.compactionId as string);
    expect(entry?.payload).toMatchObject({ summary: 'summary 1', elided_tool_results: [second] });
    // The summary call saw only the turn before the kept ones.
    expect(JSON.stringify(requests[0]?.messages)).toContain('read file 1');
    expect(JSON.stringify(requests[0]?.messages)).not.toContain('read file 2');

    const tools = buildContext(session.entries, session.head).messages.filter((m) => m.role === 'tool');
    expect(tools.map((m) => m.content)).toEqual([ELIDED_TOOL_RESULT, 'x'.repeat(8000)]);
    // The elided result is still in the file.
    const onDisk = await readFile(session.file, 'utf8');
    expect(onDisk.split('\n').find((l) => l.includes(`"id":"${second}"`))).toContain('x'.repeat(8000));
    expect(third).toBeDefined();
  });

  it('elides without a summary call when nothing is older than the kept turns, and carries elisions on', async () => {
    const first = await readTurn(1, 8000);
    const only = await compact(session, 6, 3000, deps, { keptBudgetTokens: 1000 });
    expect(requests).toHaveLength(0);
    expect(session.get(only?.compactionId as string)?.payload).toMatchObject({
      summary: '',
      model: 'test-model',
      elided_tool_results: [first],
    });
    expect(buildContext(session.entries, session.head).messages[0]).toEqual({
      role: 'user',
      content: 'read file 1',
    });

    // A later compaction that keeps turn 1 keeps it elided, even without a budget.
    const second = await readTurn(2, 40);
    await readTurn(3, 40);
    const later = await compact(session, 3, 3000, deps);
    expect(later).toBeNull(); // nothing older than three turns, nothing new to elide
    const again = await compact(session, 2, 3000, deps);
    expect(session.get(again?.compactionId as string)?.payload).toMatchObject({ summary: 'summary 1' });
    expect(session.get(again?.compactionId as string)?.payload).not.toHaveProperty('elided_tool_results');
    // Turn 1 went into the summary; the transcript carried the marker, not the elided text.
    expect(JSON.stringify(requests[0]?.messages)).toContain(ELIDED_TOOL_RESULT);
    expect(JSON.stringify(requests[0]?.messages)).not.toContain('x'.repeat(8000));
    expect(second).toBeDefined();
  });
});
