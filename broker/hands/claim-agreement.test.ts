/**
 * B.73: the SQL claim (nexus_claim, migration 0006) and the pure rule (fair-share.ts) must agree.
 * Random small pools are written to a real database, claimed by the SQL function inside a
 * transaction that is rolled back, and compared with pickClaims on the same pool.
 */
import fc from 'fast-check';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../../testing/index.js';
import { pickClaims, type PoolState } from './fair-share.js';

const name = fc.constantFrom('a', 'b', 'c');
const HANDS = ['x/h1', 'x/h2', 'y/h1', 'y/h2'];
const pool = fc.record({
  n: fc.integer({ min: 1, max: 4 }),
  extraH: fc.integer({ min: 0, max: 3 }),
  running: fc.array(
    fc.record({ dispatcher: name, target: fc.constantFrom('x', 'y'), hand: fc.constantFrom('h1', 'h2') }),
    {
      maxLength: 5,
    },
  ),
  queued: fc.uniqueArray(
    fc.record({
      id: fc.integer({ min: 1, max: 120 }),
      dispatcher: name,
      target: fc.constantFrom('x', 'y'),
      hand: fc.constantFrom('h1', 'h2'),
    }),
    { selector: (d) => d.id, maxLength: 10 },
  ),
  handCaps: fc.tuple(...HANDS.map(() => fc.integer({ min: 1, max: 3 }))),
  targetCaps: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 })),
  maxes: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 3 }),
});

describe('the SQL claim agrees with the pure fairness rule', () => {
  let db: TestDatabase;
  let client: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase('claim_agreement');
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
    await client.query('INSERT INTO threads (id) VALUES (1)');
  });
  afterAll(async () => {
    await client?.end();
    await db?.drop();
  });

  it('on random pools, whatever the claimers and their max', async () => {
    await fc.assert(
      fc.asyncProperty(pool, async ({ n, extraH, running, queued, handCaps, targetCaps, maxes }) => {
        const state: PoolState = {
          n,
          h: n + extraH,
          running,
          queued: queued.map((d) => ({ ...d, id: String(d.id) })),
          handConcurrency: new Map(HANDS.map((k, i) => [k, handCaps[i] as number])),
          targetConcurrency: new Map([
            ['x', targetCaps[0]],
            ['y', targetCaps[1]],
          ]),
        };
        const expected = pickClaims(
          state,
          maxes.reduce((a, b) => a + b, 0),
        ).map((d) => d.id);

        await client.query('BEGIN');
        try {
          await client.query('INSERT INTO hand_limits (n, h) VALUES ($1, $2)', [state.n, state.h]);
          for (const [key, concurrency] of state.handConcurrency) {
            const [target, hand] = key.split('/');
            await client.query('INSERT INTO hand_caps (target, hand, concurrency) VALUES ($1, $2, $3)', [
              target,
              hand,
              concurrency,
            ]);
          }
          for (const [target, cap] of state.targetConcurrency)
            await client.query('INSERT INTO hand_target_caps (target, hand_concurrency) VALUES ($1, $2)', [
              target,
              cap,
            ]);
          for (const [i, r] of running.entries()) {
            await insertDispatch(client, 1000 + i, r, 'running');
            await client.query(
              `INSERT INTO hand_running (dispatch_id, dispatcher, target, hand, token_id, worker_id, attempt,
                                         lease_expires_at, deadline_at)
               VALUES ($1, $2, $3, $4, 't', 'w', 1, now() + interval '1 minute', now() + interval '1 minute')`,
              [1000 + i, r.dispatcher, r.target, r.hand],
            );
          }
          for (const d of queued) {
            await insertDispatch(client, d.id, d, 'queued');
            await client.query(
              'INSERT INTO hand_queue (dispatch_id, dispatcher, target, hand) VALUES ($1, $2, $3, $4)',
              [d.id, d.dispatcher, d.target, d.hand],
            );
          }
          const { rows } = await client.query<{ claimer: number; dispatch_id: string }>(
            'SELECT claimer, dispatch_id FROM nexus_claim($1, $2, $3, 30)',
            [maxes.map((_, i) => `w${i}`), maxes.map(() => 'token'), maxes],
          );
          expect(rows.map((r) => r.dispatch_id)).toEqual(expected);
          // Claimers are served in order, each up to its max.
          const perClaimer = maxes.map((_, i) => rows.filter((r) => r.claimer === i + 1).length);
          let left = expected.length;
          for (const [i, max] of maxes.entries()) {
            expect(perClaimer[i]).toBe(Math.min(max, left));
            left -= perClaimer[i] as number;
          }
        } finally {
          await client.query('ROLLBACK');
        }
      }),
      { numRuns: 150 },
    );
  });
});

async function insertDispatch(
  client: pg.Client,
  id: number,
  d: { dispatcher: string; target: string; hand: string },
  state: string,
): Promise<void> {
  await client.query(
    `INSERT INTO hand_dispatches (id, target, hand, dispatcher, thread_id, message_id, content, deadline_s,
                                  hand_definition, state)
     VALUES ($1, $2, $3, $4, 1, 0, '', 60, '{}', $5)`,
    [id, d.target, d.hand, d.dispatcher, state],
  );
}
