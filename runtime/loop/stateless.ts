/**
 * Stateless aspects (B.22, B.59): one provider call with no tools per `chat` message addressed to
 * the aspect by name; the final text goes back to the sender as a reply in the same thread.
 * Nothing is written to `session/`.
 */
import { WireError, type Message } from '../../protocol/index.js';
import { renderMessage } from '../prompt/render.pure.js';
import type { Provider, ProviderRequest, ProviderResult } from '../providers/provider.js';
import type { BrokerPoster } from './broker-retry.js';

export interface StatelessDeps {
  self: string;
  systemPrompt: string;
  provider: Provider;
  call(provider: Provider, request: ProviderRequest, signal: AbortSignal): Promise<ProviderResult>;
  broker: BrokerPoster;
  model: string;
  maxOutputTokens: number;
  signal: AbortSignal;
}

export async function answerStatelessly(message: Message, deps: StatelessDeps): Promise<void> {
  if (message.kind !== 'chat' || !message.to.includes(deps.self) || message.from === deps.self) return;
  const result = await deps.call(
    deps.provider,
    {
      model: deps.model,
      system: deps.systemPrompt,
      messages: [{ role: 'user', content: renderMessage(message) }],
      tools: [],
      maxOutputTokens: deps.maxOutputTokens,
    },
    deps.signal,
  );
  if (!result.content.trim()) return;
  try {
    await deps.broker.post(
      '/v1/messages',
      {
        content: result.content,
        to: [message.from],
        thread_id: message.thread_id,
        reply_to: message.id,
        idempotency_key: `stateless:${message.id}`,
      },
      deps.signal,
    );
  } catch (err) {
    // Answered before (a batch taken again after a stay-down or a restart): the new answer's text
    // differs from the first, so its key is refused (B.8); the first answer stands.
    if (err instanceof WireError && err.code === 'conflict' && /idempotency_key/.test(err.message)) return;
    throw err;
  }
}
