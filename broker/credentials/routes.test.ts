import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { ConfigError } from '../../platform/index.js';
import type { AuditEntry, CredentialInfo, CredentialListReply, WireError } from '../../protocol/index.js';
import { BrokerClient } from '../../client/index.js';
import {
  adminClient,
  createTestDatabase,
  mintAspectToken,
  startInProcessBroker,
  type TestDatabase,
} from '../../testing/index.js';
import { loadBrokerConfig } from '../config.js';

const errorOf = async (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e: unknown) => e as WireError,
  );

/** A value that must never be seen anywhere but in a fetch reply. */
const canary = () => `canary-${randomBytes(16).toString('hex')}`;

describe('the credential store', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let sql: pg.Client;

  beforeAll(async () => {
    db = await createTestDatabase('credentials');
    broker = await startInProcessBroker({
      databaseUrl: db.url,
      env: { NEXUS_SECRET_KEY: randomBytes(32).toString('base64') },
    });
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await broker?.stop();
    await db?.drop();
  });

  const admin = () => adminClient(broker.url, broker.adminToken);
  const put = (client: BrokerClient, name: string, body: unknown) =>
    client.call<CredentialInfo>('PUT', `/v1/credentials/${name}`, body);
  const list = async () => (await admin().get<CredentialListReply>('/v1/credentials')).credentials;
  const aspectClient = async (name: string) => {
    const { token } = await mintAspectToken(admin(), name);
    return new BrokerClient({ url: broker.url, token });
  };
  const audit = async (action: string) =>
    (await admin().get<{ entries: AuditEntry[] }>(`/v1/audit?action=${action}&limit=1000`)).entries;
  const allAudit = async () => (await admin().get<{ entries: AuditEntry[] }>('/v1/audit?limit=1000')).entries;

  it('stores with 201, replaces with 200, and lists metadata and grants but never the value', async () => {
    const value = canary();
    const created = await put(admin(), 'anthropic', { value, kind: 'api_key', description: 'team key' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: 'anthropic',
      kind: 'api_key',
      description: 'team key',
      grants: [],
    });
    expect(JSON.stringify(created.body)).not.toContain(value);

    const replacement = canary();
    const replaced = await put(admin(), 'anthropic', { value: replacement });
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ name: 'anthropic', kind: 'secret', description: null });
    expect(replaced.body.created_at).toBe(created.body.created_at);
    expect(Date.parse(replaced.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(created.body.updated_at));

    const listed = await list();
    expect(listed).toEqual([replaced.body]);
    expect(JSON.stringify(listed)).not.toContain(value);
    expect(JSON.stringify(listed)).not.toContain(replacement);
    expect((await audit('credential.store')).map((e) => e.details)).toEqual([
      { kind: 'api_key', created: true },
      { kind: 'secret', created: false },
    ]);
  });

  it('keeps only ciphertext in the database: the value appears in no column', async () => {
    const value = canary();
    await put(admin(), 'stored.in-db', { value, description: 'look for me' });
    const { rows } = await sql.query<{ ciphertext: Buffer; nonce: Buffer; row: string }>(
      `SELECT ciphertext, nonce, row_to_json(c)::text AS row FROM credentials c WHERE name = 'stored.in-db'`,
    );
    const row = rows[0];
    if (!row) throw new Error('no row stored');
    expect(row.nonce).toHaveLength(12);
    expect(row.ciphertext.includes(Buffer.from(value))).toBe(false);
    expect(row.ciphertext.toString('utf8')).not.toContain(value);
    expect(row.row).not.toContain(value);
    expect(row.row).not.toContain(Buffer.from(value).toString('hex'));
  });

  it('gives the value to a granted aspect, audits the fetch without the value, and stops after revoke and delete', async () => {
    const value = canary();
    await put(admin(), 'github', { value, kind: 'bearer' });
    const reader = await aspectClient('reader');

    await admin().post('/v1/credentials/github/grants', { aspect: 'reader' });
    await admin().post('/v1/credentials/github/grants', { aspect: 'reader' }); // a repeat is harmless
    expect((await list()).find((c) => c.name === 'github')?.grants).toEqual([
      { aspect: 'reader', granted_by: 'bootstrap' },
    ]);
    expect(await reader.post('/v1/credentials/github/fetch', {})).toEqual({
      name: 'github',
      kind: 'bearer',
      value,
    });

    const fetches = (await audit('credential.fetch')).filter((e) => e.target === 'github');
    expect(fetches).toEqual([
      expect.objectContaining({ actor: 'aspect:reader', outcome: 'allowed', details: { aspect: 'reader' } }),
    ]);
    expect(JSON.stringify(await allAudit())).not.toContain(value);

    await admin().delete('/v1/credentials/github/grants/reader');
    expect(await errorOf(reader.post('/v1/credentials/github/fetch', {}))).toMatchObject({
      status: 403,
      code: 'forbidden',
    });
    expect(await errorOf(admin().delete('/v1/credentials/github/grants/reader'))).toMatchObject({
      code: 'not_found',
    });

    await admin().post('/v1/credentials/github/grants', { aspect: 'reader' });
    await admin().delete('/v1/credentials/github');
    expect((await list()).map((c) => c.name)).not.toContain('github');
    const grants = await sql.query(`SELECT 1 FROM credential_grants WHERE credential = 'github'`);
    expect(grants.rowCount).toBe(0);
    expect(await errorOf(reader.post('/v1/credentials/github/fetch', {}))).toMatchObject({ status: 403 });
    expect(await errorOf(admin().delete('/v1/credentials/github'))).toMatchObject({ code: 'not_found' });
    expect((await audit('credential.delete')).map((e) => e.target)).toContain('github');
  });

  it('records who granted (the token name), and removes a grant by its granter only when asked so (B.95)', async () => {
    await put(admin(), 'shared', { value: canary() });
    const mint = async (body: Record<string, unknown>) =>
      new BrokerClient({
        url: broker.url,
        token: (await admin().post<{ token: string }>('/v1/admin/tokens', body)).token,
      });
    const operator = await mint({ kind: 'admin', name: 'nexus-operator' });
    const frame = await mint({ kind: 'aspect', aspect: 'boss', name: 'operator:team/boss', admin: true });
    await operator.post('/v1/credentials/shared/grants', { aspect: 'alpha' });
    await frame.post('/v1/credentials/shared/grants', { aspect: 'beta' });
    await admin().post('/v1/credentials/shared/grants', { aspect: 'gamma' });
    // A repeat by another token keeps the first granter.
    await admin().post('/v1/credentials/shared/grants', { aspect: 'alpha' });
    const grants = async () => (await list()).find((c) => c.name === 'shared')?.grants;
    expect(await grants()).toEqual([
      { aspect: 'alpha', granted_by: 'nexus-operator' },
      { aspect: 'beta', granted_by: 'operator:team/boss' },
      { aspect: 'gamma', granted_by: 'bootstrap' },
    ]);

    // Another granter's grant is not the operator's to remove: 404, and it stays.
    const notMine = await errorOf(
      operator.delete('/v1/credentials/shared/grants/gamma?granted_by=nexus-operator'),
    );
    expect(notMine).toMatchObject({
      status: 404,
      code: 'not_found',
      message: 'credential shared is not granted to gamma by nexus-operator',
    });
    await operator.delete('/v1/credentials/shared/grants/alpha?granted_by=nexus-operator');
    const granter = encodeURIComponent('operator:team/boss');
    await operator.delete(`/v1/credentials/shared/grants/beta?granted_by=${granter}`);
    expect(await grants()).toEqual([{ aspect: 'gamma', granted_by: 'bootstrap' }]);
    // Without the parameter an admin removes any grant.
    await operator.delete('/v1/credentials/shared/grants/gamma');
    expect(await grants()).toEqual([]);
    expect((await audit('credential.revoke_grant')).map((e) => e.details)).toEqual(
      expect.arrayContaining([{ aspect: 'alpha', granted_by: 'nexus-operator' }, { aspect: 'gamma' }]),
    );

    // The query is strict: an unknown parameter or an empty granter is a 400 that removes nothing.
    await admin().post('/v1/credentials/shared/grants', { aspect: 'alpha' });
    for (const query of ['?grantedby=bootstrap', '?granted_by=', '?granted_by=a&granted_by=b'])
      expect(await errorOf(admin().delete(`/v1/credentials/shared/grants/alpha${query}`))).toMatchObject({
        status: 400,
        code: 'invalid_request',
      });
    expect(await grants()).toEqual([{ aspect: 'alpha', granted_by: 'bootstrap' }]);
  });

  it('answers an unknown name exactly as a credential without a grant, and audits both as denied', async () => {
    await put(admin(), 'exists', { value: canary() });
    const prober = await aspectClient('prober');
    const ungranted = await errorOf(prober.post('/v1/credentials/exists/fetch', {}));
    const unknown = await errorOf(prober.post('/v1/credentials/absent/fetch', {}));
    const shape = (e: WireError | null, name: string) => ({
      status: e?.status,
      code: e?.code,
      message: e?.message.replace(name, 'NAME'),
      details: e?.details,
    });
    expect(shape(ungranted, 'exists')).toEqual({
      status: 403,
      code: 'forbidden',
      message: 'prober holds no grant for a credential named NAME',
      details: undefined,
    });
    expect(shape(unknown, 'absent')).toEqual(shape(ungranted, 'exists'));

    const denied = (await audit('credential.fetch')).filter((e) => e.actor === 'aspect:prober');
    expect(denied.map((e) => [e.target, e.outcome])).toEqual([
      ['exists', 'denied'],
      ['absent', 'denied'],
    ]);
  });

  it('refuses non-admin callers every admin route with 403 admin_required, audited, and changes nothing', async () => {
    const value = canary();
    const intruder = await aspectClient('intruder');
    await put(admin(), 'guarded', { value: canary() });
    const before = await list();

    const attempts: [string, Promise<unknown>][] = [
      ['credential.store', put(intruder, 'guarded', { value })],
      ['credential.list', intruder.get('/v1/credentials')],
      ['credential.delete', intruder.delete('/v1/credentials/guarded')],
      ['credential.grant', intruder.post('/v1/credentials/guarded/grants', { aspect: 'intruder' })],
      ['credential.revoke_grant', intruder.delete('/v1/credentials/guarded/grants/intruder')],
    ];
    for (const [action, attempt] of attempts) {
      expect(await errorOf(attempt)).toMatchObject({ status: 403, code: 'admin_required' });
      expect(await audit(action)).toContainEqual(
        expect.objectContaining({ actor: 'aspect:intruder', outcome: 'denied' }),
      );
    }
    expect(await list()).toEqual(before);
    expect(JSON.stringify(await allAudit())).not.toContain(value);
  });

  it('refuses workers (no dispatch can be held yet) and admin tokens at fetch, audited', async () => {
    await put(admin(), 'for-hands', { value: canary() });
    await admin().post('/v1/credentials/for-hands/grants', { aspect: 'hand-host' });
    const { token } = await admin().post<{ token: string }>('/v1/admin/tokens', {
      kind: 'worker',
      name: 'w1',
    });
    const worker = new BrokerClient({ url: broker.url, token });

    for (const body of [{}, { dispatch_id: '1', worker_id: 'pod-1', attempt: 1 }]) {
      expect(await errorOf(worker.post('/v1/credentials/for-hands/fetch', body))).toMatchObject({
        status: 403,
        code: 'forbidden',
      });
    }
    expect(await errorOf(admin().post('/v1/credentials/for-hands/fetch', {}))).toMatchObject({
      status: 403,
      code: 'forbidden',
    });
    const denied = (await audit('credential.fetch')).filter((e) => e.target === 'for-hands');
    expect(denied.map((e) => [e.actor, e.outcome, (e.details as { reason: string }).reason])).toEqual([
      ['worker:w1', 'denied', 'no dispatch'],
      ['worker:w1', 'denied', 'dispatch not held'],
      ['op:bootstrap', 'denied', 'admin token'],
    ]);
  });

  it('answers bad bodies and names with 400 naming the field, stores nothing and audits nothing', async () => {
    const value = canary();
    const reader = await aspectClient('fussy');
    const auditBefore = (await allAudit()).length;
    const listBefore = await list();
    const cases: [Promise<unknown>, string][] = [
      [put(admin(), 'bad-body', { value: '' }), 'value: must not be empty'],
      [put(admin(), 'bad-body', {}), 'value: '],
      [put(admin(), 'bad-body', { value, extra: value }), 'extra: is not a known field'],
      [put(admin(), 'bad-body', { value, kind: 'Not A Kind' }), 'kind: '],
      [put(admin(), 'bad-body', { value: 'x'.repeat(64 * 1024 + 1) }), 'value: must be at most 64 KiB'],
      [put(admin(), 'Bad_Name', { value }), 'name: must be a DNS-1123 subdomain'],
      [put(admin(), 'x'.repeat(254), { value }), 'name: must be at most 253 characters'],
      [admin().post('/v1/credentials/bad-body/grants', { aspect: 'Not An Aspect' }), 'aspect: '],
      [admin().post('/v1/credentials/bad-body/grants', {}), 'aspect: '],
      [admin().get('/v1/credentials?value=1'), 'value: is not a known field'],
    ];
    for (const [attempt, text] of cases) {
      const err = await errorOf(attempt);
      expect(err).toMatchObject({ status: 400, code: 'invalid_request' });
      expect(err?.message.startsWith(text)).toBe(true);
      expect(JSON.stringify(err)).not.toContain(value);
    }
    const raw = await fetch(`${broker.url}/v1/credentials/bad-body`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${broker.adminToken}`, 'content-type': 'application/json' },
      body: `{"value": "${value}"`,
    });
    expect(raw.status).toBe(400);
    expect(await raw.text()).not.toContain(value);

    for (const [body, text] of [
      [{ dispatch_id: '1' }, 'worker_id: is required'],
      [{ dispatch_id: '1', worker_id: 'w', attempt: 1 }, 'dispatch_id: is sent by worker tokens only'],
      [{ name: 'x' }, 'name: is not a known field'],
    ] as const) {
      const err = await errorOf(reader.post('/v1/credentials/anything/fetch', body));
      expect(err).toMatchObject({ status: 400, code: 'invalid_request' });
      expect(err?.message.startsWith(text)).toBe(true);
    }
    expect(await list()).toEqual(listBefore);
    expect((await allAudit()).length).toBe(auditBefore);
  });

  it('answers 503 on every credential route when the broker has no NEXUS_SECRET_KEY', async () => {
    const keyless = await startInProcessBroker({ databaseUrl: db.url });
    try {
      const adminOfKeyless = adminClient(keyless.url, keyless.adminToken);
      const calls = [
        adminOfKeyless.call('PUT', '/v1/credentials/anthropic', { value: canary() }),
        adminOfKeyless.get('/v1/credentials'),
        adminOfKeyless.delete('/v1/credentials/anthropic'),
        adminOfKeyless.post('/v1/credentials/anthropic/grants', { aspect: 'reader' }),
        adminOfKeyless.delete('/v1/credentials/anthropic/grants/reader'),
        adminOfKeyless.post('/v1/credentials/anthropic/fetch', {}),
      ];
      for (const call of calls) {
        const err = await errorOf(call);
        expect(err).toMatchObject({ status: 503, code: 'unavailable', details: { reason: 'no_secret_key' } });
        expect(err?.message).toContain('NEXUS_SECRET_KEY');
      }
    } finally {
      await keyless.stop();
    }
  });
});

describe('NEXUS_SECRET_KEY', () => {
  const base = { DATABASE_URL: 'postgres://127.0.0.1/unused' };

  it('is read from the variable or from NEXUS_SECRET_KEY_FILE, and is optional', () => {
    const bytes = randomBytes(32);
    expect(
      loadBrokerConfig({ ...base, NEXUS_SECRET_KEY: bytes.toString('base64') }).secretKey?.bytes(),
    ).toEqual(bytes);
    const dir = mkdtempSync(path.join(tmpdir(), 'nexus-key-'));
    try {
      const file = path.join(dir, 'secret-key');
      writeFileSync(file, `${bytes.toString('base64')}\n`, { mode: 0o600 });
      expect(loadBrokerConfig({ ...base, NEXUS_SECRET_KEY_FILE: file }).secretKey?.bytes()).toEqual(bytes);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(loadBrokerConfig(base).secretKey).toBeUndefined();
  });

  it('refuses a key that is not base64 of 32 bytes with an error naming the variable, not the value', () => {
    for (const bad of [
      randomBytes(16).toString('base64'),
      'correct horse battery staple',
      `${randomBytes(32).toString('base64')}x`,
    ]) {
      let caught: unknown;
      try {
        loadBrokerConfig({ ...base, NEXUS_SECRET_KEY: bad });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(ConfigError);
      expect((caught as Error).message).toContain('NEXUS_SECRET_KEY');
      expect((caught as Error).message).not.toContain(bad);
    }
  });
});

describe('credential fetches of a stayed-down aspect', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;

  beforeAll(async () => {
    db = await createTestDatabase('credentials_stay_down');
    broker = await startInProcessBroker({
      databaseUrl: db.url,
      env: { NEXUS_SECRET_KEY: randomBytes(32).toString('base64') },
    });
  });
  afterAll(async () => {
    await broker?.stop();
    await db?.drop();
  });

  it('are refused with stay_down and audited until the stay-down is cleared', async () => {
    const admin = adminClient(broker.url, broker.adminToken);
    await admin.call('PUT', '/v1/credentials/anthropic', { value: canary() });
    await admin.post('/v1/credentials/anthropic/grants', { aspect: 'sleeper' });
    const { token } = await mintAspectToken(admin, 'sleeper');
    const sleeper = new BrokerClient({ url: broker.url, token });
    expect((await sleeper.post<{ name: string }>('/v1/credentials/anthropic/fetch', {})).name).toBe(
      'anthropic',
    );
    await admin.post('/v1/admin/aspects/sleeper/shutdown', {});
    expect(await errorOf(sleeper.post('/v1/credentials/anthropic/fetch', {}))).toMatchObject({
      status: 403,
      code: 'stay_down',
    });
    const audit = await admin.get<{ entries: AuditEntry[] }>('/v1/audit?action=credential.fetch&limit=100');
    expect(audit.entries.at(-1)).toMatchObject({ outcome: 'denied', details: { reason: 'stay_down' } });
    await admin.delete('/v1/admin/aspects/sleeper/shutdown');
    expect((await sleeper.post<{ name: string }>('/v1/credentials/anthropic/fetch', {})).name).toBe(
      'anthropic',
    );
  });
});
