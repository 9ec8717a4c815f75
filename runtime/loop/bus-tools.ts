import { z } from 'zod';
import { Address, Content, DecimalId, type SendReply } from '../../protocol/index.js';
import type { RuntimeTool } from './tools.js';
import type { BrokerPoster } from './broker-retry.js';

const SendMessageInput = z.strictObject({
  content: Content.describe('the message text'),
  to: z
    .array(Address)
    .min(1)
    .max(100)
    .optional()
    .describe('recipients; default: the participants of the thread'),
  thread_id: DecimalId.optional().describe('default: the thread being handled'),
});

/** `send_message`: the only way an aspect speaks on the bus (SPEC section 7). */
export function sendMessageTool(broker: BrokerPoster): RuntimeTool<z.infer<typeof SendMessageInput>> {
  return {
    name: 'send_message',
    description: 'Send a message on the Nexus bus. Defaults: the thread being handled and its participants.',
    input: SendMessageInput,
    async run(input, context) {
      const reply = await broker.post<SendReply>(
        '/v1/messages',
        {
          content: input.content,
          ...(input.to ? { to: input.to } : {}),
          thread_id: input.thread_id ?? context.threadId,
          idempotency_key: context.idempotencyKey,
        },
        context.signal,
      );
      return {
        id: reply.id,
        thread_id: reply.thread_id,
        ...(reply.held_for ? { held_for: reply.held_for } : {}),
      };
    },
  };
}
