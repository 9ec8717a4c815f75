import type { Message } from '../../protocol/index.js';
import { triage } from './triage.pure.js';

const base: Message = {
  id: '10',
  thread_id: '1',
  from: 'peer',
  to: ['me'],
  kind: 'chat',
  content: 'x',
  created_at: '2026-01-01T00:00:00.000Z',
};
const input = {
  self: 'me',
  lastProcessedId: 5n,
  alreadyInSession: new Set(['12']),
  awaitedDispatches: new Set(['7']),
};

describe('triage', () => {
  it.each<[string, Partial<Message>, ReturnType<typeof triage>]>([
    ['a peer chat', {}, { take: true }],
    ['its own chat', { from: 'me' }, { take: false, reason: 'own' }],
    ['an id already processed', { id: '5' }, { take: false, reason: 'duplicate' }],
    ['an id already in the session', { id: '12' }, { take: false, reason: 'duplicate' }],
    ['a hand invocation record', { kind: 'hand' }, { take: false, reason: 'hand_record' }],
    ['a message past the thread turn limit', { turn_limit: true }, { take: false, reason: 'turn_limit' }],
    [
      "the broker's turn-limit note",
      { from: 'nexus', kind: 'system', turn_limit: true },
      { take: false, reason: 'turn_limit' },
    ],
    ['a system message', { from: 'nexus', kind: 'system' }, { take: true }],
    ['a result it awaits', { kind: 'hand_result', reply_to: '7' }, { take: true }],
    [
      'a result it no longer awaits',
      { kind: 'hand_result', reply_to: '8' },
      { take: false, reason: 'unawaited_result' },
    ],
    [
      'its own hand result (self-dispatch)',
      { kind: 'hand_result', from: 'me', reply_to: '7' },
      { take: true },
    ],
  ])('%s', (_name, change, verdict) => {
    expect(triage({ ...base, ...change }, input)).toEqual(verdict);
  });
});
