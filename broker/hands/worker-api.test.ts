/** The worker side of Hands through the broker API: claims, leases, completion, abort, limits. */
import type {
  AbortReply,
  AuditEntry,
  ClaimedDispatch,
  DispatchInfo,
  DispatchReply,
  LimitsReply,
  Message,
} from '../../protocol/index.js';
import { waitUntil } from '../../testing/index.js';
import { errorOf, useHandsApi } from './test/hands-api.js';

describe('Hand workers through the broker API', () => {
  const api = useHandsApi('hands_workers_api');
  const { admin, dispatch, claim, count } = api;
  it('queues, posts the hand message, and a worker claims, completes and the result reaches the dispatcher', async () => {
    const queued = await dispatch(api.alice, {
      target: 'helper',
      hand: 'summarise',
      content: 'summarise this',
    });
    expect(queued.status).toBe(202);
    const reply = queued.body as Extract<DispatchReply, { state: 'queued' }>;
    const history = await api.alice.get<{ messages: Message[] }>(`/v1/messages?thread_id=${reply.thread_id}`);
    expect(history.messages).toMatchObject([
      { id: reply.message_id, kind: 'hand', hand: 'summarise', from: 'alice', to: ['helper'] },
    ]);

    const claimed = await claim();
    expect(claimed.status).toBe(200);
    const d = claimed.body.dispatch;
    expect(d).toMatchObject({
      id: reply.dispatch_id,
      target: 'helper',
      hand: 'summarise',
      dispatcher: 'alice',
      content: 'summarise this',
      attempt: 1,
      hand_definition: { name: 'summarise', timeout_s: 30 },
      provider: { kind: 'scripted' },
    });
    expect(Date.parse(d.deadline_at) - Date.now()).toBeGreaterThan(25_000);
    const state = await api.alice.get<DispatchInfo>(`/v1/hands/dispatches/${d.id}`);
    expect(state).toMatchObject({ state: 'running', attempt: 1 });

    expect(
      await api.worker.post(`/v1/workers/dispatches/${d.id}/heartbeat`, { worker_id: 'w1', attempt: 1 }),
    ).toEqual({
      abort: false,
    });
    const wrongWorker = await errorOf(
      api.worker.post(`/v1/workers/dispatches/${d.id}/heartbeat`, { worker_id: 'w2', attempt: 1 }),
    );
    expect(wrongWorker).toMatchObject({ status: 409, code: 'conflict' });

    const usage = { input_tokens: 10, output_tokens: 5, cost_usd: 0.001 };
    const done = await api.worker.post(`/v1/workers/dispatches/${d.id}/complete`, {
      worker_id: 'w1',
      attempt: 1,
      status: 'ok',
      summary: 'short version',
      usage,
    });
    expect(done).toEqual({ state: 'done' });
    const late = await errorOf(
      api.worker.post(`/v1/workers/dispatches/${d.id}/complete`, {
        worker_id: 'w1',
        attempt: 1,
        status: 'ok',
      }),
    );
    expect(late).toMatchObject({ status: 409 });

    const after = await api.alice.get<{ messages: Message[] }>(`/v1/messages?thread_id=${reply.thread_id}`);
    expect(after.messages[1]).toMatchObject({
      kind: 'hand_result',
      from: 'helper',
      to: ['alice'],
      reply_to: reply.message_id,
      content: 'short version',
      input: { status: 'ok', summary: 'short version', usage, artifacts: [] },
    });
    expect(await api.alice.get<DispatchInfo>(`/v1/hands/dispatches/${d.id}`)).toMatchObject({
      state: 'done',
      result: { status: 'ok' },
    });
    expect(await errorOf(api.bob.get(`/v1/hands/dispatches/${d.id}`))).toMatchObject({ status: 403 });
    // Transitions go to the event stream (B.7), attributed to the target.
    const events = async () =>
      (
        await api.sql.query<{ kind: string }>(
          "SELECT kind FROM events WHERE aspect = 'helper' AND data->>'dispatch_id' = $1 ORDER BY id",
          [d.id],
        )
      ).rows.map((r) => r.kind);
    await waitUntil(async () => (await events()).length === 3, { timeoutMs: 5000, what: 'three events' });
    expect(await events()).toEqual(['hand.queued', 'hand.started', 'hand.finished']);
    const listed = await admin().get<{ events: { kind: string; data: { dispatch_id?: string } }[] }>(
      '/v1/events?aspect=helper&order=desc&limit=3',
    );
    expect(listed.events.map((e) => e.kind)).toEqual(['hand.finished', 'hand.started', 'hand.queued']);
    expect(await errorOf(api.alice.get('/v1/events'))).toMatchObject({ status: 403 });
  });

  it('aborts a queued dispatch at once and a running one at its next heartbeat; done is 409', async () => {
    const queued = (await dispatch(api.alice, { target: 'helper', hand: 'summarise', content: 'q' }))
      .body as Extract<DispatchReply, { state: 'queued' }>;
    const first = await api.alice.post<AbortReply>(`/v1/hands/dispatches/${queued.dispatch_id}/abort`, {});
    expect(first).toMatchObject({ state: 'done', result: { status: 'aborted' } });
    expect(
      await errorOf(api.alice.post(`/v1/hands/dispatches/${queued.dispatch_id}/abort`, {})),
    ).toMatchObject({
      status: 409,
    });

    await dispatch(api.alice, { target: 'helper', hand: 'summarise', content: 'r' });
    const d = (await claim()).body.dispatch;
    expect(await errorOf(api.bob.post(`/v1/hands/dispatches/${d.id}/abort`, {}))).toMatchObject({
      status: 403,
    });
    expect(await admin().post<AbortReply>(`/v1/hands/dispatches/${d.id}/abort`, {})).toEqual({
      state: 'running',
    });
    expect(
      await api.worker.post(`/v1/workers/dispatches/${d.id}/heartbeat`, { worker_id: 'w1', attempt: 1 }),
    ).toEqual({
      abort: true,
    });
    await api.worker.post(`/v1/workers/dispatches/${d.id}/complete`, {
      worker_id: 'w1',
      attempt: 1,
      status: 'ok',
      summary: 'finished anyway',
      usage: { input_tokens: 3, output_tokens: 4, cost_usd: 0 },
    });
    expect(await api.alice.get<DispatchInfo>(`/v1/hands/dispatches/${d.id}`)).toMatchObject({
      result: { status: 'aborted', usage: { input_tokens: 3 } },
    });
  });

  it('release hands a dispatch back without using its retry', async () => {
    await dispatch(api.alice, { target: 'helper', hand: 'summarise', content: 'release me' });
    const d = (await claim()).body.dispatch;
    expect(
      await api.worker.post(`/v1/workers/dispatches/${d.id}/release`, { worker_id: 'w1', attempt: 1 }),
    ).toEqual({
      state: 'queued',
    });
    const again = (await claim({ worker_id: 'w2' })).body.dispatch;
    expect(again).toMatchObject({ id: d.id, attempt: 2 });
    const row = await api.sql.query('SELECT losses FROM hand_dispatches WHERE id = $1', [d.id]);
    expect(row.rows[0].losses).toBe(0);
  });

  it('an aborted or stayed-down dispatch handed back ends aborted instead of running again', async () => {
    await dispatch(api.alice, { target: 'helper', hand: 'summarise', content: 'abort then release' });
    const d = (await claim()).body.dispatch;
    await api.alice.post(`/v1/hands/dispatches/${d.id}/abort`, {});
    expect(
      await api.worker.post(`/v1/workers/dispatches/${d.id}/release`, { worker_id: 'w1', attempt: 1 }),
    ).toEqual({
      state: 'done',
    });
    expect(await api.alice.get<DispatchInfo>(`/v1/hands/dispatches/${d.id}`)).toMatchObject({
      state: 'done',
      result: { status: 'aborted' },
    });
    expect(await count('hand_queue')).toBe(0);
  });

  it('a worker fetches the target credential only while it holds the dispatch; otherwise 403, audited', async () => {
    await admin().call('PUT', '/v1/credentials/anthropic', { value: 'sk-secret-value' });
    await admin().post('/v1/credentials/anthropic/grants', { aspect: 'helper' });
    await dispatch(api.alice, { target: 'helper', hand: 'summarise', content: 'needs a key' });
    const d = (await claim()).body.dispatch;
    const lease = { dispatch_id: d.id, worker_id: 'w1', attempt: d.attempt };
    const fetched = await api.worker.post<{ value: string }>('/v1/credentials/anthropic/fetch', lease);
    expect(fetched.value).toBe('sk-secret-value');
    const notHeld = await errorOf(
      api.worker.post('/v1/credentials/anthropic/fetch', { ...lease, attempt: d.attempt + 1 }),
    );
    expect(notHeld).toMatchObject({ status: 403 });
    const audit = await admin().get<{ entries: AuditEntry[] }>('/v1/audit?action=credential.fetch&limit=100');
    expect(audit.entries.some((e) => e.outcome === 'denied' && e.actor === 'worker:pool')).toBe(true);
    expect(JSON.stringify(audit)).not.toContain('sk-secret-value');
  });

  it('claims with max return a list; limits are read and set by admins only', async () => {
    await api.sql.query(
      'INSERT INTO hand_limits (n, h) VALUES (1, NULL) ON CONFLICT (only_row) DO UPDATE SET n = 1, h = NULL',
    );
    expect(await admin().get<LimitsReply>('/v1/hands/limits')).toMatchObject({ n: 1, h_default: true });
    const changed = await admin().call<LimitsReply>('PUT', '/v1/hands/limits', { n: 4, h: 6 });
    expect(changed.body).toMatchObject({ n: 4, h: 6, h_default: false });
    expect(await errorOf(api.alice.call('PUT', '/v1/hands/limits', { n: 2 }))).toMatchObject({ status: 403 });
    expect(await errorOf(admin().call('PUT', '/v1/hands/limits', {}))).toMatchObject({ status: 400 });

    for (let i = 0; i < 3; i++)
      await dispatch(api.alice, { target: 'helper', hand: 'summarise', content: `m${i}` });
    const batch = await api.worker.post<{ dispatches: ClaimedDispatch[] }>('/v1/workers/claim', {
      worker_id: 'w1',
      max: 3,
    });
    // The Hand's own concurrency (2) bounds the batch.
    expect(batch.dispatches).toHaveLength(2);
    // A batch naming a dispatch twice is refused whole, naming the field.
    const twice = await errorOf(
      api.worker.post('/v1/workers/complete', {
        worker_id: 'w1',
        results: [0, 1].map(() => ({
          dispatch_id: batch.dispatches[0]?.id,
          attempt: batch.dispatches[0]?.attempt,
          status: 'ok',
        })),
      }),
    );
    expect(twice).toMatchObject({ status: 400 });
    expect(twice?.message).toContain('results');
    const results = await api.worker.post<{ results: unknown[] }>('/v1/workers/complete', {
      worker_id: 'w1',
      results: [
        ...batch.dispatches.map((d) => ({ dispatch_id: d.id, attempt: d.attempt, status: 'ok' })),
        { dispatch_id: '999999', attempt: 1, status: 'ok' },
      ],
    });
    expect(results.results).toEqual([
      { dispatch_id: batch.dispatches[0]?.id, state: 'done' },
      { dispatch_id: batch.dispatches[1]?.id, state: 'done' },
      { dispatch_id: '999999', error: expect.objectContaining({ code: 'conflict' }) },
    ]);
    // Each result is posted in its own thread, reply_to its invocation, and moves the thread.
    const posted = await api.sql.query(
      `SELECT m.reply_to = d.message_id AS replies, m.to_list, m.sender, m.kind, r.recipient,
              t.last_message_id = m.id AS latest
         FROM hand_dispatches d JOIN messages m ON m.id = d.result_message_id
         JOIN message_recipients r ON r.message_id = m.id JOIN threads t ON t.id = m.thread_id
        WHERE d.id = ANY ($1::bigint[])`,
      [batch.dispatches.map((d) => d.id)],
    );
    expect(posted.rows).toEqual(
      batch.dispatches.map(() => ({
        replies: true,
        to_list: ['alice'],
        sender: 'helper',
        kind: 'hand_result',
        recipient: 'alice',
        latest: true,
      })),
    );
    expect((await api.worker.call('POST', '/v1/workers/claim', { worker_id: 'w1', max: 3 })).status).toBe(
      200,
    );
    expect((await api.worker.call('POST', '/v1/workers/claim', { worker_id: 'w1' })).status).toBe(204);
    await admin().call('PUT', '/v1/hands/limits', { n: 1, h: null });
  });

  it('carries the traceparent a worker sends on complete to the hand_result, single and batch (B.60, B.87)', async () => {
    await admin().call('PUT', '/v1/hands/limits', { n: 4, h: 6 });
    const trace = (n: number) => `00-${String(n).padStart(32, '0')}-${String(n).padStart(16, '0')}-01`;
    for (const content of ['single', 'batch a', 'batch b'])
      await dispatch(api.alice, { target: 'helper', hand: 'summarise', content, traceparent: trace(1) });
    const single = (await claim()).body.dispatch;
    expect(single).toMatchObject({ content: 'single', traceparent: trace(1) });
    await api.worker.post(`/v1/workers/dispatches/${single.id}/complete`, {
      worker_id: 'w1',
      attempt: single.attempt,
      status: 'ok',
      traceparent: trace(2),
    });
    const { dispatches: batch } = await api.worker.post<{ dispatches: ClaimedDispatch[] }>(
      '/v1/workers/claim',
      { worker_id: 'w1', max: 2 },
    );
    expect(batch.map((d) => d.content)).toEqual(['batch a', 'batch b']);
    const [first, second] = batch as [ClaimedDispatch, ClaimedDispatch];
    await api.worker.post('/v1/workers/complete', {
      worker_id: 'w1',
      results: [
        { dispatch_id: first.id, attempt: first.attempt, status: 'ok', traceparent: trace(3) },
        { dispatch_id: second.id, attempt: second.attempt, status: 'ok' },
      ],
    });
    const resultTrace = async (id: string) => {
      const { rows } = await api.sql.query<{ traceparent: string | null; id: string }>(
        `SELECT m.id::text AS id, m.traceparent FROM hand_dispatches d JOIN messages m ON m.id = d.result_message_id
          WHERE d.id = $1`,
        [id],
      );
      return rows[0];
    };
    expect((await resultTrace(single.id))?.traceparent).toBe(trace(2));
    expect((await resultTrace(first.id))?.traceparent).toBe(trace(3));
    // Without one, the result continues the dispatch's own trace.
    expect((await resultTrace(second.id))?.traceparent).toBe(trace(1));
    // The dispatcher reads it on the delivered message.
    const { messages } = await api.alice.get<{ messages: Message[] }>(
      `/v1/messages?thread_id=${single.thread_id}`,
    );
    expect(messages.find((m) => m.kind === 'hand_result')).toMatchObject({ traceparent: trace(2) });
    await admin().call('PUT', '/v1/hands/limits', { n: 1, h: null });
  });

  it('a long-poll claim is woken by a dispatch', async () => {
    const started = Date.now();
    const waiting = claim({ wait_s: 10 });
    await new Promise((r) => setTimeout(r, 200));
    await dispatch(api.alice, { target: 'helper', hand: 'summarise', content: 'wake up' });
    const claimed = await waiting;
    expect(claimed.status).toBe(200);
    expect(claimed.body.dispatch.content).toBe('wake up');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
