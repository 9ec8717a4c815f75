import { BrokerClient } from '../../client/index.js';
import { WireError, type AuditEntry, type MintTokenReply, type TokenInfo } from '../../protocol/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  rawRequest,
  startInProcessBroker,
  stateSnapshot,
  waitUntil,
  type TestDatabase,
} from '../../testing/index.js';

describe('admin routes', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;

  beforeAll(async () => {
    db = await createTestDatabase('admin_routes');
    broker = await startInProcessBroker({ databaseUrl: db.url, env: { NEXUS_STALE_S: '3600' } });
    admin = adminClient(broker.url, broker.adminToken);
  });
  afterAll(async () => {
    await broker?.stop();
    await db?.drop();
  });

  const errorOf = (p: Promise<unknown>): Promise<WireError | null> =>
    p.then(
      () => null,
      (e: unknown) => e as WireError,
    );
  const audit = async (query: string) =>
    (await admin.get<{ entries: AuditEntry[] }>(`/v1/audit?${query}`)).entries;
  const clientFor = (token: string) => new BrokerClient({ url: broker.url, token });

  it('mints a token whose value is shown once, lists it without the value, and revokes it', async () => {
    const minted = await admin.call<MintTokenReply>('POST', '/v1/admin/tokens', {
      kind: 'worker',
      name: 'pool-a',
    });
    expect(minted.status).toBe(201);
    expect(minted.body).toMatchObject({ kind: 'worker', name: 'pool-a', admin: false });
    expect(minted.body.token).toMatch(/^nxw_[A-Za-z0-9_-]{43}$/);

    const listed = await rawRequest(broker.url, {
      method: 'GET',
      path: '/v1/admin/tokens?kind=worker',
      token: broker.adminToken,
    });
    expect(listed.status).toBe(200);
    expect(listed.text).not.toContain(minted.body.token);
    const tokens = (listed.json as { tokens: TokenInfo[] }).tokens;
    expect(tokens).toContainEqual(expect.objectContaining({ id: minted.body.id, kind: 'worker' }));

    expect((await clientFor(minted.body.token).call('GET', '/v1/aspects')).status).toBe(200);
    expect((await admin.call('DELETE', `/v1/admin/tokens/${minted.body.id}`)).status).toBe(204);
    expect(await errorOf(clientFor(minted.body.token).get('/v1/aspects'))).toMatchObject({
      status: 401,
      code: 'unauthenticated',
    });
    const revoked = await admin.get<{ tokens: TokenInfo[] }>('/v1/admin/tokens?kind=worker');
    expect(revoked.tokens.find((t) => t.id === minted.body.id)?.revoked_at).toBeDefined();
    const rows = await audit('action=token.mint');
    expect(rows.map((r) => r.target)).toContain(minted.body.id);
  });

  it('mints aspect tokens with a name and lists them by aspect and kind with that name (B.25)', async () => {
    const named = await admin.post<MintTokenReply>('/v1/admin/tokens', {
      kind: 'aspect',
      aspect: 'wren',
      name: 'operator:team-a/wren',
    });
    expect(named).toMatchObject({
      kind: 'aspect',
      aspect: 'wren',
      name: 'operator:team-a/wren',
      admin: false,
    });
    const plain = await admin.post<MintTokenReply>('/v1/admin/tokens', { kind: 'aspect', aspect: 'wren' });
    await admin.post('/v1/admin/tokens', { kind: 'aspect', aspect: 'other', name: 'operator:team-a/other' });
    const { tokens } = await admin.get<{ tokens: TokenInfo[] }>('/v1/admin/tokens?aspect=wren&kind=aspect');
    expect(tokens.map((t) => [t.id, t.name])).toEqual(
      expect.arrayContaining([
        [named.id, 'operator:team-a/wren'],
        [plain.id, undefined],
      ]),
    );
    expect(tokens.every((t) => t.aspect === 'wren' && t.kind === 'aspect')).toBe(true);
    expect(JSON.stringify(tokens)).not.toContain(named.token);
  });

  it('lists tokens by exact name, with the other filters, and refuses a bad name naming the field', async () => {
    const named = await admin.post<MintTokenReply>('/v1/admin/tokens', {
      kind: 'aspect',
      aspect: 'finch',
      name: 'operator:team-b/finch',
    });
    await admin.post('/v1/admin/tokens', { kind: 'aspect', aspect: 'finch', name: 'operator:team-b/finch2' });
    const byName = (query: string) =>
      admin.get<{ tokens: TokenInfo[] }>(`/v1/admin/tokens?${query}`).then((r) => r.tokens.map((t) => t.id));
    const name = encodeURIComponent('operator:team-b/finch');
    expect(await byName(`name=${name}`)).toEqual([named.id]);
    expect(await byName(`name=${name}&aspect=finch&kind=aspect`)).toEqual([named.id]);
    expect(await byName(`name=${name}&kind=worker`)).toEqual([]);
    expect(await byName('name=operator%3Ateam-b%2F')).toEqual([]); // exact, not a prefix

    for (const [query, message] of [
      ['name=', /^name: must not be empty/],
      [`name=${'n'.repeat(254)}`, /^name: must be at most 253 characters/],
      ['name=a&name=b', /^name: /],
      ['name=a%00b', /^name: must not contain the NUL character/],
      ['names=a', /^names: is not a known field/],
    ] as const) {
      const err = await errorOf(admin.get(`/v1/admin/tokens?${query}`));
      expect({ query, status: err?.status, code: err?.code }).toEqual({
        query,
        status: 400,
        code: 'invalid_request',
      });
      expect(err?.message).toMatch(message);
      expect(err?.message).not.toContain('\n');
    }
  });

  it('validates the mint body: names the field and changes nothing', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ kind: 'aspect' }, /^aspect: is required/],
      [{ kind: 'admin' }, /^name: is required/],
      [{ kind: 'admin', name: 'Not A Label' }, /^name: must be a DNS-1123 label/],
      [{ kind: 'worker', admin: true }, /^admin: /],
      [{ kind: 'root' }, /^kind: /],
      [{ kind: 'worker', secret: 'x' }, /^secret: is not a known field/],
    ];
    for (const [body, message] of cases) {
      const before = await stateSnapshot(admin);
      const err = await errorOf(admin.post('/v1/admin/tokens', body));
      expect(err).toMatchObject({ status: 400, code: 'invalid_request' });
      expect(err?.message).toMatch(message);
      expect(await stateSnapshot(admin)).toEqual(before);
    }
  });

  it('refuses a second live admin token with the same name with 409 conflict', async () => {
    await admin.post('/v1/admin/tokens', { kind: 'admin', name: 'alex' });
    const before = await stateSnapshot(admin);
    expect(await errorOf(admin.post('/v1/admin/tokens', { kind: 'admin', name: 'alex' }))).toMatchObject({
      status: 409,
      code: 'conflict',
    });
    expect(await stateSnapshot(admin)).toEqual(before);
  });

  describe('called with a token that is not admin', () => {
    const routes: {
      method: 'GET' | 'POST' | 'DELETE';
      path: () => string;
      action: string;
      body?: unknown;
    }[] = [
      {
        method: 'POST',
        path: () => '/v1/admin/tokens',
        action: 'token.mint',
        body: { kind: 'admin', name: 'evil' },
      },
      { method: 'GET', path: () => '/v1/admin/tokens', action: 'token.list' },
      { method: 'DELETE', path: () => `/v1/admin/tokens/${bootstrapId}`, action: 'token.revoke' },
      {
        method: 'POST',
        path: () => '/v1/admin/aspects/victim/shutdown',
        action: 'aspect.shutdown',
        body: {},
      },
      { method: 'DELETE', path: () => '/v1/admin/aspects/victim/shutdown', action: 'aspect.shutdown_clear' },
      { method: 'DELETE', path: () => '/v1/admin/aspects/victim', action: 'aspect.deregister' },
      { method: 'GET', path: () => '/v1/audit', action: 'audit.read' },
      { method: 'GET', path: () => '/v1/admin/duties', action: 'duties.read' },
    ];
    let bootstrapId: string;

    beforeAll(async () => {
      const { tokens } = await admin.get<{ tokens: TokenInfo[] }>('/v1/admin/tokens?kind=admin');
      bootstrapId = tokens.find((t) => t.name === 'bootstrap')?.id as string;
      await createAspect(broker.url, admin, 'victim');
    });

    it.each(['aspect', 'worker'])(
      'answers a %s token 403 admin_required on every admin route, audits each attempt and changes nothing',
      async (kind) => {
        const minted = await admin.post<MintTokenReply>(
          '/v1/admin/tokens',
          kind === 'aspect' ? { kind, aspect: 'intruder' } : { kind, name: 'intruder' },
        );
        const intruder = clientFor(minted.token);
        for (const route of routes) {
          const before = await stateSnapshot(admin);
          const err = await errorOf(intruder.call(route.method, route.path(), route.body));
          expect({ route: route.path(), err }).toMatchObject({
            route: route.path(),
            err: { status: 403, code: 'admin_required' },
          });
          expect(await stateSnapshot(admin)).toEqual(before);
        }
        const rows = await waitUntil(
          async () => {
            const found = await audit(`actor=${encodeURIComponent(`${kind}:intruder`)}&limit=1000`);
            return found.length >= routes.length ? found : null;
          },
          { timeoutMs: 5000, what: 'one audit row per refused call' },
        );
        expect(rows.value.map((r) => r.action).sort()).toEqual(routes.map((r) => r.action).sort());
        for (const row of rows.value) expect(row).toMatchObject({ outcome: 'denied', token_id: minted.id });
        // The admin token still works and the victim is untouched.
        expect(await admin.get('/v1/aspects/victim')).toMatchObject({ status: 'live', stay_down: false });
      },
    );

    it('lets an admin-scoped aspect token pass admin checks (B.4)', async () => {
      const minted = await admin.post<MintTokenReply>('/v1/admin/tokens', {
        kind: 'aspect',
        aspect: 'framey',
        admin: true,
      });
      expect(minted.admin).toBe(true);
      expect((await clientFor(minted.token).call('GET', '/v1/admin/duties')).status).toBe(200);
    });
  });
});
