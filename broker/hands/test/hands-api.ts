/**
 * The set-up the Hands API tests share: an in-process broker on its own database with a Hand host
 * (`helper`), two dispatchers (`alice`, `bob`) and a worker token (`pool`). Call inside `describe`:
 * it registers the hooks and fills the returned object in `beforeAll`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { BrokerClient } from '../../../client/index.js';
import type { ClaimedDispatch, DispatchReply, WireError } from '../../../protocol/index.js';
import {
  adminClient,
  createTestDatabase,
  mintAspectToken,
  registerBody,
  startInProcessBroker,
  type TestDatabase,
} from '../../../testing/index.js';

export const hands = [
  { name: 'summarise', description: 'summarises text', timeout_s: 30, concurrency: 2 },
  {
    name: 'lookup',
    description: 'looks a word up',
    allowed_invokers: ['alice'],
    input_schema: { type: 'object', properties: { word: { type: 'string' } }, required: ['word'] },
  },
];

export const errorOf = async (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as WireError,
  );

export type InProcessBroker = Awaited<ReturnType<typeof startInProcessBroker>>;

export interface HandsApi {
  broker: InProcessBroker;
  sql: pg.Client;
  alice: BrokerClient;
  bob: BrokerClient;
  worker: BrokerClient;
  admin(): BrokerClient;
  register(name: string, extra?: Record<string, unknown>): Promise<BrokerClient>;
  dispatch(
    client: BrokerClient,
    body: Record<string, unknown>,
  ): Promise<{ status: number; body: DispatchReply }>;
  claim(body?: Record<string, unknown>): Promise<{ status: number; body: { dispatch: ClaimedDispatch } }>;
  count(table: string): Promise<number>;
}

/** `env` adds to the broker's settings; by default a queue bound of 5 and N = 1 keep tests small. */
export function useHandsApi(
  databaseName: string,
  env: Record<string, string> = { HAND_QUEUE_LIMIT: '5', HAND_SOFT_CAP: '1' },
): HandsApi {
  let db: TestDatabase;
  const api = {} as HandsApi;
  api.admin = () => adminClient(api.broker.url, api.broker.adminToken);
  api.register = async (name, extra = {}) => {
    const { token } = await mintAspectToken(api.admin(), name);
    const client = new BrokerClient({ url: api.broker.url, token });
    await client.post('/v1/aspects/register', registerBody(name, randomUUID(), extra));
    return client;
  };
  api.dispatch = (client, body) => client.call<DispatchReply>('POST', '/v1/hands/dispatch', body);
  api.claim = (body = {}) =>
    api.worker.call<{ dispatch: ClaimedDispatch }>('POST', '/v1/workers/claim', { worker_id: 'w1', ...body });
  api.count = async (table) => Number((await api.sql.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);

  beforeAll(async () => {
    db = await createTestDatabase(databaseName);
    api.broker = await startInProcessBroker({
      databaseUrl: db.url,
      env: {
        NEXUS_SECRET_KEY: randomBytes(32).toString('base64'),
        ...env,
      },
    });
    api.sql = new pg.Client({ connectionString: db.url });
    await api.sql.connect();
    await api.register('helper', { hands, hand_concurrency: 2 });
    api.alice = await api.register('alice');
    api.bob = await api.register('bob');
    const workerToken = await api.admin().post<{ token: string }>('/v1/admin/tokens', {
      kind: 'worker',
      name: 'pool',
    });
    api.worker = new BrokerClient({ url: api.broker.url, token: workerToken.token });
  });
  afterAll(async () => {
    await api.sql?.end();
    await api.broker?.stop();
    await db?.drop();
  });
  beforeEach(async () => {
    await api.sql.query('DELETE FROM hand_queue; DELETE FROM hand_running');
  });
  return api;
}
