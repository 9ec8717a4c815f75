/**
 * Alarms on one broker (B.27, B.60): what a firing sends, schedules, missed firings, who may list
 * and delete, and bad bodies. Three replicas with one killed are in e2e/alarms-replicas.test.ts.
 */
import pg from 'pg';
import type { BrokerClient } from '../../client/index.js';
import type { Alarm, AlarmReply, AuditEntry, Message, WireError } from '../../protocol/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  startInProcessBroker,
  waitUntil,
  type TestAspect,
  type TestDatabase,
} from '../../testing/index.js';

const errorOf = async (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as WireError,
  );

const inSeconds = (s: number) => new Date(Date.now() + s * 1000).toISOString();

describe('alarms', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;
  let sql: pg.Client;
  let alpha: TestAspect;
  let beta: TestAspect;

  beforeAll(async () => {
    db = await createTestDatabase('alarms');
    // A 1 s minimum period so periodic firings are seen within a test (docs/team.md).
    broker = await startInProcessBroker({
      databaseUrl: db.url,
      env: { NEXUS_ALARM_MIN_EVERY_S: '1', NEXUS_STALE_S: '3600', NEXUS_RATE_LIMITS: 'off' },
    });
    admin = adminClient(broker.url, broker.adminToken);
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    alpha = await createAspect(broker.url, admin, 'alpha');
    beta = await createAspect(broker.url, admin, 'beta');
  });
  afterAll(async () => {
    await sql?.end();
    await broker?.stop();
    await db?.drop();
  });

  /** The messages an alarm's firings sent, by the id in their `input`. */
  const firingsOf = async (alarmId: string): Promise<Message[]> => {
    const { messages } = await admin.get<{ messages: Message[] }>('/v1/messages?limit=1000');
    return messages.filter(
      (m) => (m.input as { alarm?: { id?: string } } | undefined)?.alarm?.id === alarmId,
    );
  };
  const alarmsOf = async (client: BrokerClient) =>
    (await client.get<{ alarms: Alarm[] }>('/v1/alarms')).alarms;
  const alarmCount = async () => Number((await sql.query('SELECT count(*) AS n FROM alarms')).rows[0].n);

  it('fires once at its time: a system message from its owner to the recipients, in a new thread', async () => {
    const created = await alpha.http.call<AlarmReply>('POST', '/v1/alarms', {
      to: ['beta'],
      content: 'stand-up time',
      at: inSeconds(0.5),
    });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.any(String), next_at: expect.any(String) });

    const { value: fired } = await waitUntil(
      async () => {
        const [alarm] = (await alarmsOf(alpha.http)).filter((a) => a.id === created.body.id);
        return alarm?.next_at === null ? alarm : null;
      },
      { timeoutMs: 15_000, what: 'the alarm to fire' },
    );
    expect(fired).toMatchObject({ owner: 'alpha', to: ['beta'], fired: 1, content: 'stand-up time' });
    const messages = await firingsOf(created.body.id);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({
      from: 'alpha',
      to: ['beta'],
      kind: 'system',
      content: 'stand-up time',
      input: { alarm: { id: created.body.id, due_at: created.body.next_at } },
    });
    expect(messages[0]?.traceparent).toBeUndefined(); // a firing starts a new trace (B.60)
    const { messages: mailbox } = await beta.http.get<{ messages: Message[] }>(
      `/v1/messages?thread_id=${messages[0]?.thread_id}`,
    );
    expect(mailbox.map((m) => m.id)).toEqual([messages[0]?.id]);
  });

  it('fires a periodic alarm once per period, each firing in a new thread unless a thread is given', async () => {
    const periodic = await alpha.http.post<AlarmReply>('/v1/alarms', {
      to: ['beta'],
      content: 'tick',
      every_s: 1,
    });
    const ours = await alpha.http.post<{ thread_id: string }>('/v1/messages', {
      content: 'our thread',
      to: ['beta'],
    });
    const threaded = await alpha.http.post<AlarmReply>('/v1/alarms', {
      to: ['beta'],
      content: 'tock',
      every_s: 1,
      thread_id: ours.thread_id,
    });
    await waitUntil(
      async () => (await firingsOf(periodic.id)).length >= 3 && (await firingsOf(threaded.id)).length >= 2,
      {
        timeoutMs: 20_000,
        what: 'three firings of a 1 s alarm',
      },
    );
    await alpha.http.delete(`/v1/alarms/${periodic.id}`);
    await alpha.http.delete(`/v1/alarms/${threaded.id}`);

    const ticks = await firingsOf(periodic.id);
    const due = ticks.map((m) => (m.input as { alarm: { due_at: string } }).alarm.due_at);
    expect(new Set(due).size).toBe(due.length); // no due time fired twice
    // Consecutive due times are whole periods apart.
    for (let i = 1; i < due.length; i++) {
      const gap = Date.parse(due[i] as string) - Date.parse(due[i - 1] as string);
      expect(gap % 1000).toBe(0);
    }
    expect(new Set(ticks.map((m) => m.thread_id)).size).toBe(ticks.length);
    const tocks = await firingsOf(threaded.id);
    expect(new Set(tocks.map((m) => m.thread_id))).toEqual(new Set([ours.thread_id]));
  });

  it('fires missed periods once on recovery, then keeps its schedule', async () => {
    // Due an hour ago with a 1 s period: 3,600 missed firings, of which one is sent.
    const late = await alpha.http.post<AlarmReply>('/v1/alarms', {
      to: ['alpha'],
      content: 'you were away',
      at: new Date(Date.now() - 3_600_000).toISOString(),
      every_s: 1,
    });
    const { value: after } = await waitUntil(
      async () => {
        const [alarm] = (await alarmsOf(alpha.http)).filter((a) => a.id === late.id);
        return alarm && alarm.fired >= 1 ? alarm : null;
      },
      { timeoutMs: 15_000, what: 'the late alarm to fire' },
    );
    await alpha.http.delete(`/v1/alarms/${late.id}`);
    const firings = await firingsOf(late.id);
    expect(firings[0]?.input).toEqual({ alarm: { id: late.id, due_at: late.next_at } });
    // The next due time moved past the outage instead of through it.
    expect(Date.parse(after.next_at as string)).toBeGreaterThan(Date.now() - 60_000);
    expect(firings.length).toBeLessThan(60);
    const due = firings.map((m) => (m.input as { alarm: { due_at: string } }).alarm.due_at);
    expect(new Set(due).size).toBe(firings.length);
    // An owner-only alarm reaches its owner (B.60).
    expect(firings[0]).toMatchObject({ from: 'alpha', to: ['alpha'], kind: 'system' });
  });

  it('lists the caller’s alarms; an admin sees all; the owner or an admin deletes, anyone else is refused and audited', async () => {
    const mine = await alpha.http.post<AlarmReply>('/v1/alarms', {
      to: ['beta'],
      content: 'later',
      every_s: 3600,
    });
    expect((await alarmsOf(alpha.http)).map((a) => a.id)).toContain(mine.id);
    expect((await alarmsOf(beta.http)).map((a) => a.id)).not.toContain(mine.id);
    expect((await alarmsOf(admin)).map((a) => a.id)).toContain(mine.id);

    expect((await errorOf(beta.http.delete(`/v1/alarms/${mine.id}`)))?.code).toBe('forbidden');
    // A denial's audit row is written after the refusal is answered: wait for it.
    await waitUntil(
      async () =>
        (await admin.get<{ entries: AuditEntry[] }>('/v1/audit?action=alarm.delete')).entries.some(
          (e) => `${e.actor} ${e.target} ${e.outcome}` === `aspect:beta ${mine.id} denied`,
        ),
      { timeoutMs: 10_000, what: "beta's refused delete in the audit log" },
    );
    expect((await errorOf(alpha.http.delete('/v1/alarms/999999')))?.code).toBe('not_found');
    expect((await alpha.http.call('DELETE', `/v1/alarms/${mine.id}`)).status).toBe(204);

    const theirs = await beta.http.post<AlarmReply>('/v1/alarms', {
      to: ['alpha'],
      content: 'x',
      every_s: 3600,
    });
    expect((await admin.call('DELETE', `/v1/alarms/${theirs.id}`)).status).toBe(204);
    const after = await admin.get<{ entries: AuditEntry[] }>(
      '/v1/audit?action=alarm.delete&actor=op:bootstrap',
    );
    expect(after.entries.map((e) => `${e.target} ${e.outcome}`)).toEqual([`${theirs.id} allowed`]);

    const worker = await admin.post<{ token: string }>('/v1/admin/tokens', { kind: 'worker', name: 'w' });
    const workerClient = adminClient(broker.url, worker.token);
    expect((await errorOf(workerClient.get('/v1/alarms')))?.code).toBe('forbidden');
    expect(
      (await errorOf(workerClient.post('/v1/alarms', { to: ['alpha'], content: 'x', every_s: 60 })))?.code,
    ).toBe('forbidden');
  });

  it('refuses at creation what a firing would be refused, with the send path’s codes, storing nothing', async () => {
    const { thread_id: privateThread } = await beta.http.post<{ thread_id: string }>('/v1/messages', {
      content: 'between beta and admin',
      to: ['op:bootstrap'],
    });
    const before = await alarmCount();
    const outsider = await errorOf(
      alpha.http.post('/v1/alarms', {
        to: ['beta'],
        content: 'x',
        at: inSeconds(60),
        thread_id: privateThread,
      }),
    );
    expect(outsider?.code).toBe('forbidden');
    expect(
      (await errorOf(alpha.http.post('/v1/alarms', { to: ['op:nobody'], content: 'x', every_s: 60 })))?.code,
    ).toBe('no_recipient');
    expect(
      (
        await errorOf(
          alpha.http.post('/v1/alarms', { to: ['beta'], content: 'x', every_s: 60, thread_id: '987654' }),
        )
      )?.code,
    ).toBe('not_found');
    expect(await alarmCount()).toBe(before);
    const { entries } = await admin.get<{ entries: AuditEntry[] }>('/v1/audit?action=alarm.create');
    expect(entries.map((e) => `${e.actor} ${e.outcome}`)).toContain('aspect:alpha denied');
  });

  it('refuses bad bodies with 400 naming the field, storing nothing', async () => {
    const before = await alarmCount();
    const cases: [unknown, string][] = [
      [{ content: 'x', every_s: 60 }, 'to: Invalid input: expected array, received undefined'],
      [{ to: [], content: 'x', every_s: 60 }, 'to: must name at least one recipient'],
      [
        { to: ['Beta'], content: 'x', every_s: 60 },
        'to[0]: must be an aspect name (DNS-1123 label) or op:NAME',
      ],
      [{ to: ['beta'], content: 'x' }, 'at: give at, every_s or both'],
      [{ to: ['beta'], content: 'x', every_s: 0 }, 'every_s: must be at least 1'],
      [{ to: ['beta'], content: 'x', every_s: 1.5 }, 'every_s: must be a whole number of seconds'],
      [
        { to: ['beta'], content: 'x', at: 'tomorrow' },
        'at: must be an ISO-8601 time with an offset, e.g. 2026-05-01T09:00:00Z',
      ],
      [
        { to: ['beta'], content: 'x', at: '2026-05-01T09:00:00' },
        'at: must be an ISO-8601 time with an offset, e.g. 2026-05-01T09:00:00Z',
      ],
      [{ to: ['beta'], content: 'x', every_s: 60, from: 'beta' }, 'from: is not a known field'],
      [
        { to: ['beta'], content: 'x', every_s: 60, thread_id: 'abc' },
        'thread_id: must be a decimal id string',
      ],
    ];
    for (const [body, message] of cases) {
      const error = await errorOf(alpha.http.post('/v1/alarms', body));
      expect({ body, code: error?.code, message: error?.message }).toEqual({
        body,
        code: 'invalid_request',
        message,
      });
    }
    expect((await errorOf(alpha.http.get('/v1/alarms?owner=beta')))?.message).toBe(
      'owner: is not a known field',
    );
    expect((await errorOf(alpha.http.delete('/v1/alarms/x')))?.message).toBe(
      'id: must be a decimal id string',
    );
    expect(await alarmCount()).toBe(before);
  });

  it('records a firing the send path refuses (its owner stayed down) and moves on', async () => {
    const gamma = await createAspect(broker.url, admin, 'gamma');
    const alarm = await gamma.http.post<AlarmReply>('/v1/alarms', {
      to: ['beta'],
      content: 'from gamma',
      at: inSeconds(3600),
    });
    await admin.post('/v1/admin/aspects/gamma/shutdown', {});
    // Due now that its owner is down (made due here rather than by racing a clock on a busy machine).
    await sql.query('UPDATE alarms SET next_at = now() WHERE id = $1', [alarm.id]);
    const { value: fired } = await waitUntil(
      async () => (await alarmsOf(admin)).find((a) => a.id === alarm.id && a.next_at === null) ?? null,
      { timeoutMs: 15_000, what: 'the stayed-down owner’s alarm to come due' },
    );
    expect(fired.fired).toBe(1);
    expect(await firingsOf(alarm.id)).toEqual([]);
    const { rows } = await sql.query('SELECT error FROM alarm_firings WHERE alarm_id = $1', [alarm.id]);
    expect(rows).toEqual([{ error: 'nexus:stay_down:gamma is shut down (stay-down)' }]);
  });

  it('does not fire for an owner whose tokens are all revoked: a firing speaks with the authority of now', async () => {
    const delta = await createAspect(broker.url, admin, 'delta');
    const alarm = await delta.http.post<AlarmReply>('/v1/alarms', {
      to: ['beta'],
      content: 'from delta',
      at: inSeconds(3600),
    });
    await admin.delete(`/v1/admin/tokens/${delta.tokenId}`);
    await sql.query('UPDATE alarms SET next_at = now() WHERE id = $1', [alarm.id]);
    const { value: fired } = await waitUntil(
      async () => (await alarmsOf(admin)).find((a) => a.id === alarm.id && a.next_at === null) ?? null,
      { timeoutMs: 15_000, what: 'the revoked owner’s alarm to come due' },
    );
    expect(fired.fired).toBe(1);
    expect(await firingsOf(alarm.id)).toEqual([]);
    const { rows } = await sql.query('SELECT error FROM alarm_firings WHERE alarm_id = $1', [alarm.id]);
    expect(rows).toEqual([{ error: 'nexus:forbidden:delta holds no live token: the alarm does not fire' }]);
  });
});
