import type { Message } from '../../protocol/index.js';
import { Inbox } from './inbox.js';

const msg = (id: string, thread: string): Message => ({
  id,
  thread_id: thread,
  from: 'peer',
  to: ['me'],
  kind: 'chat',
  content: `m${id}`,
  created_at: '2026-01-01T00:00:00.000Z',
});

describe('Inbox', () => {
  it('batches the oldest message with the rest of its thread', () => {
    const inbox = new Inbox('0');
    for (const m of [msg('1', 'a'), msg('2', 'b'), msg('3', 'a')]) inbox.push(m);
    expect(inbox.takeNextBatch().map((m) => m.id)).toEqual(['1', '3']);
    expect(inbox.takeNextBatch().map((m) => m.id)).toEqual(['2']);
    expect(inbox.takeNextBatch()).toEqual([]);
  });

  it('never acknowledges past a message of another thread that is still unfinished', () => {
    const inbox = new Inbox('0');
    for (const m of [msg('1', 'a'), msg('2', 'b'), msg('3', 'a')]) inbox.push(m);
    inbox.takeNextBatch();
    expect(inbox.finish(['1', '3'])).toBe('1');
    inbox.takeNextBatch();
    expect(inbox.finish(['2'])).toBe('3');
  });

  it('ignores what was already acknowledged or is already waiting', () => {
    const inbox = new Inbox('5');
    inbox.push(msg('4', 'a'));
    inbox.push(msg('6', 'a'));
    inbox.push(msg('6', 'a'));
    expect(inbox.depth).toBe(1);
  });

  it('skips held threads, and takes a requeued batch again without acknowledging it meanwhile', () => {
    const inbox = new Inbox('0');
    for (const m of [msg('1', 'a'), msg('2', 'b')]) inbox.push(m);
    const held = (thread: string) => thread === 'a';
    const first = inbox.takeNextBatch();
    expect(first.map((m) => m.id)).toEqual(['1']);
    inbox.requeue(first); // its turn could not begin
    expect(inbox.hasReady(held)).toBe(true);
    expect(inbox.takeNextBatch(held).map((m) => m.id)).toEqual(['2']);
    expect(inbox.finish(['2'])).toBeNull(); // 1 is still unfinished: the ack stays below it
    expect(inbox.hasReady(held)).toBe(false);
    inbox.push(msg('3', 'a'));
    expect(inbox.takeNextBatch().map((m) => m.id)).toEqual(['1', '3']);
    expect(inbox.finish(['1', '3'])).toBe('3');
  });
});
