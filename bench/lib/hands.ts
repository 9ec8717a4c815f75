/**
 * Set-up shared by the Hands benchmarks (`claim`, `dispatch-start`, `noisy-neighbour`): the hosting
 * aspect and its no-op Hand, pre-enqueued dispatches written straight in SQL, the baselines
 * (graphile-worker 0.17.3 and raw `FOR UPDATE SKIP LOCKED`), and a lean keep-alive JSON client.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { Logger, run, runMigrations, type Runner, type Task } from 'graphile-worker';
import { HandDeclaration } from '../../protocol/index.js';
import { BrokerClient } from '../../client/index.js';
import { mintAspectToken, registerBody } from '../../testing/index.js';

/** The hosting aspect and its Hand; concurrency at the schema's maximum so only N and H bind. */
export const TARGET = 'helper';
export const HAND_NAME = 'noop';
export const HAND = HandDeclaration.parse({
  name: HAND_NAME,
  description: 'does nothing',
  timeout_s: 600,
  concurrency: 64,
});
export const TARGET_CONCURRENCY = 64;

/** graphile-worker logs a line per job by default; a silent logger keeps that out of the timings. */
export const silentLogger = new Logger(() => () => undefined);

/** Registers the hosting aspect with its Hand over the API; returns nothing a worker needs. */
export async function registerTarget(url: string, admin: BrokerClient, hand = HAND): Promise<void> {
  const { token } = await mintAspectToken(admin, TARGET);
  await new BrokerClient({ url, token }).post(
    '/v1/aspects/register',
    registerBody(TARGET, randomUUID(), { hands: [hand], hand_concurrency: TARGET_CONCURRENCY }),
  );
}

/** A worker token (B.75): what `nexus worker` authenticates with. */
export async function mintWorkerToken(admin: BrokerClient, name = 'bench-pool'): Promise<string> {
  return (await admin.post<{ token: string }>('/v1/admin/tokens', { kind: 'worker', name })).token;
}

/** N and H in the database's limits row (B.76), as `PUT /v1/hands/limits` writes them. */
export async function setLimits(client: pg.ClientBase, n: number, h: number): Promise<void> {
  await client.query(
    `INSERT INTO hand_limits (n, h) VALUES ($1, $2) ON CONFLICT (only_row) DO UPDATE SET n = $1, h = $2`,
    [n, h],
  );
}

/**
 * Queues `count` dispatches of the no-op Hand in one statement, as `POST /v1/hands/dispatch` would
 * leave them (a thread each with the dispatcher as participant, the `hand` message and its
 * recipient row, the dispatch, its queue row), dispatchers taking turns in id order; and the
 * Hand's and target's caps as a dispatch writes them.
 */
export async function seedDispatches(
  client: pg.ClientBase,
  dispatchers: readonly string[],
  count: number,
): Promise<void> {
  await client.query(
    `WITH s AS (
       SELECT i, nextval('thread_ids') AS thread_id, nextval('message_ids') AS message_id,
              nextval('dispatch_ids') AS dispatch_id, ($3::text[])[1 + i % cardinality($3::text[])] AS dispatcher
         FROM generate_series(0, $4::integer - 1) i),
     th AS (INSERT INTO threads (id, last_message_id) SELECT thread_id, message_id FROM s),
     tp AS (INSERT INTO thread_participants (thread_id, participant) SELECT thread_id, dispatcher FROM s),
     m AS (INSERT INTO messages (id, thread_id, sender, to_list, kind, hand, content)
           SELECT message_id, thread_id, dispatcher, ARRAY[$1], 'hand', $2, 'noop' FROM s),
     mr AS (INSERT INTO message_recipients (recipient, message_id) SELECT $1, message_id FROM s),
     d AS (INSERT INTO hand_dispatches (id, target, hand, dispatcher, thread_id, message_id, content,
                                        deadline_s, hand_definition)
           SELECT dispatch_id, $1, $2, dispatcher, thread_id, message_id, 'noop', 600, $5 FROM s)
     INSERT INTO hand_queue (dispatch_id, dispatcher, target, hand) SELECT dispatch_id, dispatcher, $1, $2 FROM s`,
    [TARGET, HAND_NAME, dispatchers, count, JSON.stringify(HAND)],
  );
  await client.query(
    `INSERT INTO hand_caps (target, hand, concurrency) VALUES ($1, $2, $3)
     ON CONFLICT (target, hand) DO UPDATE SET concurrency = EXCLUDED.concurrency`,
    [TARGET, HAND_NAME, HAND.concurrency],
  );
  await client.query(
    `INSERT INTO hand_target_caps (target, hand_concurrency) VALUES ($1, $2)
     ON CONFLICT (target) DO UPDATE SET hand_concurrency = EXCLUDED.hand_concurrency`,
    [TARGET, TARGET_CONCURRENCY],
  );
}

// --- raw SKIP LOCKED baseline -------------------------------------------------------------------

/** A plain job table: the usual SKIP LOCKED queue (claim marks the row, complete deletes it). */
export async function createRawJobs(client: pg.ClientBase): Promise<void> {
  await client.query(`CREATE TABLE IF NOT EXISTS bench_raw_jobs (
    id bigserial PRIMARY KEY,
    queue text NOT NULL,
    payload jsonb NOT NULL,
    locked_by text,
    locked_at timestamptz
  )`);
  await client.query(
    'CREATE INDEX IF NOT EXISTS bench_raw_jobs_free ON bench_raw_jobs (id) WHERE locked_at IS NULL',
  );
}

export async function seedRawJobs(
  client: pg.ClientBase,
  queues: readonly string[],
  count: number,
): Promise<void> {
  await client.query(
    `INSERT INTO bench_raw_jobs (queue, payload)
     SELECT ($1::text[])[1 + i % cardinality($1::text[])], jsonb_build_object('i', i)
       FROM generate_series(0, $2::integer - 1) i`,
    [queues, count],
  );
}

const RAW_CLAIM = {
  name: 'bench_raw_claim',
  text: `UPDATE bench_raw_jobs j SET locked_by = $1, locked_at = now()
           FROM (SELECT id FROM bench_raw_jobs WHERE locked_at IS NULL ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) n
          WHERE j.id = n.id
      RETURNING j.id, j.queue, j.payload`,
};
const RAW_COMPLETE = { name: 'bench_raw_complete', text: 'DELETE FROM bench_raw_jobs WHERE id = $1' };

/** Claims the oldest free job, or null when none is left. */
export async function rawClaim(client: pg.ClientBase, worker: string): Promise<string | null> {
  const { rows } = await client.query<{ id: string }>({ ...RAW_CLAIM, values: [worker] });
  return rows[0]?.id ?? null;
}

export async function rawComplete(client: pg.ClientBase, id: string): Promise<void> {
  await client.query({ ...RAW_COMPLETE, values: [id] });
}

// --- graphile-worker baseline -------------------------------------------------------------------

/** Installs graphile-worker's schema (not timed). */
export async function graphileMigrate(connectionString: string): Promise<void> {
  await runMigrations({ connectionString, logger: silentLogger });
}

/** Queues `count` no-op jobs with graphile-worker's own `add_job`, in one statement. */
export async function seedGraphileJobs(client: pg.ClientBase, count: number): Promise<void> {
  await client.query(
    `SELECT graphile_worker.add_job('noop', json_build_object('i', i)) FROM generate_series(0, $1::integer - 1) i`,
    [count],
  );
}

/** A graphile-worker runner with `concurrency` and the given task, defaults otherwise. */
export async function startGraphile(
  connectionString: string,
  concurrency: number,
  noop: Task,
): Promise<Runner> {
  return run({
    connectionString,
    concurrency,
    noHandleSignals: true,
    logger: silentLogger,
    taskList: { noop },
  });
}

// --- a lean HTTP client ------------------------------------------------------------------------

export interface JsonReply<T> {
  status: number;
  body: T | null;
}

/**
 * JSON over keep-alive HTTP/1.1 with `node:http` (no fetch, no schema checks), like the lean
 * socket client of the other benchmarks: what it costs is the broker's, not the client's.
 */
export class JsonHttp {
  private readonly agent: http.Agent;
  private readonly base: URL;

  constructor(
    url: string,
    private readonly token: string,
    maxSockets = 16,
  ) {
    this.base = new URL(url);
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  post<T>(path: string, body: unknown): Promise<JsonReply<T>> {
    const payload = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: this.base.hostname,
          port: this.base.port,
          path,
          method: 'POST',
          agent: this.agent,
          headers: {
            authorization: `Bearer ${this.token}`,
            'content-type': 'application/json',
            'content-length': payload.length,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            const status = res.statusCode ?? 0;
            if (status >= 300) return reject(new Error(`POST ${path}: ${status} ${text}`));
            resolve({ status, body: text ? (JSON.parse(text) as T) : null });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** What a claim reply carries that the benchmarks use. */
export interface Claimed {
  id: string;
  attempt: number;
  dispatcher: string;
  content: string;
}

export const okResult = (d: Claimed) => ({
  dispatch_id: d.id,
  attempt: d.attempt,
  status: 'ok',
  summary: '',
});
