/**
 * The `scripted` provider (B.52): deterministic answers from `script.json`, for tests and offline
 * demos. Every decision is made from the request alone, so restarts change nothing:
 *
 * - the newest inbound message is the last `user` message that is not a note; the first step whose
 *   `match` matches it wins, else the first step without `match`, else the acknowledgement;
 * - when the request ends with a tool result, the step's tool calls have their results: its `then`
 *   (default "done") ends the turn with no tool calls, so a script cannot loop;
 * - tool call ids are `call_<n>`, numbered after the tool calls already in the request;
 * - tokens are characters ÷ 4, rounded up; `ttft_ms` delays the first event and `tokens_per_s`
 *   paces the text deltas, both cut short by the abort signal.
 */
import { Script, firstIssueText, type ScriptStep, type ToolCall, type Usage } from '../../protocol/index.js';
import type { ContextMessage } from '../session/context.pure.js';
import { abortedFailure } from './failure.js';
import type { Provider, ProviderEvent, ProviderRequest } from './provider.js';
import { sleepUnlessAborted } from './retry.js';

export const ACKNOWLEDGEMENT = 'Acknowledged.';
const DEFAULT_THEN = 'done';

export class ScriptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScriptError';
  }
}

/** Validates parsed `script.json` (`undefined` when the file is absent, which means no script). */
export function parseScript(value: unknown, file = 'script.json'): Script | null {
  if (value === undefined || value === null) return null;
  const result = Script.safeParse(value);
  if (!result.success) throw new ScriptError(`${file}: ${firstIssueText(result.error)}`);
  return result.data;
}

/** Characters ÷ 4, rounded up: the scripted provider's token count. */
export function scriptedTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** The text of the newest inbound message: the last user message that is not a note. */
export function newestInbound(messages: readonly ContextMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message?.role === 'user' && message.note !== true) return message.content;
  }
  return '';
}

const unescape = (s: string) =>
  s.replace(/&(lt|quot|amp);/g, (_, name: string) => ({ lt: '<', quot: '"', amp: '&' })[name] ?? '');

/**
 * `from` and `content` of the newest `<message …>` block the runtime rendered (B.51), unescaped and
 * without the `<input>` the renderer appends; plain text is all content.
 */
export function inboundParts(text: string): { from: string; content: string } {
  const blocks = [...text.matchAll(/<message\b([^>]*)>([\s\S]*?)<\/message>/g)];
  const last = blocks.at(-1);
  if (!last) return { from: '', content: text };
  const from = /\bfrom="([^"]*)"/.exec(last[1] ?? '')?.[1] ?? '';
  const content = (last[2] ?? '').replace(/\n<input>[\s\S]*<\/input>$/, '');
  return { from: unescape(from), content: unescape(content) };
}

/** The first step matching `inbound`, else the first step without `match`. */
export function chooseStep(script: Script, inbound: string): ScriptStep | null {
  return (
    script.find((step) => step.match !== undefined && new RegExp(step.match).test(inbound)) ??
    script.find((step) => step.match === undefined) ??
    null
  );
}

type Variables = Record<string, string>;

export function fillTemplate(template: string, vars: Variables): string {
  return template.replace(/\{\{\s*([a-z_.]+)\s*\}\}/g, (whole, name: string) => vars[name] ?? whole);
}

/** Fills templates in every string inside a tool call's input. */
function fillValue(value: unknown, vars: Variables): unknown {
  if (typeof value === 'string') return fillTemplate(value, vars);
  if (Array.isArray(value)) return value.map((v) => fillValue(v, vars));
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fillValue(v, vars)]));
  return value;
}

/** What one call answers: the pure decision, before pacing. */
export interface ScriptedAnswer {
  text: string;
  toolCalls: ToolCall[];
  step: ScriptStep | null;
}

export function planAnswer(script: Script | null, messages: readonly ContextMessage[]): ScriptedAnswer {
  if (!script) return { text: ACKNOWLEDGEMENT, toolCalls: [], step: null };
  const inbound = newestInbound(messages);
  const step = chooseStep(script, inbound);
  const lastTool = messages.findLast((m) => m.role === 'tool');
  const { from, content } = inboundParts(inbound);
  const vars: Variables = {
    'message.content': content,
    'message.from': from,
    tool_result: lastTool?.role === 'tool' ? lastTool.content : '',
  };
  if (messages.at(-1)?.role === 'tool')
    return { text: fillTemplate(step?.then ?? DEFAULT_THEN, vars), toolCalls: [], step };
  if (!step) return { text: ACKNOWLEDGEMENT, toolCalls: [], step };
  const earlier = messages.reduce((n, m) => n + (m.role === 'assistant' ? m.tool_calls.length : 0), 0);
  const toolCalls = (step.tool_calls ?? []).map((call, i) => ({
    id: `call_${earlier + i + 1}`,
    name: call.name,
    input: fillValue(call.input, vars),
  }));
  return { text: fillTemplate(step.reply ?? '', vars), toolCalls, step };
}

/** Characters of everything the request sends, for the input token count. */
function requestText(request: ProviderRequest): string {
  const parts = [request.system, ...request.messages.map((m) => m.content)];
  for (const m of request.messages)
    if (m.role === 'assistant' && m.tool_calls.length) parts.push(JSON.stringify(m.tool_calls));
  return parts.join('');
}

/** Word-sized pieces, spaces kept, so the reply streams as several deltas. */
function pieces(text: string): string[] {
  return text.match(/\s*\S+\s*/g) ?? (text === '' ? [] : [text]);
}

export interface ScriptedProviderOptions {
  script: Script | null;
  /** The model name results report (default `scripted`). */
  model?: string;
}

export function createScriptedProvider(options: ScriptedProviderOptions): Provider {
  async function* stream(request: ProviderRequest, signal: AbortSignal): AsyncGenerator<ProviderEvent> {
    const { text, toolCalls, step } = planAnswer(options.script, request.messages);
    const events: ProviderEvent[] = [
      ...pieces(text).map((piece): ProviderEvent => ({ type: 'text_delta', text: piece })),
      ...toolCalls.map((call): ProviderEvent => ({ type: 'tool_call', call })),
    ];
    let first = true;
    for (const event of events) {
      const delayMs = first
        ? (step?.ttft_ms ?? 0)
        : event.type === 'text_delta' && step?.tokens_per_s
          ? (scriptedTokens(event.text) / step.tokens_per_s) * 1000
          : 0;
      first = false;
      if (signal.aborted || (delayMs > 0 && !(await sleepUnlessAborted(delayMs, signal))))
        return yield { type: 'error', error: abortedFailure() };
      yield event;
    }
    if (signal.aborted) return yield { type: 'error', error: abortedFailure() };
    const usage: Usage = {
      input_tokens: scriptedTokens(requestText(request)),
      output_tokens: scriptedTokens(text + (toolCalls.length ? JSON.stringify(toolCalls) : '')),
      cache_read_input_tokens: 0,
      cache_creation_input_tokens: 0,
    };
    yield {
      type: 'done',
      result: {
        content: text,
        toolCalls,
        usage,
        stopReason: toolCalls.length > 0 ? 'tool_use' : 'end_turn',
        model: options.model ?? (request.model || 'scripted'),
      },
    };
  }

  return {
    kind: 'scripted',
    stream,
    countTokens: (request) => Promise.resolve(scriptedTokens(requestText(request))),
  };
}
