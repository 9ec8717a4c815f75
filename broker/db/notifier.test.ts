import pg from 'pg';
import { createLogger } from '../../platform/index.js';
import { createTestDatabase, waitUntil, type TestDatabase } from '../../testing/index.js';
import { Notifier, parseHint } from './notifier.js';

describe('parseHint', () => {
  it('reads an object of string lists and drops anything else', () => {
    expect(parseHint('{"ids":["1","2"],"recipients":["a",3],"x":"y"}')).toEqual({
      ids: ['1', '2'],
      recipients: ['a'],
    });
  });

  it('reads an unreadable payload as "poll everything"', () => {
    expect(parseHint('not json')).toEqual({ all: ['1'] });
    expect(parseHint('[1,2]')).toEqual({ all: ['1'] });
  });
});

describe('Notifier', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let listener: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase('notifier');
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    await listener.query('LISTEN chan_a; LISTEN chan_b');
  });
  afterAll(async () => {
    await listener?.end();
    await pool?.end();
    await db?.drop();
  });

  it('sends the first hint at once, merges the ones raised meanwhile, and every channel is heard', async () => {
    const heard: { channel: string; payload: Record<string, string[]> }[] = [];
    listener.on('notification', (n) =>
      heard.push({ channel: n.channel, payload: parseHint(n.payload ?? '') }),
    );
    const notifier = new Notifier(pool, createLogger({ name: 'notifier-test', level: 'silent' }));
    notifier.notify('chan_a', { ids: ['1'] });
    // Raised while the first is in flight: merged into one statement for both channels.
    notifier.notify('chan_a', { ids: ['2'] });
    notifier.notify('chan_a', { ids: ['3'], names: ['x'] });
    notifier.notify('chan_b', { ids: ['9'] });
    await waitUntil(() => heard.length >= 3, { timeoutMs: 5000, what: 'three notifications' });
    expect(heard).toEqual([
      { channel: 'chan_a', payload: { ids: ['1'] } },
      { channel: 'chan_a', payload: { ids: ['2', '3'], names: ['x'] } },
      { channel: 'chan_b', payload: { ids: ['9'] } },
    ]);
  });

  it('turns a hint too large for NOTIFY into "poll everything"', async () => {
    const heard: string[] = [];
    listener.on('notification', (n) => heard.push(n.payload ?? ''));
    const notifier = new Notifier(pool, createLogger({ name: 'notifier-test', level: 'silent' }));
    notifier.notify('chan_b', { ids: Array.from({ length: 2000 }, (_, i) => String(i)) });
    await waitUntil(() => heard.length >= 1, { timeoutMs: 5000, what: 'the notification' });
    expect(heard).toEqual(['{"all":["1"]}']);
  });
});
