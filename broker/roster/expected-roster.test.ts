/**
 * The expected roster (B.24, B.84): an expected aspect not live for 3 × stale_after_s yields one
 * `roster.missing` event and one `system` message from `nexus` to the frame per missing spell.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { BrokerClient } from '../../client/index.js';
import type { AuditEntry, Message, WireError } from '../../protocol/index.js';
import {
  adminClient,
  createTestDatabase,
  mintAspectToken,
  registerBody,
  startInProcessBroker,
  waitUntil,
  type TestDatabase,
} from '../../testing/index.js';

const errorOf = async (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as WireError,
  );

interface StoredEvent {
  id: string;
  aspect: string;
  kind: string;
  data: { aspect: string; since: string };
}

/** An aspect registered over HTTP that heartbeats until `stop()`, as a runtime would. */
async function liveAspect(
  url: string,
  admin: BrokerClient,
  name: string,
  extra: Record<string, unknown> = {},
) {
  const { token } = await mintAspectToken(admin, name, extra.role === 'frame' ? { admin: true } : {});
  const client = new BrokerClient({ url, token });
  const instanceId = randomUUID();
  await client.post('/v1/aspects/register', registerBody(name, instanceId, extra));
  const beat = () =>
    client
      .post('/v1/aspects/heartbeat', {
        instance_id: instanceId,
        stats: { sessions: [], compactions: 0, inbox_depth: 0 },
      })
      .catch(() => undefined);
  const timer = setInterval(() => void beat(), 250);
  return { client, stop: () => clearInterval(timer) };
}

describe('the expected roster', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;
  let sql: pg.Client;
  const stops: (() => void)[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('expected_roster');
    // stale_after_s = 2: an expected aspect is missing after 6 s without being live; the aspects
    // meant to stay live heartbeat every 250 ms, so only a stall of seconds could make them missing.
    broker = await startInProcessBroker({
      databaseUrl: db.url,
      env: { NEXUS_STALE_S: '2', NEXUS_RATE_LIMITS: 'off' },
    });
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    admin = adminClient(broker.url, broker.adminToken);
  });
  afterAll(async () => {
    for (const stop of stops) stop();
    await sql?.end();
    await broker?.stop();
    await db?.drop();
  });

  const missingEvents = async () =>
    (await admin.get<{ events: StoredEvent[] }>('/v1/events?kind=roster.missing&limit=1000')).events;
  const notesToFrame = async () =>
    (await admin.get<{ messages: Message[] }>('/v1/messages?limit=1000')).messages.filter(
      (m) => m.from === 'nexus',
    );
  const expect204 = async (body: unknown) =>
    expect((await admin.call('PUT', '/v1/admin/expected-roster', body)).status).toBe(204);

  it('refuses bad bodies with 400 naming the field, and non-admins with 403, audited', async () => {
    const cases: [unknown, string][] = [
      [{ aspects: ['a'] }, 'source: Invalid input: expected string, received undefined'],
      [{ source: '', aspects: ['a'] }, 'source: must not be empty'],
      [{ source: 'operator' }, 'aspects: Invalid input: expected array, received undefined'],
      [
        { source: 'operator', aspects: ['Not A Name'] },
        'aspects[0]: must be a DNS-1123 label (lowercase letters, digits, "-")',
      ],
      [{ source: 'operator', aspects: [], extra: 1 }, 'extra: is not a known field'],
    ];
    for (const [body, message] of cases) {
      const error = await errorOf(admin.call('PUT', '/v1/admin/expected-roster', body));
      expect({ body, code: error?.code, message: error?.message }).toEqual({
        body,
        code: 'invalid_request',
        message,
      });
    }
    const { token } = await mintAspectToken(admin, 'nosy');
    const nosy = new BrokerClient({ url: broker.url, token });
    expect(
      (await errorOf(nosy.call('PUT', '/v1/admin/expected-roster', { source: 's', aspects: [] })))?.code,
    ).toBe('admin_required');
    // The denial's audit row is written after the answer (an audit write never delays a refusal).
    const { value: entries } = await waitUntil(
      async () => {
        const rows = (await admin.get<{ entries: AuditEntry[] }>('/v1/audit?action=roster.expect')).entries;
        return rows.length > 0 ? rows : null;
      },
      { timeoutMs: 10_000, what: "the denial's audit row" },
    );
    expect(entries.map((e) => `${e.actor} ${e.outcome}`)).toEqual(['aspect:nosy denied']);
  });

  it('reports a missing aspect once per spell: one event and one system message from nexus to the frame', async () => {
    const frame = await liveAspect(broker.url, admin, 'frame', { role: 'frame' });
    const present = await liveAspect(broker.url, admin, 'present');
    stops.push(frame.stop, present.stop);
    await expect204({ source: 'operator:team/default', aspects: ['frame', 'present', 'absent'] });

    const { value: first } = await waitUntil(
      async () => {
        const events = await missingEvents();
        return events.length > 0 ? events : null;
      },
      { timeoutMs: 20_000, what: 'the roster.missing event for absent' },
    );
    expect(first.map((e) => [e.aspect, e.data.aspect])).toEqual([['absent', 'absent']]);
    expect(Date.parse(first[0]?.data.since as string)).not.toBeNaN();
    const notes = await notesToFrame();
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatchObject({ kind: 'system', from: 'nexus' });
    expect(notes[0]?.content).toContain('absent');
    // Delivered to the frame: it is the message's one recipient.
    const framesMail = await frame.client.get<{ messages: Message[] }>(
      `/v1/messages?thread_id=${notes[0]?.thread_id}`,
    );
    expect(framesMail.messages.map((m) => m.id)).toEqual([notes[0]?.id]);
    // `nexus` sends and is never addressed (B.84), so it is no participant: the frame's answer
    // without `to` has no one to go to, rather than being held for a mailbox nobody drains.
    const answer = await errorOf(
      frame.client.post('/v1/messages', { content: 'noted', thread_id: notes[0]?.thread_id }),
    );
    expect(answer?.code).toBe('no_recipient');
    const { rows } = await sql.query(
      `SELECT participant FROM thread_participants WHERE thread_id = $1 ORDER BY participant`,
      [notes[0]?.thread_id],
    );
    expect(rows.map((r: { participant: string }) => r.participant)).toEqual(['frame']);

    // A second source expecting another absent aspect: its report, later, proves the duty ran
    // again, and the first spell is still reported once.
    await expect204({ source: 'admin', aspects: ['late'] });
    await waitUntil(async () => (await missingEvents()).some((e) => e.aspect === 'late'), {
      timeoutMs: 20_000,
      what: 'the report of late',
    });
    expect((await missingEvents()).map((e) => e.aspect)).toEqual(['absent', 'late']);
    expect((await notesToFrame()).length).toBe(2);
  });

  it('ends the spell when the aspect is live again, and reports the next one', async () => {
    const absent = await liveAspect(broker.url, admin, 'absent');
    // The spell ends when the duty sees it live (its marking row goes); only then does it leave.
    await waitUntil(
      async () =>
        Number(
          (await sql.query(`SELECT count(*) AS n FROM missing_aspects WHERE aspect = 'absent'`)).rows[0].n,
        ) === 0,
      { timeoutMs: 20_000, what: 'the duty to end the missing spell of absent' },
    );
    // It goes away again: a new spell, a second report for it.
    absent.stop();
    await waitUntil(async () => (await missingEvents()).filter((e) => e.aspect === 'absent').length === 2, {
      timeoutMs: 30_000,
      what: 'a second report of absent',
    });
    const reports = (await missingEvents()).filter((e) => e.aspect === 'absent');
    expect(Date.parse(reports[1]?.data.since as string)).toBeGreaterThan(
      Date.parse(reports[0]?.data.since as string),
    );
    expect((await notesToFrame()).filter((m) => m.content.includes('absent ')).length).toBe(2);
  });

  it('forgets what a source no longer expects', async () => {
    await expect204({ source: 'admin', aspects: [] });
    await expect204({ source: 'operator:team/default', aspects: ['frame'] });
    const before = (await missingEvents()).length;
    // A new expectation that will be missing proves a later duty run reported nothing else.
    await expect204({ source: 'admin', aspects: ['sentinel'] });
    await waitUntil(async () => (await missingEvents()).some((e) => e.aspect === 'sentinel'), {
      timeoutMs: 20_000,
      what: 'the report of sentinel',
    });
    expect((await missingEvents()).length).toBe(before + 1);
  });
});
