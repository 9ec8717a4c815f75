import { randomBytes } from 'node:crypto';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  mintAspectToken,
  newAdminTokenValue,
  startAgentProcess,
  startAnthropicDouble,
  startBrokerProcess,
  waitUntil,
  writeHome,
  type AgentProcess,
  type AnthropicDouble,
  type BrokerProcess,
  type TestDatabase,
} from '../testing/index.js';

describe('thread sessions are reaped when idle and reopened by replay', () => {
  let db: TestDatabase;
  let broker: BrokerProcess;
  let double: AnthropicDouble;
  let agent: AgentProcess | undefined;
  const bootstrap = newAdminTokenValue();

  beforeAll(async () => {
    db = await createTestDatabase('runtime_thread_reap');
    broker = await startBrokerProcess({
      databaseUrl: db.url,
      bootstrapToken: bootstrap,
      env: { NEXUS_SECRET_KEY: randomBytes(32).toString('base64') },
    });
    double = await startAnthropicDouble();
  });

  afterAll(async () => {
    await agent?.stop();
    await broker?.stop();
    await double?.stop();
    await db?.drop();
  });

  it('reaps an idle thread session, and its next message is answered with the replayed context', async () => {
    const admin = adminClient(broker.url, bootstrap);
    await admin.call('PUT', '/v1/credentials/anthropic', { value: 'sk-ant-reap-test' });
    await admin.post('/v1/credentials/anthropic/grants', { aspect: 'tern' });
    const { token } = await mintAspectToken(admin, 'tern');
    const home = await writeHome({
      'aspect.json': {
        name: 'tern',
        context_mode: 'thread',
        provider: { kind: 'claude-api', model: 'claude-sonnet-4-5', base_url: double.url },
        tools: ['send_message'],
        thread_idle_reap_s: 1,
        thread_sweep_interval_s: 1,
      },
    });
    agent = startAgentProcess({ home, url: broker.url, token });
    await agent.waitForLog('"registered"');
    const peer = await createAspect(broker.url, admin, 'peer');

    double.reply({ text: 'noted' });
    const first = await peer.http.post<{ id: string; thread_id: string }>('/v1/messages', {
      content: 'remember: the boat is called Kestrel',
      to: ['tern'],
    });
    await waitUntil(() => double.messageRequests().length >= 1, {
      timeoutMs: 20_000,
      what: 'the first turn',
    });
    // Idle for over a second, then a sweep: the thread's session is closed and forgotten.
    await agent.waitForLog(`"sids":["${first.thread_id}"]`, 20_000);
    expect(agent.logs()).toContain('idle thread sessions reaped');

    double.reply({ text: 'Kestrel' });
    await peer.http.post('/v1/messages', {
      content: 'what is the boat called?',
      thread_id: first.thread_id,
    });
    await waitUntil(() => double.messageRequests().length >= 2, {
      timeoutMs: 20_000,
      what: 'the second turn',
    });
    const sent = JSON.stringify((double.messageRequests()[1]?.body as { messages: unknown }).messages);
    expect(sent).toContain('the boat is called Kestrel');
    expect(sent).toContain('noted');
    expect(sent).toContain('what is the boat called?');
  });
});
