import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { BrokerClient } from '../client/index.js';
import { WireError } from '../protocol/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  startInProcessBroker,
  type TestDatabase,
} from '../testing/index.js';
import { BrokerUnavailable, OperatorBrokerClient } from './broker-client.js';

const errorOf = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => null,
    (e: unknown) => e,
  );

describe('the operator broker client, against a real broker', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;
  let operatorToken: string;
  const client = (token: () => string = () => operatorToken) =>
    new OperatorBrokerClient({ url: broker.url, token, credentialCacheMs: 0 });

  beforeAll(async () => {
    db = await createTestDatabase('operator_broker_client');
    broker = await startInProcessBroker({
      databaseUrl: db.url,
      env: { NEXUS_SECRET_KEY: randomBytes(32).toString('base64'), NEXUS_STALE_S: '3600' },
    });
    admin = adminClient(broker.url, broker.adminToken);
    operatorToken = (
      await admin.post<{ token: string }>('/v1/admin/tokens', { kind: 'admin', name: 'nexus-operator' })
    ).token;
  });
  afterAll(async () => {
    await broker?.stop();
    await db?.drop();
  });

  it("learns its own token's name from the broker's welcome", async () => {
    expect(await client().whoAmI()).toEqual({ kind: 'admin', name: 'nexus-operator', admin: true });
    const refused = await errorOf(client(() => 'nxo_not-a-token').whoAmI());
    expect(refused).toBeInstanceOf(WireError);
    expect(refused).toMatchObject({ code: 'unauthenticated' });
  });

  it('mints named aspect tokens, lists them by aspect, and revokes them (twice is fine)', async () => {
    const broker = client();
    const first = await broker.mintAspectToken('wren', 'operator:team/wren', false);
    const second = await broker.mintAspectToken('wren', 'operator:team/wren', true);
    await admin.post('/v1/admin/tokens', { kind: 'aspect', aspect: 'wren', name: 'operator:other/wren' });
    expect(first.token).toMatch(/^nxa_/);

    const tokens = await broker.listTokens({ aspect: 'wren', kind: 'aspect' });
    expect(tokens.map((t) => [t.id, t.name, t.admin, t.revoked_at])).toEqual(
      expect.arrayContaining([
        [first.id, 'operator:team/wren', false, null],
        [second.id, 'operator:team/wren', true, null],
      ]),
    );
    expect(tokens).toHaveLength(3);
    expect(JSON.stringify(tokens)).not.toContain(first.token);

    await broker.revokeToken(first.id);
    await broker.revokeToken(first.id);
    await broker.revokeToken('999999999');
    const after = await broker.listTokens({ aspect: 'wren' });
    expect(after.find((t) => t.id === first.id)?.revoked_at).toEqual(expect.any(String));
    expect(after.find((t) => t.id === second.id)?.revoked_at).toBeNull();
  });

  it('reads a roster entry, deregisters, and takes a name that never registered as absent', async () => {
    const broker = client();
    expect(await broker.rosterEntry('never-seen')).toBeUndefined();
    await broker.deregister('never-seen');
    await createAspect(brokerUrl(), admin, 'robin');
    expect(await broker.rosterEntry('robin')).toMatchObject({ status: expect.stringMatching(/live|stale/) });
    await broker.deregister('robin');
    expect(await broker.rosterEntry('robin')).toMatchObject({ status: 'down' });
  });

  it('grants, lists every grant of an aspect, and removes only the grants its own token made (B.95)', async () => {
    const broker = client();
    const { name } = await broker.whoAmI();
    const grantsOf = async (aspect: string) =>
      (await broker.grantsTo(aspect)).map((g) => `${g.credential} by ${g.grantedBy}`).sort();
    await admin.call('PUT', '/v1/credentials/anthropic', { value: 'k1' });
    await admin.call('PUT', '/v1/credentials/github', { value: 'k2' });
    await broker.grant('anthropic', 'wren');
    await broker.grant('github', 'wren');
    await admin.post('/v1/credentials/github/grants', { aspect: 'lark' }); // someone else's
    expect(await grantsOf('wren')).toEqual([`anthropic by ${name}`, `github by ${name}`]);
    expect(await grantsOf('lark')).toEqual(['github by bootstrap']);

    await broker.revokeGrant('github', 'lark', name); // not the operator's: left alone, no error
    await broker.revokeGrant('github', 'wren', name);
    await broker.revokeGrant('github', 'wren', name); // already gone: fine
    expect(await grantsOf('wren')).toEqual([`anthropic by ${name}`]);
    expect(await grantsOf('lark')).toEqual(['github by bootstrap']);

    const unknown = await errorOf(broker.grant('no-such-credential', 'wren'));
    expect(unknown).toBeInstanceOf(WireError);
    expect(unknown).toMatchObject({ code: 'not_found' });
  });

  it('reports the expected roster (B.24)', async () => {
    await client().putExpectedRoster('operator:nexus-system/nexus-operator-0', ['wren', 'robin']);
    const bad = await errorOf(client().putExpectedRoster('x', ['Not A Name']));
    expect(bad).toMatchObject({ code: 'invalid_request' });
  });

  it('reads the token again after a 401, and believes a second 401', async () => {
    const tokens = ['nxo_rotated-away', operatorToken];
    let reads = 0;
    const rotating = client(() => tokens[Math.min(reads++, 1)] as string);
    expect(await rotating.listTokens({ kind: 'admin' })).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'nexus-operator' })]),
    );
    expect(reads).toBe(2);
    const refused = await errorOf(client(() => 'nxo_never-valid').listTokens({}));
    expect(refused).toBeInstanceOf(WireError);
    expect(refused).toMatchObject({ status: 401 });
  });

  it('sees no grants on a broker without NEXUS_SECRET_KEY, where a grant is a refusal', async () => {
    const keyless = await startInProcessBroker({ databaseUrl: db.url });
    try {
      const broker = new OperatorBrokerClient({ url: keyless.url, token: () => keyless.adminToken });
      expect(await broker.grantsTo('wren')).toEqual([]);
      const refused = await errorOf(broker.grant('anthropic', 'wren'));
      expect(refused).toBeInstanceOf(WireError);
      expect(refused).toMatchObject({ status: 503, details: { reason: 'no_secret_key' } });
    } finally {
      await keyless.stop();
    }
  });

  it('turns a refused connection into BrokerUnavailable, naming the URL and never the token', async () => {
    const port = await closedPort();
    const down = new OperatorBrokerClient({ url: `http://127.0.0.1:${port}`, token: () => operatorToken });
    for (const call of [down.listTokens({}), down.rosterEntry('wren'), down.whoAmI()]) {
      const err = await errorOf(call);
      expect(err).toBeInstanceOf(BrokerUnavailable);
      expect((err as Error).message).not.toContain(operatorToken);
    }
    const err = (await errorOf(down.putExpectedRoster('s', []))) as BrokerUnavailable;
    expect(err.message).toMatch(
      new RegExp(`^the broker is unavailable: .+ at http://127\\.0\\.0\\.1:${port}$`),
    );
  });

  const brokerUrl = () => broker.url;
});

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
