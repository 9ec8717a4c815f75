/**
 * The runtime tools that are built, by name, and which of an aspect's configured `tools` it is
 * offered (SPEC section 7, B.58, B.92): a tool whose part is not built is skipped with a warning,
 * the admin overrides are offered to the frame only, and a stateless aspect answers without tools.
 * What is offered is also what registration lists, so the roster's capabilities are true.
 */
import type { AspectConfig } from '../../protocol/index.js';
import type { Logger } from '../../platform/index.js';
import { ToolRegistry, type RuntimeTool } from './tools.js';
import type { BrokerCaller } from './broker-retry.js';
import { sendMessageTool } from './bus-tools.js';
import { dispatchHandTool } from './hand-tools.js';
import { FRAME_TOOL_FACTORIES, frameOnly } from './frame-tools.js';
import { knowledgeSearchTool, knowledgeStoreTool, type Embedder } from './knowledge-tools.js';

/** What every tool factory is given: the retrying broker caller (B.110) and the knowledge embedder. */
type ToolFactory = (broker: BrokerCaller, options: { embed?: Embedder }) => RuntimeTool;

/** The runtime tools that are built (MCP tools arrive with their part). */
const TOOL_FACTORIES: Record<string, ToolFactory> = {
  send_message: (broker) => sendMessageTool(broker),
  dispatch_hand: (broker) => dispatchHandTool(broker),
  knowledge_search: (broker, options) => knowledgeSearchTool(broker, options),
  knowledge_store: (broker, options) => knowledgeStoreTool(broker, options),
  ...FRAME_TOOL_FACTORIES,
};

/** The names of the tools `config` is offered; each configured tool left out is logged once, with why. */
export function offeredToolNames(config: AspectConfig, logger: Logger): string[] {
  if (config.context_mode === 'stateless') return [];
  const offered: string[] = [];
  for (const name of config.tools) {
    if (!(name in TOOL_FACTORIES)) logger.warn({ tool: name }, 'tool not available yet; skipped (B.58)');
    else if (frameOnly(name, config.role))
      logger.warn({ tool: name }, 'admin override offered to the frame only; skipped (B.92)');
    else offered.push(name);
  }
  return offered;
}

/** The registry of the offered tools, each calling the broker through `broker`. */
export function toolRegistry(
  names: readonly string[],
  broker: BrokerCaller,
  options: { embed?: Embedder },
): ToolRegistry {
  const registry = new ToolRegistry();
  for (const name of names) {
    const factory = TOOL_FACTORIES[name];
    if (factory) registry.register(factory(broker, options));
  }
  return registry;
}
