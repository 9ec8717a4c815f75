/**
 * Fault 6: random arrival and completion schedules over two broker replicas and several claiming
 * workers (fast-check, seed printed). After every round of concurrent claims the dispatches that
 * started must be exactly those the pure rule (fair-share.ts) starts from the same pool: any
 * serial order of claims yields a prefix of one pick sequence, so the set is determined. The
 * rule itself is proven fair and within N and H by broker/hands/fair-share.test.ts.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import pg from 'pg';
import { BrokerClient } from '../client/index.js';
import type { ClaimedDispatch, DispatchReply } from '../protocol/index.js';
import { pickClaims, type PoolState, type QueuedDispatch } from '../broker/hands/fair-share.js';
import {
  adminClient,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  registerBody,
  startBrokerProcesses,
  type BrokerProcess,
  type TestDatabase,
} from '../testing/index.js';

const DISPATCHERS = ['a', 'b', 'c'];
const TARGETS = {
  x: { hand_concurrency: 3, hands: { h1: 2, h2: 3 } },
  y: { hand_concurrency: 2, hands: { h1: 1 } },
} as const;
const HANDS = [
  ['x', 'h1'],
  ['x', 'h2'],
  ['y', 'h1'],
] as const;

type Step =
  | { kind: 'dispatch'; from: number; hand: number; replica: number }
  | { kind: 'claims'; claimers: { max: number; replica: number }[] }
  | { kind: 'complete'; pick: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('dispatch' as const),
      from: fc.nat(2),
      hand: fc.nat(2),
      replica: fc.nat(1),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('claims' as const),
      claimers: fc.array(fc.record({ max: fc.integer({ min: 1, max: 3 }), replica: fc.nat(1) }), {
        minLength: 1,
        maxLength: 4,
      }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('complete' as const), pick: fc.nat(100) }) },
);

describe('fairness and caps under random schedules across two replicas (fault 6)', () => {
  let db: TestDatabase;
  let brokers: BrokerProcess[];
  let sql: pg.Client;
  let admin: BrokerClient;
  const dispatchers: BrokerClient[][] = []; // [dispatcher][replica]
  const workers: BrokerClient[] = []; // [replica]

  beforeAll(async () => {
    db = await createTestDatabase('hands_fairness');
    const bootstrap = newAdminTokenValue();
    brokers = await startBrokerProcesses(2, {
      databaseUrl: db.url,
      bootstrapToken: bootstrap,
      env: { HAND_QUEUE_LIMIT: '0' },
    });
    admin = adminClient((brokers[0] as BrokerProcess).url, bootstrap);
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    for (const [target, spec] of Object.entries(TARGETS)) {
      const { token } = await mintAspectToken(admin, target);
      const hands = Object.entries(spec.hands).map(([name, concurrency]) => ({
        name,
        description: name,
        concurrency,
      }));
      await new BrokerClient({ url: admin.url, token }).post(
        '/v1/aspects/register',
        registerBody(target, randomUUID(), { hands, hand_concurrency: spec.hand_concurrency }),
      );
    }
    for (const name of DISPATCHERS) {
      const { token } = await mintAspectToken(admin, name);
      await new BrokerClient({ url: admin.url, token }).post(
        '/v1/aspects/register',
        registerBody(name, randomUUID()),
      );
      dispatchers.push(brokers.map((b) => new BrokerClient({ url: b.url, token })));
    }
    const worker = await admin.post<{ token: string }>('/v1/admin/tokens', { kind: 'worker', name: 'pool' });
    for (const b of brokers) workers.push(new BrokerClient({ url: b.url, token: worker.token }));
  }, 90_000);
  afterAll(async () => {
    await sql?.end();
    await Promise.all((brokers ?? []).map((b) => b.stop()));
    await db?.drop();
  });

  it('every claim round starts exactly what the fair rule starts; nothing exceeds H', async () => {
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
    console.log(`hands fairness property seed: ${seed} (rerun with FC_SEED=${seed})`);
    const limits = fc.record({ n: fc.integer({ min: 1, max: 3 }), extra: fc.nat(2) });
    await fc.assert(
      fc.asyncProperty(
        limits,
        fc.array(step, { minLength: 5, maxLength: 25 }),
        async ({ n, extra }, steps) => {
          await sql.query('DELETE FROM hand_queue; DELETE FROM hand_running');
          await admin.call('PUT', '/v1/hands/limits', { n, h: n + extra });
          const model: PoolState = {
            n,
            h: n + extra,
            running: [],
            queued: [],
            handConcurrency: new Map(
              Object.entries(TARGETS).flatMap(([t, spec]) =>
                Object.entries(spec.hands).map(([h, c]) => [`${t}/${h}`, c]),
              ),
            ),
            targetConcurrency: new Map(
              Object.entries(TARGETS).map(([t, spec]) => [t, spec.hand_concurrency]),
            ),
          };
          const held = new Map<string, { replica: number; attempt: number; worker: string }>();
          let claimerSerial = 0;
          for (const s of steps) {
            if (s.kind === 'dispatch') {
              const [target, hand] = HANDS[s.hand] as readonly [string, string];
              const from = DISPATCHERS[s.from] as string;
              const client = (dispatchers[s.from] as BrokerClient[])[s.replica] as BrokerClient;
              const reply = await client.post<DispatchReply>('/v1/hands/dispatch', {
                target,
                hand,
                content: 'x',
              });
              if (reply.state !== 'queued') throw new Error(`refused: ${JSON.stringify(reply)}`);
              model.queued.push({ id: reply.dispatch_id, dispatcher: from, target, hand });
            } else if (s.kind === 'claims') {
              const total = s.claimers.reduce((sum, c) => sum + c.max, 0);
              const expected = pickClaims(model, total);
              const replies = await Promise.all(
                s.claimers.map(async (c) => {
                  const workerId = `w${claimerSerial++}`;
                  const { body } = await (workers[c.replica] as BrokerClient).call<{
                    dispatches: ClaimedDispatch[];
                  }>('POST', '/v1/workers/claim', { worker_id: workerId, max: c.max });
                  const got = body?.dispatches ?? [];
                  if (got.length > c.max) throw new Error(`claimer got ${got.length} > max ${c.max}`);
                  for (const d of got)
                    held.set(d.id, { replica: c.replica, attempt: d.attempt, worker: workerId });
                  return got.map((d) => d.id);
                }),
              );
              const started = replies.flat().sort();
              expect(started).toEqual(expected.map((d) => d.id).sort());
              for (const d of expected) {
                model.running.push(d);
                model.queued = model.queued.filter((q) => q !== d);
              }
            } else if (model.running.length > 0) {
              const d = model.running[s.pick % model.running.length] as QueuedDispatch;
              const lease = held.get(d.id) as { replica: number; attempt: number; worker: string };
              await (workers[lease.replica] as BrokerClient).post(`/v1/workers/dispatches/${d.id}/complete`, {
                worker_id: lease.worker,
                attempt: lease.attempt,
                status: 'ok',
              });
              model.running = model.running.filter((r) => r !== d);
            }
          }
          const overH = await sql.query(
            'SELECT id FROM hand_dispatches WHERE running_at_start >= $1 AND started_at IS NOT NULL AND id = ANY ($2::bigint[])',
            [n + extra, [...held.keys()]],
          );
          expect(overH.rows).toEqual([]);
        },
      ),
      { numRuns: 40, seed },
    );
  }, 240_000);
});
