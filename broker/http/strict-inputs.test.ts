/**
 * B.8 on every route: bodies and queries are strict. A body on a route that takes none, an
 * unknown body field and an unknown query key are each `400 invalid_request` naming the field,
 * and change nothing. One row per route of the broker; a new route gets a row here.
 */
import { randomBytes } from 'node:crypto';
import type { BrokerClient } from '../../client/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  openStateProbe,
  rawRequest,
  startInProcessBroker,
  type TestAspect,
  type TestDatabase,
} from '../../testing/index.js';

type Caller = 'admin' | 'worker' | 'aspect';

interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  /** Who calls it: validation must answer before any other check that caller would meet. */
  caller: Caller;
  /** A valid body for routes that take one; absent for routes that take none. */
  body?: Record<string, unknown>;
}

const lease = { worker_id: 'w1', attempt: 1 };
const entry = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
const registration = {
  name: 'victim',
  context_mode: 'global',
  provider: { kind: 'scripted' },
  instance_id: 'another-instance',
  pid: 1,
  started_at: '2026-01-01T00:00:00.000Z',
  runtime_version: 'test',
};
const ROUTES: Route[] = [
  // roster
  { method: 'POST', path: '/v1/aspects/register', caller: 'aspect', body: registration },
  { method: 'POST', path: '/v1/aspects/heartbeat', caller: 'aspect', body: { instance_id: 'i' } },
  { method: 'POST', path: '/v1/aspects/deregister', caller: 'aspect', body: { instance_id: 'i' } },
  { method: 'GET', path: '/v1/aspects', caller: 'admin' },
  { method: 'GET', path: '/v1/aspects/victim', caller: 'admin' },
  // bus
  { method: 'POST', path: '/v1/messages', caller: 'aspect', body: { content: 'x', to: ['peer'] } },
  { method: 'GET', path: '/v1/messages', caller: 'admin' },
  { method: 'GET', path: '/v1/threads', caller: 'admin' },
  { method: 'GET', path: '/v1/threads/1', caller: 'admin' },
  // admin
  { method: 'POST', path: '/v1/admin/tokens', caller: 'admin', body: { kind: 'worker', name: 'w' } },
  { method: 'GET', path: '/v1/admin/tokens', caller: 'admin' },
  { method: 'DELETE', path: '/v1/admin/tokens/999999', caller: 'admin' },
  { method: 'POST', path: '/v1/admin/aspects/victim/shutdown', caller: 'admin', body: {} },
  { method: 'DELETE', path: '/v1/admin/aspects/downed/shutdown', caller: 'admin' },
  { method: 'DELETE', path: '/v1/admin/aspects/victim', caller: 'admin' },
  { method: 'GET', path: '/v1/audit', caller: 'admin' },
  { method: 'GET', path: '/v1/events', caller: 'admin' },
  { method: 'GET', path: '/v1/admin/duties', caller: 'admin' },
  // hands
  {
    method: 'POST',
    path: '/v1/hands/dispatch',
    caller: 'aspect',
    body: { target: 'victim', hand: 'h', content: 'x' },
  },
  { method: 'GET', path: '/v1/hands/dispatches/1', caller: 'admin' },
  { method: 'POST', path: '/v1/hands/dispatches/1/abort', caller: 'admin', body: {} },
  { method: 'GET', path: '/v1/hands/limits', caller: 'admin' },
  { method: 'PUT', path: '/v1/hands/limits', caller: 'admin', body: { n: 3 } },
  { method: 'GET', path: '/v1/hands/queue', caller: 'admin' },
  { method: 'POST', path: '/v1/workers/claim', caller: 'worker', body: { worker_id: 'w1' } },
  { method: 'POST', path: '/v1/workers/dispatches/1/heartbeat', caller: 'worker', body: lease },
  { method: 'POST', path: '/v1/workers/dispatches/1/release', caller: 'worker', body: lease },
  {
    method: 'POST',
    path: '/v1/workers/dispatches/1/complete',
    caller: 'worker',
    body: { ...lease, status: 'ok' },
  },
  {
    method: 'POST',
    path: '/v1/workers/complete',
    caller: 'worker',
    body: { worker_id: 'w1', results: [{ dispatch_id: '1', attempt: 1, status: 'ok' }] },
  },
  // session control
  { method: 'POST', path: '/v1/aspects/victim/rewind', caller: 'admin', body: { target_entry_id: entry } },
  { method: 'POST', path: '/v1/aspects/victim/compact', caller: 'admin', body: {} },
  {
    method: 'POST',
    path: '/v1/aspects/victim/summarise-branch',
    caller: 'admin',
    body: { from_entry_id: entry },
  },
  { method: 'POST', path: '/v1/aspects/victim/activate', caller: 'admin', body: { sid: 'global' } },
  { method: 'POST', path: '/v1/aspects/victim/fork', caller: 'admin', body: { source_entry_id: entry } },
  { method: 'GET', path: '/v1/aspects/victim/sessions', caller: 'admin' },
  { method: 'GET', path: '/v1/aspects/victim/sessions/global/tree', caller: 'admin' },
  { method: 'GET', path: '/v1/aspects/victim/control/1', caller: 'admin' },
  // credentials
  { method: 'PUT', path: '/v1/credentials/key', caller: 'admin', body: { value: 'secret' } },
  { method: 'GET', path: '/v1/credentials', caller: 'admin' },
  { method: 'DELETE', path: '/v1/credentials/key', caller: 'admin' },
  { method: 'POST', path: '/v1/credentials/key/grants', caller: 'admin', body: { aspect: 'victim' } },
  { method: 'DELETE', path: '/v1/credentials/key/grants/victim', caller: 'admin' },
  { method: 'POST', path: '/v1/credentials/key/fetch', caller: 'aspect', body: {} },
  // alarms, the expected roster
  {
    method: 'POST',
    path: '/v1/alarms',
    caller: 'aspect',
    body: { to: ['peer'], content: 'x', every_s: 3600 },
  },
  { method: 'GET', path: '/v1/alarms', caller: 'admin' },
  { method: 'DELETE', path: '/v1/alarms/999999', caller: 'admin' },
  { method: 'PUT', path: '/v1/admin/expected-roster', caller: 'admin', body: { source: 's', aspects: [] } },
  // knowledge
  { method: 'POST', path: '/v1/knowledge', caller: 'aspect', body: { topic: 't', content: 'c' } },
  { method: 'GET', path: '/v1/knowledge/search', caller: 'admin' },
  { method: 'POST', path: '/v1/knowledge/search', caller: 'aspect', body: { q: 'x' } },
  { method: 'GET', path: '/v1/knowledge', caller: 'admin' },
  { method: 'DELETE', path: '/v1/knowledge/999999', caller: 'admin' },
];

describe('strict bodies and queries on every route (B.8)', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;
  let victim: TestAspect;
  let workerToken: string;
  let probe: Awaited<ReturnType<typeof openStateProbe>>;

  beforeAll(async () => {
    db = await createTestDatabase('strict_inputs');
    broker = await startInProcessBroker({
      databaseUrl: db.url,
      env: {
        NEXUS_RATE_LIMITS: 'off',
        NEXUS_STALE_S: '3600',
        NEXUS_SECRET_KEY: randomBytes(32).toString('base64'),
      },
    });
    admin = adminClient(broker.url, broker.adminToken);
    victim = await createAspect(broker.url, admin, 'victim');
    await createAspect(broker.url, admin, 'peer');
    // A stayed-down aspect, so clearing its stay-down would show in the state.
    await admin.post('/v1/admin/aspects/downed/shutdown', {});
    await admin.call('PUT', '/v1/credentials/key', { value: 'secret' });
    await admin.post('/v1/credentials/key/grants', { aspect: 'victim' });
    workerToken = (await admin.post<{ token: string }>('/v1/admin/tokens', { kind: 'worker', name: 'pool' }))
      .token;
    probe = await openStateProbe(db.url);
  });
  afterAll(async () => {
    await probe?.end();
    await broker?.stop();
    await db?.drop();
  });

  const tokenOf = (caller: Caller) =>
    caller === 'admin' ? broker.adminToken : caller === 'worker' ? workerToken : victim.token;

  /** Sends the request and expects 400 invalid_request with an issue at `field`, and no state change. */
  async function expectRefused(
    route: Route,
    request: { path: string; body?: string },
    field: string,
  ): Promise<void> {
    const before = await probe.fingerprint();
    const response = await rawRequest(broker.url, {
      method: route.method,
      path: request.path,
      token: tokenOf(route.caller),
      ...(request.body === undefined ? {} : { body: request.body }),
    });
    const error = (response.json as { error?: { code: string; details?: { issues?: unknown[] } } }).error;
    expect({ route: `${route.method} ${request.path}`, status: response.status, code: error?.code }).toEqual({
      route: `${route.method} ${request.path}`,
      status: 400,
      code: 'invalid_request',
    });
    expect(error?.details?.issues).toContainEqual({ path: field, message: 'is not a known field' });
    expect(await probe.fingerprint()).toBe(before);
  }

  const withBody = ROUTES.filter((r) => r.body !== undefined);
  const withoutBody = ROUTES.filter((r) => r.body === undefined);

  it.each(withoutBody.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s refuses a body, which it does not take',
    async (_name, route) => {
      await expectRefused(route, { path: route.path, body: JSON.stringify({ surprise: 1 }) }, 'surprise');
    },
  );

  it.each(withBody.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s refuses an unknown body field',
    async (_name, route) => {
      await expectRefused(
        route,
        { path: route.path, body: JSON.stringify({ ...route.body, surprise: 1 }) },
        'surprise',
      );
    },
  );

  it.each(ROUTES.map((r) => [`${r.method} ${r.path}`, r] as const))(
    '%s refuses an unknown query key',
    async (_name, route) => {
      await expectRefused(
        route,
        {
          path: `${route.path}?surprise=1`,
          ...(route.body === undefined ? {} : { body: JSON.stringify(route.body) }),
        },
        'surprise',
      );
    },
  );
});
