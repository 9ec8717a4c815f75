import { z } from 'zod';
import { AspectName, Content, JsonInput, MAX_DEADLINE_S, type DispatchReply } from '../../protocol/index.js';
import { ToolRefusal, type RuntimeTool } from './tools.js';
import type { BrokerPoster } from './broker-retry.js';

const DispatchHandInput = z.strictObject({
  target: AspectName.describe('the aspect that offers the Hand (see the roster)'),
  hand: AspectName.describe('the Hand name'),
  content: Content.describe('what to ask of the Hand'),
  input: JsonInput.optional().describe("structured input, checked against the Hand's input_schema"),
  // As the broker's own schema: a larger deadline is accepted and capped there (SPEC section 6).
  deadline_s: z
    .number()
    .int()
    .min(1)
    .optional()
    .describe(`default: the Hand timeout_s; capped at ${MAX_DEADLINE_S}`),
});

/**
 * `dispatch_hand`: invokes another aspect's Hand (or one's own) in the thread being handled
 * (B.11). The reply says at once whether it was queued or refused (a refusal is an error result
 * holding the broker's envelope); the result arrives later as a `hand_result` message replying to
 * the invocation.
 */
export function dispatchHandTool(broker: BrokerPoster): RuntimeTool<z.infer<typeof DispatchHandInput>> {
  return {
    name: 'dispatch_hand',
    description:
      'Invoke a Hand: a stateless single-turn capability another aspect offers. Returns at once; the result arrives later as a hand_result message in this thread.',
    input: DispatchHandInput,
    async run(input, context) {
      const reply = await broker.post<DispatchReply>(
        '/v1/hands/dispatch',
        { ...input, thread_id: context.threadId, idempotency_key: context.idempotencyKey },
        context.signal,
      );
      // Refused at once (forbidden, unknown Hand, busy, stay-down): an error result for the model.
      if (reply.state === 'rejected') throw new ToolRefusal({ state: 'rejected', result: reply.result });
      return {
        state: 'queued',
        dispatch_id: reply.dispatch_id,
        message_id: reply.message_id,
        note: 'the result will arrive as a hand_result message replying to message_id',
      };
    },
  };
}
