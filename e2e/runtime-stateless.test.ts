/**
 * Stateless context mode end to end (section 7, B.22, B.59): one provider call with no tools per
 * `chat` message addressed to the aspect by name, the reply sent to the sender in the same thread
 * as `reply_to` the message, and nothing written to `session/`.
 */
import { randomBytes } from 'node:crypto';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { createAspect, useClaudeAspect, waitUntil } from '../testing/index.js';

describe('a stateless aspect', () => {
  const env = useClaudeAspect('runtime_stateless');
  const apiKey = `sk-ant-test-${randomBytes(12).toString('hex')}`;

  it('answers each message addressed to it with one tool-less call, as a reply in its thread, keeping no session', async () => {
    const { broker, double } = env;
    const { home } = await env.start({ name: 'oracle', apiKey, aspect: { context_mode: 'stateless' } });
    const seeker = await createAspect(broker.url, env.admin(), 'seeker');
    await seeker.connect(broker.url);
    const before = double.messageRequests().length;

    double.reply({ text: 'Forty-two.' });
    const question = await seeker.http.post<{ id: string; thread_id: string }>('/v1/messages', {
      content: 'What is the answer?',
      to: ['oracle'],
    });
    await waitUntil(() => seeker.received.length > 0, { timeoutMs: 20_000, what: 'the reply' });
    expect(seeker.received[0]).toMatchObject({
      from: 'oracle',
      to: ['seeker'],
      kind: 'chat',
      thread_id: question.thread_id,
      reply_to: question.id,
      content: 'Forty-two.',
    });
    const [call] = double.messageRequests().slice(before);
    const body = call?.body as { tools?: unknown[]; messages: unknown[]; system: unknown };
    expect(body.tools ?? []).toEqual([]);
    expect(body.messages).toHaveLength(1);
    expect(JSON.stringify(body.messages)).toContain('What is the answer?');

    // In its thread but not addressed by name (B.59): no call, no reply. Then one that is.
    await seeker.http.post('/v1/messages', { content: 'thanks, everyone', thread_id: question.thread_id });
    double.reply({ text: 'Still forty-two.' });
    const again = await seeker.http.post<{ id: string }>('/v1/messages', {
      content: 'Are you sure?',
      to: ['oracle'],
      thread_id: question.thread_id,
    });
    await waitUntil(() => seeker.received.length > 1, { timeoutMs: 20_000, what: 'the second reply' });
    expect(seeker.received[1]).toMatchObject({ reply_to: again.id, content: 'Still forty-two.' });
    const calls = double.messageRequests().slice(before);
    expect(calls).toHaveLength(2);
    expect(JSON.stringify(calls[1]?.body)).not.toContain('thanks, everyone');
    expect(seeker.received).toHaveLength(2);

    await expect(access(path.join(home, 'session'))).rejects.toMatchObject({ code: 'ENOENT' });
    seeker.socket?.close();
  });
});
