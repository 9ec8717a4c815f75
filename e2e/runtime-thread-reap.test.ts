import { createAspect, useClaudeAspect, waitUntil } from '../testing/index.js';

describe('thread sessions are reaped when idle and reopened by replay', () => {
  const env = useClaudeAspect('runtime_thread_reap');

  it('reaps an idle thread session, and its next message is answered with the replayed context', async () => {
    const { broker, double } = env;
    const { agent } = await env.start({
      name: 'tern',
      apiKey: 'sk-ant-reap-test',
      aspect: { context_mode: 'thread', thread_idle_reap_s: 1, thread_sweep_interval_s: 1 },
    });
    const admin = env.admin();
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
