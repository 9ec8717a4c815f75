/**
 * Hands end to end (issue 5, QUALITY faults 5 and 20): real broker replicas, real `nexus worker`
 * processes, a real Postgres. The hosting aspect is registered over HTTP with a scripted provider
 * whose steps make Hands fast, slow or endless.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { BrokerClient } from '../client/index.js';
import type { DispatchInfo, DispatchReply, LimitsReply } from '../protocol/index.js';
import {
  adminClient,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  registerBody,
  startBrokerProcesses,
  startWorkerProcess,
  waitUntil,
  type BrokerProcess,
  type NexusProcess,
  type TestDatabase,
} from '../testing/index.js';

const script = [
  { match: 'slow', reply: 'slow done', ttft_ms: 1500 },
  { match: 'forever', reply: 'never', ttft_ms: 600_000 },
  { reply: 'done: {{message.content}}' },
];
const hands = [{ name: 'work', description: 'does work', timeout_s: 120, concurrency: 16 }];

describe('Hands with real brokers and workers', () => {
  let db: TestDatabase;
  let brokers: BrokerProcess[];
  let sql: pg.Client;
  let admin: BrokerClient;
  let workerToken: string;
  const bootstrap = newAdminTokenValue();
  const workers: NexusProcess[] = [];
  const dispatchers = new Map<string, BrokerClient>();

  const startWorker = (replica: number, slots: number, workerId?: string) => {
    const w = startWorkerProcess({
      url: (brokers[replica] as BrokerProcess).url,
      token: workerToken,
      slots,
      env: {
        HAND_LEASE_S: '3',
        HAND_LEASE_RENEW_S: '1',
        NEXUS_WORKER_GRACE_S: '1',
        LOG_LEVEL: 'info',
        ...(workerId ? { NEXUS_WORKER_ID: workerId } : {}),
      },
    });
    workers.push(w);
    return w;
  };
  const dispatch = async (from: string, content: string, extra: Record<string, unknown> = {}) => {
    const reply = await (dispatchers.get(from) as BrokerClient).post<DispatchReply>('/v1/hands/dispatch', {
      target: 'helper',
      hand: 'work',
      content,
      ...extra,
    });
    if (reply.state !== 'queued') throw new Error(`dispatch refused: ${JSON.stringify(reply)}`);
    return reply.dispatch_id;
  };
  const info = (id: string) => admin.get<DispatchInfo>(`/v1/hands/dispatches/${id}`);
  /** The dispatch's events in order, a requeue with its reason (events are written just after commit). */
  const transitions = async (id: string) => {
    const read = async () => {
      const { events } = await admin.get<{ events: { kind: string; data: Record<string, unknown> }[] }>(
        '/v1/events?aspect=helper&limit=1000',
      );
      return events
        .filter((e) => e.data.dispatch_id === id)
        .map((e) => (e.kind === 'hand.requeued' ? `${e.kind}:${String(e.data.reason)}` : e.kind));
    };
    return (
      await waitUntil(async () => ((await read()).includes('hand.finished') ? read() : null), {
        timeoutMs: 5000,
        what: `the events of dispatch ${id}`,
      })
    ).value;
  };
  const setLimits = (n: number, h: number) => admin.call<LimitsReply>('PUT', '/v1/hands/limits', { n, h });
  const stopWorkers = async () => {
    await Promise.all(workers.splice(0).map((w) => w.kill()));
    await sql.query('DELETE FROM hand_queue; DELETE FROM hand_running');
  };

  beforeAll(async () => {
    db = await createTestDatabase('hands_e2e');
    brokers = await startBrokerProcesses(2, {
      databaseUrl: db.url,
      bootstrapToken: bootstrap,
      env: { HAND_LEASE_S: '3', HAND_DEADLINE_GRACE_S: '1', HAND_QUEUE_LIMIT: '0' },
    });
    admin = adminClient((brokers[0] as BrokerProcess).url, bootstrap);
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    const { token } = await mintAspectToken(admin, 'helper');
    await new BrokerClient({ url: admin.url, token }).post(
      '/v1/aspects/register',
      registerBody('helper', randomUUID(), { hands, hand_concurrency: 16, script }),
    );
    for (const name of ['alpha', 'beta']) {
      const minted = await mintAspectToken(admin, name);
      const client = new BrokerClient({ url: (brokers[1] as BrokerProcess).url, token: minted.token });
      await client.post('/v1/aspects/register', registerBody(name, randomUUID()));
      dispatchers.set(name, client);
    }
    workerToken = (await admin.post<{ token: string }>('/v1/admin/tokens', { kind: 'worker', name: 'pool' }))
      .token;
  }, 90_000);
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill()));
    await sql?.end();
    await Promise.all((brokers ?? []).map((b) => b.stop()));
    await db?.drop();
  });
  afterEach(stopWorkers);

  it("N=1, H=2: five slow dispatches of alpha, then one of beta: beta starts before alpha's second", async () => {
    await setLimits(1, 2);
    const alphas: string[] = [];
    for (let i = 0; i < 5; i++) alphas.push(await dispatch('alpha', `slow ${i}`));
    const beta = await dispatch('beta', 'slow beta');
    startWorker(0, 3);
    await waitUntil(async () => (await info(alphas[4] as string)).state === 'done', {
      timeoutMs: 60_000,
      what: 'all dispatches done',
    });
    const rows = (
      await sql.query<{
        id: string;
        dispatcher: string;
        started_at: Date;
        finished_at: Date;
        running_at_start: number;
      }>(
        'SELECT id, dispatcher, started_at, finished_at, running_at_start FROM hand_dispatches ORDER BY started_at',
      )
    ).rows;
    const started = (id: string) =>
      (rows.find((r) => r.id === id) as { started_at: Date }).started_at.getTime();
    expect(started(beta)).toBeLessThan(started(alphas[1] as string));
    // Never more than H at once; past N only for a dispatcher with nothing running then (its
    // other runs ended before; 100 ms allow for the claim's clock being its transaction start).
    for (const r of rows) {
      expect(r.running_at_start).toBeLessThan(2);
      if (r.running_at_start < 1) continue;
      const at = r.started_at.getTime();
      const busy = rows.filter(
        (o) =>
          o !== r &&
          o.dispatcher === r.dispatcher &&
          o.started_at.getTime() < at &&
          o.finished_at.getTime() > at + 100,
      );
      expect(busy.map((o) => o.id)).toEqual([]);
    }
    expect((await info(beta)).result).toMatchObject({ status: 'ok', summary: 'slow done' });
  }, 90_000);

  it('40 dispatches claimed by workers on two replicas run exactly once each', async () => {
    await setLimits(8, 8);
    const first = startWorker(0, 4, 'worker-a');
    const second = startWorker(1, 4, 'worker-b');
    // Both workers take part whatever the schedule: eight Hands that run until aborted fill all
    // eight slots, so each worker holds four (a worker never runs more than its slots).
    const blockers: string[] = [];
    for (let i = 0; i < 8; i++) blockers.push(await dispatch(i % 2 ? 'alpha' : 'beta', `forever ${i}`));
    const runningByWorker = async () =>
      (
        await sql.query<{ worker_id: string; n: number }>(
          'SELECT worker_id, count(*)::int AS n FROM hand_running GROUP BY worker_id ORDER BY worker_id',
        )
      ).rows;
    await waitUntil(async () => (await runningByWorker()).reduce((sum, r) => sum + r.n, 0) === 8, {
      timeoutMs: 30_000,
      what: 'eight blocking Hands running, four on each worker',
    });
    expect(await runningByWorker()).toEqual([
      { worker_id: 'worker-a', n: 4 },
      { worker_id: 'worker-b', n: 4 },
    ]);
    // The forty queue behind them (N = 8 is taken); the aborts free every slot at about the same
    // time, so the two workers, on two replicas, race each other for them.
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push(await dispatch(i % 2 ? 'alpha' : 'beta', `quick ${i}`));
    for (const id of blockers) await admin.post(`/v1/hands/dispatches/${id}/abort`, {});
    // Polled in SQL: 40 state calls a round would trip the admin token's rate limit.
    const notDone = async () =>
      (
        await sql.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM hand_dispatches WHERE id = ANY ($1::bigint[]) AND state <> 'done'`,
          [[...ids, ...blockers]],
        )
      ).rows[0]?.n;
    await waitUntil(async () => (await notDone()) === 0, { timeoutMs: 60_000, what: '48 dispatches done' });
    for (const d of await Promise.all(ids.map(info)))
      expect(d).toMatchObject({
        attempt: 1,
        result: { status: 'ok', summary: expect.stringContaining('done: quick') },
      });
    const results = await sql.query<{ reply_to: string; n: string }>(
      `SELECT reply_to, count(*) AS n FROM messages WHERE kind = 'hand_result' AND reply_to IN (
         SELECT message_id FROM hand_dispatches WHERE id = ANY ($1::bigint[])) GROUP BY reply_to`,
      [ids],
    );
    expect(results.rows).toHaveLength(40);
    expect(results.rows.every((r) => r.n === '1')).toBe(true);
    const completions = (first.logs() + second.logs())
      .split('\n')
      .filter((l) => l.includes('dispatch completed') && l.includes('"status":"ok"'));
    expect(completions).toHaveLength(40);
    // Each worker ran and reported its four blocking Hands, and exports its run times.
    let runs = 0;
    for (const w of [first, second]) {
      const metricsUrl = /"metricsUrl":"([^"]+)"/.exec(w.logs())?.[1] as string;
      const text = await (await fetch(metricsUrl)).text();
      expect(text).toMatch(/nexus_hand_run_seconds_count\{status="aborted"\} 4\b/);
      runs += Number(/nexus_hand_run_seconds_count\{status="ok"\} (\d+)/.exec(text)?.[1] ?? 0);
    }
    expect(runs).toBe(40);
  }, 90_000);

  it('SIGKILL of a worker mid-Hand: requeued once as attempt 2; a second loss ends worker_lost', async () => {
    await setLimits(4, 4);
    const id = await dispatch('alpha', 'forever');
    let worker = startWorker(0, 1);
    await waitUntil(async () => (await info(id)).state === 'running', {
      timeoutMs: 20_000,
      what: 'first start',
    });
    await worker.kill();
    worker = startWorker(1, 1);
    await waitUntil(async () => (await info(id)).attempt === 2 && (await info(id)).state === 'running', {
      timeoutMs: 20_000,
      what: 'requeued as attempt 2 and started again',
    });
    const running = await sql.query('SELECT count(*)::int AS n FROM hand_running WHERE dispatch_id = $1', [
      id,
    ]);
    expect(running.rows[0].n).toBe(1);
    await worker.kill();
    await waitUntil(async () => (await info(id)).state === 'done', {
      timeoutMs: 20_000,
      what: 'worker_lost',
    });
    expect((await info(id)).result).toMatchObject({ status: 'worker_lost' });
    // Every transition is an event: the requeue after the first loss too.
    expect(await transitions(id)).toEqual([
      'hand.queued',
      'hand.started',
      'hand.requeued:lease_expired',
      'hand.started',
      'hand.finished',
    ]);
  }, 90_000);

  it('a Hand that never finishes ends timeout at its deadline', async () => {
    const id = await dispatch('alpha', 'forever', { deadline_s: 2 });
    startWorker(0, 1);
    const { elapsedMs } = await waitUntil(async () => (await info(id)).state === 'done' || null, {
      timeoutMs: 20_000,
      what: 'timeout',
    });
    const done = await info(id);
    expect(done.result).toMatchObject({ status: 'timeout' });
    const ranFor = Date.parse(done.finished_at as string) - Date.parse(done.started_at as string);
    expect(ranFor).toBeGreaterThanOrEqual(2000);
    expect(ranFor).toBeLessThan(3 * 3000);
    expect(elapsedMs).toBeLessThan(20_000);
  }, 60_000);

  it('SIGTERM hands a running dispatch back without using its retry; the next worker runs it', async () => {
    await setLimits(4, 4);
    const id = await dispatch('beta', 'slow after term', { deadline_s: 60 });
    const first = startWorker(0, 1);
    await waitUntil(async () => (await info(id)).state === 'running', { timeoutMs: 20_000, what: 'start' });
    // Grace is 1 s and the Hand takes 1.5 s: the worker hands it back rather than finish it.
    expect(await first.stop()).toBe(0);
    expect(first.logs()).toContain('stopping');
    const released = await sql.query('SELECT state, losses FROM hand_dispatches WHERE id = $1', [id]);
    expect(released.rows[0]).toEqual({ state: 'queued', losses: 0 });
    startWorker(1, 1);
    await waitUntil(async () => (await info(id)).state === 'done', { timeoutMs: 20_000, what: 'second run' });
    expect(await info(id)).toMatchObject({ attempt: 2, result: { status: 'ok', summary: 'slow done' } });
    expect(await transitions(id)).toEqual([
      'hand.queued',
      'hand.started',
      'hand.requeued:released',
      'hand.started',
      'hand.finished',
    ]);
  }, 60_000);

  it('aborts a queued dispatch at once and a running one at the next heartbeat', async () => {
    await setLimits(1, 1);
    const runningId = await dispatch('alpha', 'forever');
    const queuedId = await dispatch('alpha', 'forever too');
    startWorker(0, 2);
    await waitUntil(async () => (await info(runningId)).state === 'running', {
      timeoutMs: 20_000,
      what: 'start',
    });
    const alpha = dispatchers.get('alpha') as BrokerClient;
    expect(await alpha.post(`/v1/hands/dispatches/${queuedId}/abort`, {})).toMatchObject({
      state: 'done',
      result: { status: 'aborted' },
    });
    expect(await alpha.post(`/v1/hands/dispatches/${runningId}/abort`, {})).toEqual({ state: 'running' });
    await waitUntil(async () => (await info(runningId)).state === 'done', {
      timeoutMs: 10_000,
      what: 'aborted',
    });
    expect((await info(runningId)).result).toMatchObject({ status: 'aborted' });
  }, 60_000);
  // Last: it kills a replica.
  it('a worker cut off from its broker stops its run once its lease would have expired', async () => {
    await setLimits(4, 4);
    const id = await dispatch('alpha', 'forever');
    const cutOff = startWorker(0, 1);
    await waitUntil(async () => (await info(id)).state === 'running', { timeoutMs: 20_000, what: 'start' });
    await (brokers[0] as BrokerProcess).kill();
    admin = adminClient((brokers[1] as BrokerProcess).url, bootstrap);
    await cutOff.waitForLog('lease lost', 15_000);
    startWorker(1, 1);
    await waitUntil(async () => (await info(id)).attempt === 2 || null, {
      timeoutMs: 20_000,
      what: 'attempt 2',
    });
    const running = await sql.query('SELECT worker_id FROM hand_running WHERE dispatch_id = $1', [id]);
    expect(running.rows).toHaveLength(1);
  }, 60_000);

  it('a Hand whose host is on claude-api with provider.offline runs on its script when no key can be had', async () => {
    const { token } = await mintAspectToken(admin, 'offline-host');
    await new BrokerClient({ url: admin.url, token }).post(
      '/v1/aspects/register',
      registerBody('offline-host', randomUUID(), {
        provider: { kind: 'claude-api', model: 'claude-sonnet-4-5', offline: { kind: 'scripted' } },
        hands,
        script: [{ reply: 'answered offline: {{message.content}}' }],
      }),
    );
    const reply = await (dispatchers.get('alpha') as BrokerClient).post<DispatchReply>('/v1/hands/dispatch', {
      target: 'offline-host',
      hand: 'work',
      content: 'no key here',
    });
    if (reply.state !== 'queued') throw new Error(`dispatch refused: ${JSON.stringify(reply)}`);
    // Replica 1: the test before killed replica 0.
    const worker = startWorker(1, 1);
    const done = await waitUntil(
      async () => {
        const state = await info(reply.dispatch_id);
        return state.state === 'done' ? state : null;
      },
      { timeoutMs: 30_000, what: 'the offline dispatch' },
    );
    expect(done.value.result).toMatchObject({ status: 'ok' });
    expect(done.value.result?.summary).toContain('answered offline');
    expect(worker.logs()).toContain('running offline on the scripted provider');
  });
});
