import type { SessionEntry } from '../../protocol/index.js';
import { awaitedDispatches } from './awaited.pure.js';

const ts = '2026-11-24T00:00:00.000Z';
const assistant = (id: string, calls: { id: string; name: string }[]): SessionEntry => ({
  id,
  parentId: null,
  kind: 'turn.assistant',
  ts,
  payload: { content: '', tool_calls: calls.map((c) => ({ ...c, input: {} })) },
});
const result = (id: string, callId: string, content: unknown, isError = false): SessionEntry => ({
  id,
  parentId: null,
  kind: 'turn.tool_result',
  ts,
  payload: { tool_call_id: callId, content: JSON.stringify(content), is_error: isError },
});

describe('awaitedDispatches', () => {
  it('holds the invocation message of each dispatch_hand call queued on the branch', () => {
    const branch = [
      assistant('a1', [
        { id: 'c1', name: 'dispatch_hand' },
        { id: 'c2', name: 'send_message' },
        { id: 'c3', name: 'dispatch_hand' },
        { id: 'c4', name: 'dispatch_hand' },
      ]),
      result('r1', 'c1', { state: 'queued', dispatch_id: '7', message_id: '101' }),
      result('r2', 'c2', { id: '102', thread_id: '1' }),
      result('r3', 'c3', { state: 'rejected', result: { status: 'busy' } }),
      result('r4', 'c4', 'unknown_hand: no', true),
    ];
    expect([...awaitedDispatches(branch)]).toEqual(['101']);
  });

  it('ignores tool results that do not answer a dispatch_hand call, and unparseable content', () => {
    const branch = [
      assistant('a1', [{ id: 'c1', name: 'send_message' }]),
      result('r1', 'c1', { state: 'queued', message_id: '5' }),
      assistant('a2', [{ id: 'c2', name: 'dispatch_hand' }]),
      { ...result('r2', 'c2', null), payload: { tool_call_id: 'c2', content: '{not json', is_error: false } },
    ] as SessionEntry[];
    expect(awaitedDispatches(branch).size).toBe(0);
  });
});
