/**
 * A provider that reports each request to the metrics (STYLE rule 17): its outcome, its duration
 * streamed to the end, and on success the model and usage that tokens and cost are counted from.
 * It wraps the bare provider, under the retry, so every attempt counts as the request it was.
 */
import type { RuntimeMetrics } from '../observability/runtime-events.js';
import type { Provider, ProviderEvent, ProviderRequest } from './provider.js';

/** `provider`, reporting its requests as those of `aspect` (the hosting aspect, for a Hand). */
export function observedProvider(provider: Provider, aspect: string, metrics: RuntimeMetrics): Provider {
  return {
    kind: provider.kind,
    countTokens: (request) => provider.countTokens(request),
    // Embeddings are not turns' requests: passed through as they are (B.90), when there are any.
    ...(provider.embed ? { embed: provider.embed.bind(provider) } : {}),
    async *stream(request: ProviderRequest, signal: AbortSignal): AsyncGenerator<ProviderEvent> {
      const started = performance.now();
      const report = (event: ProviderEvent & { type: 'done' | 'error' }) =>
        metrics.record({
          type: 'provider:requested',
          aspect,
          provider: provider.kind,
          outcome: event.type === 'done' ? 'ok' : event.error.kind,
          seconds: (performance.now() - started) / 1000,
          ...(event.type === 'done'
            ? { answer: { model: event.result.model, usage: event.result.usage } }
            : {}),
        });
      for await (const event of provider.stream(request, signal)) {
        if (event.type === 'done' || event.type === 'error') report(event);
        yield event;
      }
    },
  };
}
