/**
 * Issue 10, test 5 (SPEC section 8, B.4, B.92): a scripted frame uses each admin override through
 * its runtime tools — the dispatch ends aborted, the aspect stays down, its tokens are revoked —
 * and `GET /v1/audit` shows each with the frame as actor. A non-frame aspect that lists the same
 * tools is not offered them, and its direct calls are refused 403 and audited.
 */
import { randomUUID } from 'node:crypto';
import { BrokerClient } from '../client/index.js';
import {
  WireError,
  type AuditEntry,
  type DispatchInfo,
  type RosterEntry,
  type TokenInfo,
} from '../protocol/index.js';
import {
  adminClient,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  registerBody,
  startAgentProcess,
  startBrokerProcess,
  waitUntil,
  writeHome,
  type AgentProcess,
  type BrokerProcess,
  type TestDatabase,
} from '../testing/index.js';

const OVERRIDES = ['abort_dispatch', 'shutdown_aspect', 'revoke_tokens'];

/** What the frame does for each operator message: the script calls one override per message. */
const FRAME_SCRIPT = [
  {
    match: '>\\d+</message>',
    tool_calls: [{ name: 'abort_dispatch', input: { dispatch_id: '{{message.content}}' } }],
    then: 'aborted: {{tool_result}}',
  },
  {
    match: 'shut down victim',
    tool_calls: [{ name: 'shutdown_aspect', input: { name: 'victim' } }],
    then: 'shut down: {{tool_result}}',
  },
  {
    match: 'revoke victim',
    tool_calls: [{ name: 'revoke_tokens', input: { aspect: 'victim' } }],
    then: 'revoked: {{tool_result}}',
  },
];

async function refusal(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (err) {
    if (err instanceof WireError) return err.code;
    throw err;
  }
  throw new Error('the call was not refused');
}

describe('the frame overrides, from its tools', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  const agents: AgentProcess[] = [];
  const bootstrap = newAdminTokenValue();
  let admin: BrokerClient;

  beforeAll(async () => {
    db = await createTestDatabase('frame_overrides');
    broker = await startBrokerProcess({ databaseUrl: db.url, bootstrapToken: bootstrap });
    admin = adminClient(broker.url, bootstrap);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.stop()));
    await broker?.stop();
    await db?.drop();
  });

  const audit = async (query: string) =>
    (await admin.get<{ entries: AuditEntry[] }>(`/v1/audit?${query}`)).entries;

  it('aborts a dispatch, keeps an aspect down and revokes its tokens, each audited with the frame as actor', async () => {
    // The victim offers a Hand; with no worker running, a dispatch to it stays queued.
    const victimToken = await mintAspectToken(admin, 'victim');
    const secondVictimToken = await mintAspectToken(admin, 'victim');
    const victim = new BrokerClient({ url: broker.url, token: victimToken.token });
    await victim.post(
      '/v1/aspects/register',
      registerBody('victim', randomUUID(), { hands: [{ name: 'slow', description: 'takes its time' }] }),
    );
    const dispatch = await admin.post<{ dispatch_id: string }>('/v1/hands/dispatch', {
      target: 'victim',
      hand: 'slow',
      content: 'work',
    });

    const frameHome = await writeHome({
      'aspect.json': {
        name: 'frame',
        role: 'frame',
        context_mode: 'global',
        provider: { kind: 'scripted' },
        tools: ['send_message', ...OVERRIDES],
      },
      'script.json': FRAME_SCRIPT,
    });
    const frameToken = await mintAspectToken(admin, 'frame', { admin: true });
    const frame = startAgentProcess({ home: frameHome, url: broker.url, token: frameToken.token });
    agents.push(frame);
    await frame.waitForLog('"registered"');
    const roster = await admin.get<RosterEntry>('/v1/aspects/frame');
    expect(roster.capabilities).toEqual(expect.arrayContaining(['send_message', ...OVERRIDES]));

    await admin.post('/v1/messages', { content: dispatch.dispatch_id, to: ['frame'] });
    const { value: aborted } = await waitUntil(
      async () => {
        const info = await admin.get<DispatchInfo>(`/v1/hands/dispatches/${dispatch.dispatch_id}`);
        return info.state === 'done' ? info : null;
      },
      { timeoutMs: 30_000, what: 'the frame to abort the dispatch' },
    );
    expect(aborted.result?.status).toBe('aborted');

    await admin.post('/v1/messages', { content: 'shut down victim', to: ['frame'] });
    await waitUntil(async () => (await admin.get<RosterEntry>('/v1/aspects/victim')).stay_down === true, {
      timeoutMs: 30_000,
      what: 'the frame to shut the victim down',
    });
    // It stays down: registering again is refused.
    expect(await refusal(victim.post('/v1/aspects/register', registerBody('victim', randomUUID())))).toBe(
      'stay_down',
    );

    await admin.post('/v1/messages', { content: 'revoke victim', to: ['frame'] });
    await waitUntil(
      async () => {
        const { tokens } = await admin.get<{ tokens: TokenInfo[] }>('/v1/admin/tokens?aspect=victim');
        return tokens.length === 2 && tokens.every((t) => t.revoked_at !== undefined);
      },
      { timeoutMs: 30_000, what: "the frame to revoke the victim's tokens" },
    );
    expect(await refusal(victim.get('/v1/aspects'))).toBe('unauthenticated');

    const byFrame = await audit('actor=aspect:frame&limit=1000');
    const rows = byFrame.map((e) => `${e.action} ${e.target} ${e.outcome}`);
    expect(rows).toEqual(
      expect.arrayContaining([
        `hand.abort ${dispatch.dispatch_id} allowed`,
        'aspect.shutdown victim allowed',
        `token.revoke ${victimToken.id} allowed`,
        `token.revoke ${secondVictimToken.id} allowed`,
      ]),
    );
    expect(byFrame.every((e) => e.token_id === frameToken.id)).toBe(true);
  }, 120_000);

  it('offers a non-frame aspect none of them, and refuses and audits its direct calls', async () => {
    const home = await writeHome({
      'aspect.json': {
        name: 'meddler',
        context_mode: 'global',
        provider: { kind: 'scripted' },
        tools: ['send_message', ...OVERRIDES],
      },
    });
    const { token } = await mintAspectToken(admin, 'meddler');
    const meddlerProcess = startAgentProcess({ home, url: broker.url, token });
    agents.push(meddlerProcess);
    await meddlerProcess.waitForLog('"registered"');
    expect(meddlerProcess.logs()).toContain('admin override offered to the frame only; skipped (B.92)');
    const roster = await admin.get<RosterEntry>('/v1/aspects/meddler');
    expect(roster.capabilities).toEqual(['send_message']);

    // Its token, used directly: each override route refuses it, and each refusal is audited.
    const meddler = new BrokerClient({ url: broker.url, token });
    const target = await mintAspectToken(admin, 'bystander');
    await new BrokerClient({ url: broker.url, token: target.token }).post(
      '/v1/aspects/register',
      registerBody('bystander', randomUUID(), { hands: [{ name: 'h', description: 'a hand' }] }),
    );
    const dispatch = await admin.post<{ dispatch_id: string }>('/v1/hands/dispatch', {
      target: 'bystander',
      hand: 'h',
      content: 'work',
    });
    expect(await refusal(meddler.post(`/v1/hands/dispatches/${dispatch.dispatch_id}/abort`, {}))).toBe(
      'forbidden',
    );
    expect(await refusal(meddler.post('/v1/admin/aspects/bystander/shutdown', {}))).toBe('admin_required');
    expect(await refusal(meddler.get('/v1/admin/tokens?aspect=bystander'))).toBe('admin_required');
    expect(await refusal(meddler.delete(`/v1/admin/tokens/${target.id}`))).toBe('admin_required');

    // Nothing changed.
    expect((await admin.get<DispatchInfo>(`/v1/hands/dispatches/${dispatch.dispatch_id}`)).state).toBe(
      'queued',
    );
    expect((await admin.get<RosterEntry>('/v1/aspects/bystander')).stay_down).toBe(false);
    const { tokens } = await admin.get<{ tokens: TokenInfo[] }>('/v1/admin/tokens?aspect=bystander');
    expect(tokens.map((t) => t.revoked_at)).toEqual([undefined]);

    const { value: denied } = await waitUntil(
      async () => {
        const entries = await audit('actor=aspect:meddler&limit=1000');
        return entries.length >= 4 ? entries : null;
      },
      { timeoutMs: 10_000, what: "the meddler's refusals in the audit log" },
    );
    expect(denied.map((e) => `${e.action} ${e.outcome}`).sort()).toEqual([
      'aspect.shutdown denied',
      'hand.abort denied',
      'token.list denied',
      'token.revoke denied',
    ]);
  }, 120_000);
});
