/**
 * The one-line status per aspect that `nexus dev` prints before `ready` (SPEC section 1, B.34):
 * its name, role, state and what it runs on, saying so when it runs offline on the scripted
 * provider because its credential cannot be fetched.
 */
import type { AspectConfig } from '../../protocol/index.js';
import type { ChildFacts, ChildState } from './runtime-child.js';

export interface AspectStatus {
  config: AspectConfig;
  state: ChildState;
  facts: ChildFacts;
  /** Whether ANTHROPIC_API_KEY was given to this start. */
  keyGiven: boolean;
}

function providerText(status: AspectStatus): string {
  const { provider } = status.config;
  if (status.facts.offlineReason !== null) {
    const hint =
      provider.kind === 'claude-api' && !status.keyGiven
        ? 'no anthropic credential; set ANTHROPIC_API_KEY to run it on Claude'
        : status.facts.offlineReason;
    return `offline on the scripted provider (${hint})`;
  }
  if (provider.kind === 'scripted') return 'scripted provider';
  return `${provider.kind}${provider.model ? ` ${provider.model}` : ''}`;
}

export function statusLine(status: AspectStatus): string {
  const { facts, config } = status;
  let state: string;
  if (status.state === 'failed') state = `failed: ${facts.lastError ?? 'exited'}`;
  else if (facts.stayDown) state = 'stayed down (an operator shut it down)';
  else if (facts.registered) {
    const hands = config.hands.length > 0 ? `; Hands: ${config.hands.map((h) => h.name).join(', ')}` : '';
    state = `live, ${providerText(status)}${hands}`;
  } else state = `not registered yet (${status.state}; see its log)`;
  return `  ${config.name.padEnd(14)} ${config.role.padEnd(6)} ${state}`;
}
