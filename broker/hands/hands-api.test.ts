/** The dispatcher's side of Hands through the broker API: refusals, idempotency, bounds, stay-down. */
import type { AuditEntry, DispatchReply, Message } from '../../protocol/index.js';
import { waitUntil } from '../../testing/index.js';
import { errorOf, hands, useHandsApi } from './test/hands-api.js';

describe('Hand dispatch through the broker API', () => {
  const api = useHandsApi('hands_api');
  const { admin, register, dispatch, count } = api;
  it('refuses at once, with result envelopes, storing nothing', async () => {
    const before = await count('hand_dispatches');
    const messages = await count('messages');
    const unknownAspect = await dispatch(api.alice, { target: 'nobody', hand: 'x', content: 'hi' });
    expect(unknownAspect.status).toBe(200);
    expect(unknownAspect.body).toMatchObject({
      dispatch_id: null,
      state: 'rejected',
      thread_id: null,
      result: { status: 'unknown_hand', detail: { reason: 'unknown aspect' } },
    });
    const unknownHand = await dispatch(api.alice, { target: 'helper', hand: 'paint', content: 'hi' });
    expect(unknownHand.body).toMatchObject({
      result: { status: 'unknown_hand', detail: { available: ['summarise', 'lookup'] } },
    });
    const forbidden = await dispatch(api.bob, {
      target: 'helper',
      hand: 'lookup',
      content: 'hi',
      input: { word: 'x' },
    });
    expect(forbidden.body).toMatchObject({ result: { status: 'forbidden' } });
    const invalid = await dispatch(api.alice, {
      target: 'helper',
      hand: 'lookup',
      content: 'hi',
      input: { word: 7 },
    });
    expect(invalid.body).toMatchObject({
      result: { status: 'invalid_input', error: 'input.word: must be string' },
    });
    const missing = await dispatch(api.alice, { target: 'helper', hand: 'lookup', content: 'hi' });
    expect(missing.body).toMatchObject({ result: { status: 'invalid_input' } });
    expect((missing.body as { result: { error: string } }).result.error).toContain(
      "required property 'word'",
    );
    expect(await count('hand_dispatches')).toBe(before);
    expect(await count('messages')).toBe(messages);
    // A denial's audit row is written after the refusal is answered: wait for it.
    await waitUntil(
      async () =>
        (
          await admin().get<{ entries: AuditEntry[] }>('/v1/audit?action=hand.dispatch&limit=100')
        ).entries.some((e) => e.outcome === 'denied' && e.actor === 'aspect:bob'),
      { timeoutMs: 10_000, what: "bob's refused dispatch in the audit log" },
    );
  });

  it('answers a dispatch that comms.send_to forbids with a forbidden envelope, storing nothing', async () => {
    const narrow = await register('narrow', { comms: { send_to: ['alice'] } });
    const before = { dispatches: await count('hand_dispatches'), messages: await count('messages') };
    const refused = await dispatch(narrow, { target: 'helper', hand: 'summarise', content: 'hi' });
    expect(refused).toMatchObject({
      status: 200,
      body: {
        dispatch_id: null,
        state: 'rejected',
        thread_id: null,
        result: { status: 'forbidden', summary: 'narrow may not message helper (comms.send_to)' },
      },
    });
    expect({ dispatches: await count('hand_dispatches'), messages: await count('messages') }).toEqual(before);
    await waitUntil(
      async () =>
        (
          await admin().get<{ entries: AuditEntry[] }>('/v1/audit?actor=aspect:narrow&limit=100')
        ).entries.some(
          (e) => e.action === 'hand.dispatch' && e.outcome === 'denied' && e.target === 'helper/summarise',
        ),
      { timeoutMs: 10_000, what: "narrow's refused dispatch in the audit log" },
    );
  });

  it('answers a bad body with 400 naming the field, and a worker token may not dispatch', async () => {
    const bad = await errorOf(
      dispatch(api.alice, { target: 'helper', hand: 'summarise', content: 'x', deadline_s: 0 }),
    );
    expect(bad).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(bad?.message).toContain('deadline_s');
    const kind = await errorOf(
      dispatch(api.alice, { target: 'helper', hand: 'summarise', content: 'x', kind: 'hand' }),
    );
    expect(kind?.message).toContain('kind');
    expect(
      await errorOf(dispatch(api.worker, { target: 'helper', hand: 'summarise', content: 'x' })),
    ).toMatchObject({
      status: 403,
    });
  });

  it('accepts a deadline_s over 7200 and caps it at 7200 s (SPEC section 6)', async () => {
    const queued = await dispatch(api.alice, {
      target: 'helper',
      hand: 'summarise',
      content: 'a long one',
      deadline_s: 9000,
    });
    expect(queued.status).toBe(202);
    const { dispatch_id: id } = queued.body as { dispatch_id: string };
    const { rows } = await api.sql.query('SELECT deadline_s FROM hand_dispatches WHERE id = $1', [id]);
    expect(rows[0]).toEqual({ deadline_s: 7200 });
  });

  it('a repeated idempotency key returns the first dispatch', async () => {
    const body = { target: 'helper', hand: 'summarise', content: 'once', idempotency_key: 'k-1' };
    const first = await dispatch(api.alice, body);
    const again = await dispatch(api.alice, body);
    expect(first.status).toBe(202);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(await errorOf(dispatch(api.alice, { ...body, content: 'other' }))).toMatchObject({ status: 409 });
  });

  it('concurrent repeats of one idempotency key queue one dispatch and all answer with it', async () => {
    // The first takes the last place in the queue (bound 5): the repeats must not be answered busy.
    for (let i = 0; i < 4; i++)
      await dispatch(api.bob, { target: 'helper', hand: 'summarise', content: `f${i}` });
    const body = { target: 'helper', hand: 'summarise', content: 'raced', idempotency_key: 'race-1' };
    const replies = await Promise.all(Array.from({ length: 6 }, () => dispatch(api.alice, body)));
    expect(replies.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 200, 202]);
    const ids = new Set(replies.map((r) => (r.body as { dispatch_id: string }).dispatch_id));
    expect(ids.size).toBe(1);
    const { rows } = await api.sql.query(
      'SELECT count(*)::int AS n FROM hand_dispatches WHERE content = $1',
      ['raced'],
    );
    expect(rows[0]).toEqual({ n: 1 });
  });

  it('answers the dispatch past the queue bound busy with retry_after_s, storing nothing', async () => {
    for (let i = 0; i < 5; i++)
      expect(
        (await dispatch(api.bob, { target: 'helper', hand: 'summarise', content: `n${i}` })).status,
      ).toBe(202);
    const before = await count('hand_dispatches');
    const busy = await dispatch(api.bob, { target: 'helper', hand: 'summarise', content: 'one too many' });
    expect(busy.body).toMatchObject({
      state: 'rejected',
      result: { status: 'busy', detail: { retry_after_s: 1 } },
    });
    expect(await count('hand_dispatches')).toBe(before);
  });

  it('a repeat of a queued dispatch is answered with it even when the queue is now full', async () => {
    const body = { target: 'helper', hand: 'summarise', content: 'keyed', idempotency_key: 'full-1' };
    const first = await dispatch(api.bob, body);
    expect(first.status).toBe(202);
    for (let i = 0; i < 4; i++)
      await dispatch(api.bob, { target: 'helper', hand: 'summarise', content: `fill ${i}` });
    expect(
      (await dispatch(api.bob, { target: 'helper', hand: 'summarise', content: 'over' })).body,
    ).toMatchObject({
      result: { status: 'busy' },
    });
    const again = await dispatch(api.bob, body);
    expect(again).toEqual({ status: 200, body: first.body });
  });

  it('stay-down ends the queued dispatches that target the aspect and refuses new ones', async () => {
    await register('doomed', { hands });
    await dispatch(api.alice, { target: 'doomed', hand: 'summarise', content: 'a' });
    await dispatch(api.alice, { target: 'doomed', hand: 'summarise', content: 'b' });
    const reply = await admin().post<{ aborted: number }>('/v1/admin/aspects/doomed/shutdown', {});
    expect(reply.aborted).toBe(2);
    const refused = await dispatch(api.alice, { target: 'doomed', hand: 'summarise', content: 'c' });
    expect(refused.body).toMatchObject({ result: { status: 'aborted', detail: { reason: 'stay_down' } } });
    expect(await count("hand_dispatches WHERE target = 'doomed' AND state <> 'done'")).toBe(0);
    const results = await api.alice.get<{ messages: Message[] }>('/v1/messages?limit=1000&order=desc');
    expect(results.messages.filter((m) => m.kind === 'hand_result' && m.from === 'doomed')).toHaveLength(2);
  });
});

describe('the default queue bound (fault 17)', () => {
  const api = useHandsApi('hands_bound', { NEXUS_RATE_LIMITS: 'off' });

  it('answers the 101st queued dispatch busy and stores nothing; metrics show the results', async () => {
    const { alice: caller, broker } = api;
    const body = { target: 'helper', hand: 'summarise', content: 'queued' };
    for (let i = 0; i < 100; i++)
      expect((await caller.call<DispatchReply>('POST', '/v1/hands/dispatch', body)).status).toBe(202);
    const counts = async () =>
      (
        await api.sql.query(
          'SELECT (SELECT count(*) FROM hand_dispatches) AS d, (SELECT count(*) FROM messages) AS m, (SELECT count(*) FROM hand_queue) AS q',
        )
      ).rows[0];
    const before = await counts();
    const busy = await caller.call<DispatchReply>('POST', '/v1/hands/dispatch', body);
    expect(busy.status).toBe(200);
    expect(busy.body).toMatchObject({ dispatch_id: null, state: 'rejected', result: { status: 'busy' } });
    expect(await counts()).toEqual(before);
    const metrics = await (await fetch(`${broker.url}/metrics`)).text();
    expect(metrics).toContain('nexus_hand_results_total{status="busy"} 1');
    expect(metrics).toContain('nexus_hand_wait_seconds_bucket');
    // The replica holding the hand-leases duty exports the queue gauges.
    await waitUntil(
      async () =>
        (await (await fetch(`${broker.url}/metrics`)).text()).includes('nexus_hand_queue_depth 100'),
      { timeoutMs: 10_000, what: 'the queue depth gauge' },
    );
  });
});
