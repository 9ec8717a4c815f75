/**
 * Property-based fuzzing of every HTTP body and of paths and queries (QUALITY fault 18): arbitrary
 * JSON, mutated valid bodies and raw text never get a 5xx, every error has the wire shape and names
 * the field, and a body the protocol schema refuses changes no state. fast-check prints the seed
 * and the shrunk counterexample of a failure; `fc.assert(…, { seed, path })` replays it.
 */
import { randomUUID } from 'node:crypto';
import { parse as parseQuery } from 'node:querystring';
import fc from 'fast-check';
import { z } from 'zod';
import {
  AlarmListQuery,
  AlarmRequest,
  AuditQuery,
  BatchCompleteRequest,
  ClaimRequest,
  DeregisterRequest,
  DispatchRequest,
  EventsQuery,
  ExpectedRosterRequest,
  HeartbeatRequest,
  HistoryQuery,
  KnowledgeListQuery,
  KnowledgeSearchQuery,
  KnowledgeSearchRequest,
  MintTokenRequest,
  RegisterRequest,
  SendRequest,
  StoreKnowledgeRequest,
  ThreadsQuery,
  TokenListQuery,
  nulCharacterIssue,
} from '../../protocol/index.js';
import type { BrokerClient } from '../../client/index.js';
import {
  adminClient,
  anyJson,
  anyText,
  createAspect,
  createTestDatabase,
  errorProblem,
  mutatedBody,
  openStateProbe,
  rawRequest,
  registerBody,
  startInProcessBroker,
  type TestAspect,
  type TestDatabase,
} from '../../testing/index.js';

const RUNS = 200;
/** Generous: a loaded machine makes each request slow, and this is a bound on failure, not a timing assertion. */
const FUZZ_TIMEOUT_MS = 300_000;

describe('HTTP fuzzing', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;
  let fuzzer: TestAspect;
  let workerToken: string;
  let probe: Awaited<ReturnType<typeof openStateProbe>>;

  beforeAll(async () => {
    db = await createTestDatabase('http_fuzz');
    broker = await startInProcessBroker({
      databaseUrl: db.url,
      env: { NEXUS_RATE_LIMITS: 'off', NEXUS_STALE_S: '3600' },
    });
    admin = adminClient(broker.url, broker.adminToken);
    fuzzer = await createAspect(broker.url, admin, 'fuzzer');
    await createAspect(broker.url, admin, 'fuzz-peer');
    workerToken = (await admin.post<{ token: string }>('/v1/admin/tokens', { kind: 'worker', name: 'fuzz' }))
      .token;
    probe = await openStateProbe(db.url);
  });
  afterAll(async () => {
    await probe?.end();
    await broker?.stop();
    await db?.drop();
  });

  /** Whether the broker would accept `body` as far as validation goes: the schema and the NUL rule. */
  const acceptable = (schema: z.ZodType, body: unknown) =>
    schema.safeParse(body).success && nulCharacterIssue(body) === null;

  /**
   * Sends one fuzzed request and checks the properties. `valid` says whether the input passes
   * validation (else it must be refused with 400, or 413 when oversize, and change nothing);
   * `readOnly` requests never change state either way.
   */
  async function check(request: {
    method: 'GET' | 'POST' | 'PUT' | 'DELETE';
    path: string;
    token: string;
    body?: string;
    valid: boolean;
    readOnly?: boolean;
  }): Promise<void> {
    const before = await probe.fingerprint();
    const response = await rawRequest(broker.url, {
      method: request.method,
      path: request.path,
      token: request.token,
      ...(request.body === undefined ? {} : { body: request.body }),
    });
    const context = `${request.method} ${request.path} ${request.body?.slice(0, 200) ?? ''} -> ${response.status} ${response.text.slice(0, 300)}`;
    if (response.status >= 500) throw new Error(`5xx: ${context}`);
    if (response.status >= 400) {
      const problem = errorProblem(response.json, 'body');
      if (problem) throw new Error(`${problem}: ${context}`);
    }
    if (!request.valid && response.status !== 400 && response.status !== 413)
      throw new Error(`invalid input not refused with 400: ${context}`);
    if ((!request.valid || request.readOnly) && (await probe.fingerprint()) !== before)
      throw new Error(`state changed: ${context}`);
  }

  interface BodyRoute {
    method?: 'PUT';
    path: string;
    schema: z.ZodType;
    token: () => string;
    valid: fc.Arbitrary<Record<string, unknown>>;
  }
  const instanceId = () => fuzzer.instanceId;
  const bodyRoutes: BodyRoute[] = [
    {
      path: '/v1/aspects/register',
      schema: RegisterRequest,
      token: () => fuzzer.token,
      valid: fc
        .record({
          extra: fc.constantFrom(
            {},
            { hands: [{ name: 'h', description: 'a hand' }] },
            { metadata: { a: 1 } },
          ),
        })
        .map(({ extra }) => registerBody('fuzzer', instanceId(), extra)),
    },
    {
      path: '/v1/aspects/heartbeat',
      schema: HeartbeatRequest,
      token: () => fuzzer.token,
      valid: fc.nat().map((n) => ({
        instance_id: instanceId(),
        stats: { sessions: [{ sid: 'global', tokens: n, window: 200_000 }], compactions: 0, inbox_depth: 0 },
      })),
    },
    {
      path: '/v1/aspects/deregister',
      schema: DeregisterRequest,
      token: () => fuzzer.token,
      valid: fc.constantFrom(randomUUID(), 'x').map((id) => ({ instance_id: id })),
    },
    {
      path: '/v1/messages',
      schema: SendRequest,
      token: () => fuzzer.token,
      valid: fc.string({ maxLength: 50 }).map((content) => ({
        content,
        to: ['fuzz-peer'],
        idempotency_key: `k-${content.length}`,
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        input: { n: content.length },
      })),
    },
    {
      path: '/v1/hands/dispatch',
      schema: DispatchRequest,
      token: () => fuzzer.token,
      // fuzz-peer offers no Hands: a valid body is refused with a result envelope, storing nothing.
      valid: fc.string({ maxLength: 50 }).map((content) => ({
        target: 'fuzz-peer',
        hand: 'summarise',
        content,
        input: { n: content.length },
        deadline_s: 60,
        idempotency_key: `d-${content.length}`,
      })),
    },
    {
      path: '/v1/workers/claim',
      schema: ClaimRequest,
      token: () => workerToken,
      valid: fc.record({ worker_id: fc.constantFrom('w-1', 'pod-a'), max: fc.integer({ min: 1, max: 32 }) }),
    },
    {
      path: '/v1/workers/complete',
      schema: BatchCompleteRequest,
      token: () => workerToken,
      valid: fc.constantFrom({
        worker_id: 'w-1',
        results: [{ dispatch_id: '12345', attempt: 1, status: 'ok' }],
      }),
    },
    {
      path: '/v1/knowledge',
      schema: StoreKnowledgeRequest,
      token: () => fuzzer.token,
      valid: fc
        .record({ topic: fc.string({ minLength: 1, maxLength: 20 }), content: fc.string({ minLength: 1 }) })
        .map(({ topic, content }) => ({
          topic: `t ${topic}`,
          content: `c ${content}`,
          shared: content.length % 2 === 0,
        })),
    },
    {
      path: '/v1/knowledge/search',
      schema: KnowledgeSearchRequest,
      token: () => fuzzer.token,
      valid: fc
        .string({ maxLength: 40 })
        .map((q) => ({ q: `q ${q}`, top_k: 3, scope: 'own,shared,peer:fuzz-peer' })),
    },
    {
      path: '/v1/admin/tokens',
      schema: MintTokenRequest,
      token: () => broker.adminToken,
      valid: fc.constantFrom(
        { kind: 'worker', name: 'pool' },
        { kind: 'aspect', aspect: 'fuzz-peer' },
        { kind: 'aspect', aspect: 'fuzz-frame', admin: true },
      ),
    },
    {
      path: '/v1/alarms',
      schema: AlarmRequest,
      token: () => fuzzer.token,
      // Due in a far year, so no firing changes the state while the fuzzing runs.
      valid: fc.string({ maxLength: 50 }).map((content) => ({
        to: ['fuzz-peer', 'fuzzer'],
        content,
        at: '2999-01-01T00:00:00Z',
      })),
    },
    {
      method: 'PUT',
      path: '/v1/admin/expected-roster',
      schema: ExpectedRosterRequest,
      token: () => broker.adminToken,
      // Only registered, live aspects: the roster duty has nothing to report (NEXUS_STALE_S is an hour).
      valid: fc.constantFrom(
        { source: 'fuzz', aspects: ['fuzz-peer'] },
        { source: 'operator:fuzz/x', aspects: ['fuzzer', 'fuzz-peer'] },
      ),
    },
  ];

  it.each(bodyRoutes.map((route) => [`${route.method ?? 'POST'} ${route.path}`, route] as const))(
    '%s: arbitrary JSON, mutated valid bodies and raw text never get a 5xx, and refused bodies change nothing',
    async (_path, route) => {
      const input = fc.oneof(
        anyJson.map((value) => ({ text: JSON.stringify(value), value: value as unknown, json: true })),
        mutatedBody(route.valid).map(({ text, value }) => ({ text, value, json: true })),
        anyText.map((text) => ({ text, value: undefined as unknown, json: false })),
      );
      await fc.assert(
        fc.asyncProperty(input, async ({ text, value, json }) => {
          let parsedOk = json;
          if (!json) {
            try {
              value = JSON.parse(text);
              parsedOk = true;
            } catch {
              parsedOk = false;
            }
          }
          // An empty body reads as {} (routes that take no fields accept a bare POST).
          if (text === '') value = {};
          const valid = (parsedOk || text === '') && acceptable(route.schema, value);
          await check({
            method: route.method ?? 'POST',
            path: route.path,
            token: route.token(),
            body: text,
            valid,
          });
        }),
        { numRuns: RUNS },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'GET queries with arbitrary parameters never get a 5xx and are refused by field',
    async () => {
      const queries: Record<string, z.ZodType> = {
        '/v1/messages': HistoryQuery,
        '/v1/threads': ThreadsQuery,
        '/v1/audit': AuditQuery,
        '/v1/events': EventsQuery,
        '/v1/admin/tokens': TokenListQuery,
        '/v1/alarms': AlarmListQuery,
        '/v1/knowledge/search': KnowledgeSearchQuery,
        '/v1/knowledge': KnowledgeListQuery,
      };
      const param = fc.tuple(
        fc.oneof(
          fc.constantFrom(
            'thread_id',
            'after',
            'before',
            'limit',
            'order',
            'actor',
            'action',
            'aspect',
            'kind',
            'q',
            'top_k',
            'scope',
            'from_agent',
          ),
          fc.string({ unit: 'binary', maxLength: 8 }),
        ),
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 30 }),
          fc.constantFrom(
            '0',
            '1',
            '-1',
            '1000',
            '1001',
            'asc',
            'desc',
            'own,shared',
            'peer:fuzz-peer',
            'x'.repeat(5000),
            '\u0000',
            '99999999999999999999',
          ),
        ),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...Object.keys(queries)),
          fc.array(param, { maxLength: 4 }),
          async (path, params) => {
            const query = new URLSearchParams(params).toString();
            // The broker reads queries with Node's querystring: repeated keys become arrays.
            const valid = acceptable(queries[path] as z.ZodType, { ...parseQuery(query) });
            await check({
              method: 'GET',
              path: `${path}?${query}`,
              token: broker.adminToken,
              valid,
              readOnly: true,
            });
          },
        ),
        { numRuns: RUNS },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    'path parameters of any text never get a 5xx',
    async () => {
      // Text is percent-encoded into the path; the raw ones are sent as they are (bad escapes, %00).
      const segment = fc.oneof(
        fc.string({ unit: 'binary', maxLength: 30 }).map(encodeURIComponent),
        fc.constantFrom('0', '1', '-1', '9223372036854775808', '..', 'op:bootstrap').map(encodeURIComponent),
        fc.constantFrom('%', '%E0%A4%A', '%zz', '%00', '%C0%80', '%F0%9F'),
      );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(
            'GET /v1/threads/',
            'GET /v1/aspects/',
            'GET /v1/hands/dispatches/',
            'DELETE /v1/admin/tokens/x',
            'DELETE /v1/alarms/x',
            'DELETE /v1/knowledge/x',
          ),
          segment,
          async (route, text) => {
            const [method, prefix] = route.split(' ') as ['GET' | 'DELETE', string];
            // Deleting by a syntactically good id would delete real rows: DELETE prefixes end in "x", so
            // only malformed ids are sent there.
            const path = prefix + text;
            await check({ method, path, token: broker.adminToken, valid: method === 'GET', readOnly: true });
          },
        ),
        { numRuns: RUNS },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it('still serves after all of it', async () => {
    expect((await rawRequest(broker.url, { method: 'GET', path: '/healthz' })).status).toBe(200);
    expect((await admin.call('GET', '/v1/aspects')).status).toBe(200);
    const sent = await admin.call('POST', '/v1/messages', { content: 'alive', to: ['fuzz-peer'] });
    expect((await admin.call('GET', '/v1/hands/limits')).status).toBe(200);
    expect(sent.status).toBe(201);
  });
});
