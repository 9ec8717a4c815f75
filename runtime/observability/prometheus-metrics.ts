/**
 * The runtime's and the worker's series (SPEC section 10, B.60, B.85), made from `RuntimeEvent`s.
 * Tokens count by direction: `input` (cache reads and writes included, as cost counts them) and
 * `output`; cost comes from the model table (B.19), an unknown price counting 0.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { costUsd } from '../providers/models.js';
import type { RuntimeEvent, RuntimeMetrics } from './runtime-events.js';

const LLM_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];

export function createPrometheusMetrics(registry: Registry): RuntimeMetrics {
  const registers = [registry];
  const turns = new Counter({
    name: 'nexus_turns_total',
    help: 'Deliberation turns by how they ended',
    labelNames: ['aspect', 'reason'],
    registers,
  });
  const turnSeconds = new Histogram({
    name: 'nexus_turn_seconds',
    help: 'Duration of a deliberation turn, its provider calls and tool calls included',
    labelNames: ['aspect'],
    buckets: LLM_BUCKETS,
    registers,
  });
  const providerRequests = new Counter({
    name: 'nexus_provider_requests_total',
    help: 'Requests to LLM providers by outcome (ok, or the failure kind); each retry counts',
    labelNames: ['aspect', 'provider', 'outcome'],
    registers,
  });
  const providerLatency = new Histogram({
    name: 'nexus_provider_latency_seconds',
    help: 'Duration of one LLM provider request, streamed to its end',
    labelNames: ['aspect', 'provider'],
    buckets: LLM_BUCKETS,
    registers,
  });
  const tokens = new Counter({
    name: 'nexus_provider_tokens_total',
    help: 'LLM tokens by direction (input includes cache reads and writes)',
    labelNames: ['aspect', 'direction'],
    registers,
  });
  const cost = new Counter({
    name: 'nexus_provider_cost_usd_total',
    help: 'LLM cost in USD from the model price table (an unknown price counts 0)',
    labelNames: ['aspect'],
    registers,
  });
  const compactions = new Counter({
    name: 'nexus_compactions_total',
    help: 'Compactions written to sessions, automatic and forced',
    labelNames: ['aspect'],
    registers,
  });
  const handRunSeconds = new Histogram({
    name: 'nexus_hand_run_seconds',
    help: 'From claim to completion of a Hand run on this worker',
    labelNames: ['status'],
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 7200],
    registers,
  });
  const ratioReaders = new Map<string, () => number>();
  new Gauge({
    name: 'nexus_session_context_ratio',
    help: 'Tokens of the last provider call over the context window, the maximum over the sessions',
    labelNames: ['aspect'],
    registers,
    collect() {
      for (const [aspect, read] of ratioReaders) this.set({ aspect }, read());
    },
  });

  return {
    record(event: RuntimeEvent): void {
      switch (event.type) {
        case 'turn:ended':
          turns.inc({ aspect: event.aspect, reason: event.reason });
          turnSeconds.observe({ aspect: event.aspect }, event.seconds);
          return;
        case 'provider:requested': {
          const { aspect, provider } = event;
          providerRequests.inc({ aspect, provider, outcome: event.outcome });
          providerLatency.observe({ aspect, provider }, event.seconds);
          if (!event.answer) return;
          const { usage, model } = event.answer;
          const input =
            usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens;
          tokens.inc({ aspect, direction: 'input' }, input);
          tokens.inc({ aspect, direction: 'output' }, usage.output_tokens);
          cost.inc({ aspect }, costUsd(model, input, usage.output_tokens) ?? 0);
          return;
        }
        case 'session:compacted':
          compactions.inc({ aspect: event.aspect });
          return;
        case 'hand:finished':
          handRunSeconds.observe({ status: event.status }, event.seconds);
          return;
      }
    },
    watchContextRatio(aspect, read) {
      ratioReaders.set(aspect, read);
    },
  };
}
