/**
 * The tool registry: each tool is a name, a description, a zod schema for its input (the JSON
 * Schema offered to the model is generated from it) and a `run`. Bad arguments become a tool
 * error returned to the model, never an exception out of the loop. Tools that write to the broker
 * send the idempotency key of B.47, so a turn resumed after a crash does not act twice.
 */
import { z } from 'zod';
import { WireError, firstIssueText } from '../../protocol/index.js';
import type { ToolSpec } from '../providers/provider.js';

export interface ToolContext {
  /** The thread being handled (B.46). */
  threadId: string;
  /** `<assistant entry id>:<tool call id>` (B.47). */
  idempotencyKey: string;
  /** Aborted when the turn is abandoned (shutdown, stay-down): retries stop, nothing is recorded. */
  signal?: AbortSignal;
}

/**
 * Thrown by a tool whose request the broker answered with a refusal rather than an HTTP error (a
 * dispatch rejected with a result envelope): the model sees `result` as an error result.
 */
export class ToolRefusal extends Error {
  constructor(readonly result: unknown) {
    super('refused');
    this.name = 'ToolRefusal';
  }
}

export interface RuntimeTool<I = unknown> {
  name: string;
  description: string;
  input: z.ZodType<I>;
  run(input: I, context: ToolContext): Promise<unknown>;
}

export interface ToolOutcome {
  content: string;
  isError: boolean;
}

export class ToolRegistry {
  private readonly tools = new Map<string, RuntimeTool>();

  register<I>(tool: RuntimeTool<I>): void {
    this.tools.set(tool.name, tool as RuntimeTool);
  }

  get names(): string[] {
    return [...this.tools.keys()];
  }

  /** The specs offered to the model. */
  specs(): ToolSpec[] {
    return [...this.tools.values()].map((tool) => {
      const { $schema: _schema, ...inputSchema } = z.toJSONSchema(tool.input, {
        io: 'input',
        unrepresentable: 'any',
      }) as Record<string, unknown>;
      return { name: tool.name, description: tool.description, input_schema: inputSchema };
    });
  }

  /**
   * Runs one call; every failure is returned as an error result the model can read, except when
   * the turn was abandoned meanwhile: then it throws, so no result is recorded and the call runs
   * again, under the same idempotency key, when the turn resumes (B.17).
   */
  async execute(name: string, input: unknown, context: ToolContext): Promise<ToolOutcome> {
    const tool = this.tools.get(name);
    if (!tool)
      return { content: `unknown tool "${name}"; available: ${this.names.join(', ')}`, isError: true };
    const parsed = tool.input.safeParse(input);
    if (!parsed.success)
      return { content: `invalid arguments: ${firstIssueText(parsed.error)}`, isError: true };
    try {
      const result = await tool.run(parsed.data, context);
      return { content: JSON.stringify(result ?? null), isError: false };
    } catch (err) {
      if (context.signal?.aborted) throw err;
      if (err instanceof ToolRefusal) return { content: JSON.stringify(err.result), isError: true };
      if (err instanceof WireError) return { content: `${err.code}: ${err.message}`, isError: true };
      return {
        content: `the tool failed: ${err instanceof Error ? err.message : String(err)}`,
        isError: true,
      };
    }
  }
}
