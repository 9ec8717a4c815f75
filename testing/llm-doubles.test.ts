import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { startAnthropicDouble, startOpenAIDouble } from './index.js';

describe('the LLM API doubles answer non-streamed calls as JSON', () => {
  it('Messages API: text and tool_use blocks, usage and stop_reason, through the real SDK', async () => {
    const double = await startAnthropicDouble();
    try {
      const client = new Anthropic({ apiKey: 'k', baseURL: double.url, maxRetries: 0 });
      double.reply({
        text: 'Hi.',
        toolCalls: [{ id: 'toolu_9', name: 'lookup', input: { q: 'x' } }],
        usage: { input_tokens: 3 },
      });
      const message = await client.messages.create({
        model: 'claude-test',
        max_tokens: 10,
        messages: [{ role: 'user', content: 'hello' }],
      });
      expect(message.content).toEqual([
        { type: 'text', text: 'Hi.' },
        { type: 'tool_use', id: 'toolu_9', name: 'lookup', input: { q: 'x' } },
      ]);
      expect(message.stop_reason).toBe('tool_use');
      expect(message.usage.input_tokens).toBe(3);
      expect(double.messageRequests()[0]?.body).toMatchObject({ model: 'claude-test', max_tokens: 10 });
    } finally {
      await double.stop();
    }
  });

  it('Chat Completions: message with tool_calls, finish_reason and usage, through the real SDK', async () => {
    const double = await startOpenAIDouble();
    try {
      const client = new OpenAI({ apiKey: 'k', baseURL: double.baseURL, maxRetries: 0 });
      double.reply({ text: 'Hi.', toolCalls: [{ id: 'call_9', name: 'lookup', input: { q: 'x' } }] });
      const completion = await client.chat.completions.create({
        model: 'gpt-test',
        messages: [{ role: 'user', content: 'hello' }],
      });
      expect(completion.choices[0]?.message).toMatchObject({
        content: 'Hi.',
        tool_calls: [
          { id: 'call_9', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } },
        ],
      });
      expect(completion.choices[0]?.finish_reason).toBe('tool_calls');
      expect(completion.usage?.prompt_tokens).toBeGreaterThan(0);
    } finally {
      await double.stop();
    }
  });
});
