/**
 * B.82: a credential that cannot be fetched is a failure before the turn begins. The batch stays
 * unacknowledged and is retried with backoff, each failure an `error` event, and is answered once
 * the credential is granted; nothing is recorded as a failed turn.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  createAspect,
  mintAspectToken,
  startAgentProcess,
  useClaudeAspect,
  waitUntil,
  writeHome,
  type AgentProcess,
} from '../testing/index.js';

describe('a turn whose provider credential cannot be fetched (B.82)', () => {
  const env = useClaudeAspect('runtime_credential_wait');
  let agent: AgentProcess | undefined;
  afterAll(async () => {
    await agent?.stop();
  });

  it('leaves the batch unacknowledged, retries it, and answers once the credential is granted', async () => {
    const { broker, double } = env;
    const admin = env.admin();
    await admin.call('PUT', '/v1/credentials/anthropic', {
      value: `sk-ant-test-${randomBytes(12).toString('hex')}`,
    });
    const { token } = await mintAspectToken(admin, 'patient');
    const home = await writeHome({
      'aspect.json': {
        name: 'patient',
        context_mode: 'global',
        provider: { kind: 'claude-api', model: 'claude-sonnet-4-5', base_url: double.url },
        tools: ['send_message'],
      },
    });
    const asker = await createAspect(broker.url, admin, 'asker');
    await asker.connect(broker.url);
    agent = startAgentProcess({ home, url: broker.url, token });
    await agent.waitForLog('"registered"');
    const acked = async () =>
      (JSON.parse(await readFile(path.join(home, 'state.json'), 'utf8')) as { last_processed_id: string })
        .last_processed_id;
    const before = await acked();
    const requestsBefore = double.messageRequests().length;

    const question = await asker.http.post<{ id: string }>('/v1/messages', {
      content: 'ready?',
      to: ['patient'],
    });
    await waitUntil(
      async () =>
        (
          await admin.get<{ events: { data: { error?: string } }[] }>('/v1/events?aspect=patient&kind=error')
        ).events.filter((e) => e.data.error?.includes('credential could not be fetched')).length >= 2,
      { timeoutMs: 20_000, what: 'two refused credential fetches' },
    );
    expect(await acked()).toBe(before);
    expect(double.messageRequests().length).toBe(requestsBefore);
    const session = await readFile(path.join(home, 'session', 'global.jsonl'), 'utf8').catch(() => '');
    expect(session).not.toContain('turn.user');

    double.reply({ toolCalls: [{ name: 'send_message', input: { content: 'ready now' } }] });
    double.reply({ text: 'done' });
    await admin.post('/v1/credentials/anthropic/grants', { aspect: 'patient' });
    await waitUntil(() => asker.received.length > 0, {
      timeoutMs: 30_000,
      what: 'the answer after the grant',
    });
    expect(asker.received.map((m) => m.content)).toEqual(['ready now']);
    await waitUntil(async () => (await acked()) === question.id, { timeoutMs: 20_000, what: 'the ack' });
    asker.socket?.close();
  });
});
