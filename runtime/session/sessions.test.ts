import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildContext } from './context.pure.js';
import { Sessions } from './sessions.js';

describe('Sessions.reap', () => {
  let home: string;
  beforeEach(async () => {
    home = await mkdtemp(path.join(tmpdir(), 'nexus-sessions-'));
  });
  afterEach(async () => {
    await rm(home, { recursive: true, force: true });
  });

  const user = (content: string) => ({ kind: 'turn.user' as const, payload: { content, message_ids: [] } });

  it('closes and forgets thread sessions idle past the limit, and the next use reopens one by replay', async () => {
    const sessions = new Sessions(home, 'thread', () => undefined);
    const first = await sessions.forThread('7');
    await first.append([user('the project is called Heron')]);
    await sessions.forThread('8');

    const later = Date.now() + 60_000;
    expect(await sessions.reap(30_000, later)).toEqual(['7', '8']);
    expect(sessions.all()).toEqual([]);

    const reopened = await sessions.forThread('7');
    expect(reopened).not.toBe(first);
    expect(buildContext(reopened.entries, reopened.head).messages).toEqual([
      { role: 'user', content: 'the project is called Heron' },
    ]);
    // The reopened session appends under the replayed head.
    const [next] = await reopened.append([user('and the deadline is Friday')]);
    expect(next?.parentId).toBe(first.head);
    await sessions.closeAll();
  });

  it('keeps a thread session used within the limit', async () => {
    const sessions = new Sessions(home, 'thread', () => undefined);
    await sessions.forThread('7');
    expect(await sessions.reap(30_000, Date.now() + 10_000)).toEqual([]);
    expect(sessions.all().map((s) => s.sid)).toEqual(['7']);
    await sessions.closeAll();
  });

  it('never reaps the global session', async () => {
    const sessions = new Sessions(home, 'global', () => undefined);
    await sessions.forThread('7');
    expect(await sessions.reap(0, Date.now() + 60_000)).toEqual([]);
    expect(sessions.all().map((s) => s.sid)).toEqual(['global']);
    await sessions.closeAll();
  });
});
