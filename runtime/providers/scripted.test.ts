import type { Script } from '../../protocol/index.js';
import type { ContextMessage } from '../session/context.pure.js';
import { invoke, type ProviderEvent, type ProviderRequest } from './provider.js';
import {
  ACKNOWLEDGEMENT,
  createScriptedProvider,
  inboundParts,
  parseScript,
  ScriptError,
} from './scripted.js';

function request(messages: ContextMessage[]): ProviderRequest {
  return { model: 'scripted', system: 'system prompt', messages, tools: [], maxOutputTokens: 1000 };
}

const inbound = (from: string, content: string): ContextMessage => ({
  role: 'user',
  content: `<message id="41" from="${from}" thread="7" kind="chat">${content}</message>`,
});

async function collect(events: AsyncIterable<ProviderEvent>): Promise<ProviderEvent[]> {
  const out: ProviderEvent[] = [];
  for await (const event of events) out.push(event);
  return out;
}

const answer = (script: Script | null, messages: ContextMessage[]) =>
  invoke(createScriptedProvider({ script }), request(messages), new AbortController().signal);

describe('scripted provider', () => {
  const script = parseScript([
    { match: 'weather', reply: 'It is sunny, {{message.from}}.' },
    {
      match: 'deploy|release',
      reply: 'Shipping.',
      tool_calls: [{ name: 'send_message', input: { content: 'deploying: {{message.content}}' } }],
      then: 'Told them: {{tool_result}}',
    },
    { match: 'weather|anything', reply: 'never chosen for weather: an earlier step matched first' },
    { reply: 'Default reply to {{message.from}}: {{message.content}}' },
  ]);

  it('answers with the first step whose match matches the newest inbound message', async () => {
    const result = await answer(script, [inbound('alice', 'how is the weather?')]);
    expect(result).toMatchObject({ content: 'It is sunny, alice.', toolCalls: [], stopReason: 'end_turn' });
  });

  it('falls back to the step without match, filling the message templates from the rendered block', async () => {
    // As the runtime renders `a <b> & c`: `<` and `&` escaped.
    const result = await answer(script, [inbound('op:bob', 'a &lt;b> &amp; c')]);
    expect(result.content).toBe('Default reply to op:bob: a <b> & c');
  });

  it('matches the newest inbound message, ignoring notes after it and older messages', async () => {
    const result = await answer(script, [
      inbound('alice', 'release it'),
      { role: 'assistant', content: 'ok', tool_calls: [] },
      inbound('carol', 'weather please'),
      { role: 'user', content: '[Knowledge found for this thread]\ndeploy', note: true },
    ]);
    expect(result.content).toBe('It is sunny, carol.');
  });

  it('makes the step tool calls with deterministic ids, then ends the turn with `then` once they have results', async () => {
    const first = await answer(script, [inbound('alice', 'please deploy')]);
    expect(first).toMatchObject({
      content: 'Shipping.',
      stopReason: 'tool_use',
      toolCalls: [{ id: 'call_1', name: 'send_message', input: { content: 'deploying: please deploy' } }],
    });
    const second = await answer(script, [
      inbound('alice', 'please deploy'),
      { role: 'assistant', content: first.content, tool_calls: first.toolCalls },
      { role: 'tool', tool_call_id: 'call_1', content: '{"id":"99"}', is_error: false },
    ]);
    expect(second).toMatchObject({
      content: 'Told them: {"id":"99"}',
      toolCalls: [],
      stopReason: 'end_turn',
    });
  });

  it('numbers tool call ids after those already in the context, the same on every run', async () => {
    const context: ContextMessage[] = [
      inbound('alice', 'deploy one'),
      { role: 'assistant', content: '', tool_calls: [{ id: 'call_1', name: 'send_message', input: {} }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'ok', is_error: false },
      { role: 'assistant', content: 'done', tool_calls: [] },
      inbound('alice', 'deploy two'),
    ];
    const once = await answer(script, context);
    const again = await answer(parseScript(JSON.parse(JSON.stringify(script))), context); // as after a restart
    expect(once.toolCalls.map((c) => c.id)).toEqual(['call_2']);
    expect(again).toEqual(once);
  });

  it('ends with "done" after tool results when the step has no then', async () => {
    const noThen = parseScript([{ tool_calls: [{ name: 'knowledge_search', input: { query: 'x' } }] }]);
    const result = await answer(noThen, [
      inbound('alice', 'look it up'),
      {
        role: 'assistant',
        content: '',
        tool_calls: [{ id: 'call_1', name: 'knowledge_search', input: { query: 'x' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '[]', is_error: false },
    ]);
    expect(result).toMatchObject({ content: 'done', toolCalls: [] });
  });

  it('acknowledges when there is no script, or no step applies', async () => {
    expect((await answer(null, [inbound('alice', 'hi')])).content).toBe(ACKNOWLEDGEMENT);
    expect(
      (await answer(parseScript([{ match: 'x', reply: 'y' }]), [{ role: 'user', content: 'plain' }])).content,
    ).toBe('Acknowledged.');
  });

  it('uses the whole text as the message content when it holds no rendered block', () => {
    expect(inboundParts('just text')).toEqual({ from: '', content: 'just text' });
    expect(
      inboundParts(
        '<message id="1" from="a&quot;b" thread="2" kind="hand_result">r\n<input>{}</input></message>',
      ),
    ).toEqual({
      from: 'a"b',
      content: 'r',
    });
  });

  it('counts tokens as characters ÷ 4, rounded up', async () => {
    const provider = createScriptedProvider({ script: null });
    const messages: ContextMessage[] = [{ role: 'user', content: 'abcde' }];
    expect(await provider.countTokens(request(messages))).toBe(
      Math.ceil(('system prompt' + 'abcde').length / 4),
    );
    const result = await invoke(provider, request(messages), new AbortController().signal);
    expect(result.usage).toEqual({
      input_tokens: 5,
      output_tokens: Math.ceil(ACKNOWLEDGEMENT.length / 4),
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: 0,
    });
  });

  it('paces with ttft_ms and tokens_per_s: text deltas in order, then the tool call, then done', async () => {
    const paced = parseScript([
      {
        reply: 'one two three four',
        tool_calls: [{ name: 'send_message', input: {} }],
        ttft_ms: 30,
        tokens_per_s: 500,
      },
    ]);
    const events = await collect(
      createScriptedProvider({ script: paced }).stream(
        request([inbound('a', 'go')]),
        new AbortController().signal,
      ),
    );
    expect(events.map((e) => e.type)).toEqual([
      'text_delta',
      'text_delta',
      'text_delta',
      'text_delta',
      'tool_call',
      'done',
    ]);
    expect(events.flatMap((e) => (e.type === 'text_delta' ? [e.text] : [])).join('')).toBe(
      'one two three four',
    );
  });

  it('ends with aborted when the signal fires while waiting for the first token', async () => {
    const slow = parseScript([{ reply: 'late', ttft_ms: 60_000 }]);
    const controller = new AbortController();
    const stream = createScriptedProvider({ script: slow }).stream(
      request([inbound('a', 'go')]),
      controller.signal,
    );
    const pending = collect(stream);
    setTimeout(() => controller.abort(), 5);
    expect(await pending).toEqual([
      { type: 'error', error: expect.objectContaining({ kind: 'aborted', retryable: false }) },
    ]);
  });
});

describe('parseScript', () => {
  it('treats an absent script.json as no script', () => {
    expect(parseScript(undefined)).toBeNull();
  });

  it('names the file, the field and the rule of the first problem', () => {
    expect(() => parseScript([{ reply: 'ok' }, { match: '(unclosed' }])).toThrow(
      new ScriptError('script.json: [1].match: must be a valid regular expression'),
    );
    expect(() => parseScript([{ reply: 'ok', replay: 'typo' }], 'home/script.json')).toThrow(
      'home/script.json: [0].replay: is not a known field',
    );
  });
});
