/**
 * A stateless answer (B.22) taken again — after a stay-down or a restart redelivered its message —
 * is answered anew by the model, with other words, under the same idempotency key: the broker
 * refuses the new body (B.8), and the first answer stands instead of failing the batch.
 */
import type { BrokerClient } from '../../client/index.js';
import { createLogger } from '../../platform/index.js';
import type { Message } from '../../protocol/index.js';
import {
  adminClient,
  createAspect,
  createTestDatabase,
  startInProcessBroker,
  type TestDatabase,
} from '../../testing/index.js';
import { createScriptedProvider } from '../providers/scripted.js';
import { callWithRetry } from '../providers/registry.js';
import { retryingPoster } from './broker-retry.js';
import { answerStatelessly } from './stateless.js';

describe('answerStatelessly', () => {
  let db: TestDatabase;
  let broker: Awaited<ReturnType<typeof startInProcessBroker>>;
  let admin: BrokerClient;

  beforeAll(async () => {
    db = await createTestDatabase('stateless_answer');
    broker = await startInProcessBroker({ databaseUrl: db.url, env: { NEXUS_STALE_S: '3600' } });
    admin = adminClient(broker.url, broker.adminToken);
  });
  afterAll(async () => {
    await broker?.stop();
    await db?.drop();
  });

  it('keeps the first answer when the same message is answered again in other words', async () => {
    const oracle = await createAspect(broker.url, admin, 'oracle');
    const sent = await admin.post<{ id: string; thread_id: string }>('/v1/messages', {
      content: 'what is the answer?',
      to: ['oracle'],
    });
    const [question] = (await admin.get<{ messages: Message[] }>(`/v1/messages?thread_id=${sent.thread_id}`))
      .messages;
    const answer = (reply: string) =>
      answerStatelessly(question as Message, {
        self: 'oracle',
        systemPrompt: 'you are an oracle',
        provider: createScriptedProvider({ script: [{ reply }] }),
        call: callWithRetry(() => null),
        broker: retryingPoster(oracle.http, { windowMs: 0 }, createLogger({ name: 't', level: 'silent' })),
        model: 'scripted',
        maxOutputTokens: 100,
        signal: new AbortController().signal,
      });
    await answer('forty-two');
    await expect(answer('forty-two, I think')).resolves.toBeUndefined();
    const replies = (
      await admin.get<{ messages: Message[] }>(`/v1/messages?thread_id=${sent.thread_id}`)
    ).messages.filter((m) => m.from === 'oracle');
    expect(replies.map((m) => [m.content, m.reply_to])).toEqual([['forty-two', question?.id]]);
  });
});
