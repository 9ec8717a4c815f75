/**
 * From the runtime's provider-neutral request to the Messages API body (B.49): consecutive
 * messages of one role merge into one message of several blocks (the API wants roles to
 * alternate), `tool` results become `tool_result` blocks of a user message, assistant tool calls
 * become `tool_use` blocks, and with `cacheSystem` the system prompt and the leading compaction
 * summary carry `cache_control` so the stable prefix is read from the prompt cache.
 */
import type {
  ContentBlockParam,
  MessageParam,
  TextBlockParam,
  Tool,
} from '@anthropic-ai/sdk/resources/messages/messages';
import type { ContextMessage } from '../session/context.pure.js';
import type { ProviderRequest, ToolSpec } from './provider.js';

/** How buildContext opens the note that stands for compacted history. */
export const SUMMARY_NOTE_PREFIX = '[Summary of the conversation so far]';

const EPHEMERAL = { type: 'ephemeral' } as const;

/** The parts of a Messages API body that come from the request (model and limits are added by the caller). */
export interface ClaudeBody {
  system?: string | TextBlockParam[];
  messages: MessageParam[];
  tools?: Tool[];
}

export function toClaudeBody(request: ProviderRequest): ClaudeBody {
  const body: ClaudeBody = { messages: toClaudeMessages(request.messages, request.cacheSystem === true) };
  if (request.system !== '') {
    body.system = request.cacheSystem
      ? [{ type: 'text', text: request.system, cache_control: EPHEMERAL }]
      : request.system;
  }
  if (request.tools.length > 0) body.tools = request.tools.map(toClaudeTool);
  return body;
}

function toClaudeTool(spec: ToolSpec): Tool {
  return {
    name: spec.name,
    description: spec.description,
    input_schema: { ...spec.input_schema, type: 'object' },
  };
}

function isSummaryNote(message: ContextMessage): boolean {
  return message.role === 'user' && message.note === true && message.content.startsWith(SUMMARY_NOTE_PREFIX);
}

/** The blocks one context message contributes, and the API role they belong to. */
function toBlocks(
  message: ContextMessage,
  cache: boolean,
): { role: 'user' | 'assistant'; blocks: ContentBlockParam[] } {
  switch (message.role) {
    case 'user': {
      // The API rejects empty text blocks; an empty message contributes nothing.
      if (message.content === '') return { role: 'user', blocks: [] };
      const block: TextBlockParam = { type: 'text', text: message.content };
      if (cache) block.cache_control = EPHEMERAL;
      return { role: 'user', blocks: [block] };
    }
    case 'assistant': {
      const blocks: ContentBlockParam[] = [];
      if (message.content !== '') blocks.push({ type: 'text', text: message.content });
      for (const call of message.tool_calls)
        blocks.push({ type: 'tool_use', id: call.id, name: call.name, input: call.input ?? {} });
      return { role: 'assistant', blocks };
    }
    case 'tool':
      return {
        role: 'user',
        blocks: [
          {
            type: 'tool_result',
            tool_use_id: message.tool_call_id,
            content: message.content,
            is_error: message.is_error,
          },
        ],
      };
  }
}

export function toClaudeMessages(messages: readonly ContextMessage[], cacheSummary: boolean): MessageParam[] {
  const out: { role: 'user' | 'assistant'; content: ContentBlockParam[] }[] = [];
  messages.forEach((message, i) => {
    const { role, blocks } = toBlocks(message, cacheSummary && i === 0 && isSummaryNote(message));
    if (blocks.length === 0) return;
    const last = out.at(-1);
    if (last && last.role === role) last.content.push(...blocks);
    else out.push({ role, content: blocks });
  });
  return out;
}
