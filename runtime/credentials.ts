/**
 * The provider's API key, fetched from the broker's credential store (never from aspect.json),
 * cached for at most 60 s and fetched again after a provider 401 (B.53). The value lives only in
 * this closure: never logged, never written to a session or a message.
 */
import type { BrokerClient } from '../client/index.js';

const CACHE_MS = 60_000;

export interface CredentialSource {
  /** The current value, from the cache when it is fresh. */
  get(): Promise<string>;
  /** Forgets the cached value (after the provider said 401). */
  invalidate(): void;
}

/**
 * A credential fetched through `broker`. A Hand worker passes the lease it holds (`dispatch_id`,
 * `worker_id`, `attempt`): the broker then answers for the dispatch's target aspect (B.75).
 */
export function brokerCredential(
  broker: BrokerClient,
  name: string,
  options: { now?: () => number; lease?: { dispatch_id: string; worker_id: string; attempt: number } } = {},
): CredentialSource {
  const now = options.now ?? Date.now;
  let cached: { value: string; at: number } | null = null;
  return {
    async get() {
      if (cached && now() - cached.at < CACHE_MS) return cached.value;
      const reply = await broker.post<{ value: string }>(
        `/v1/credentials/${encodeURIComponent(name)}/fetch`,
        options.lease ?? {},
      );
      cached = { value: reply.value, at: now() };
      return reply.value;
    },
    invalidate() {
      cached = null;
    },
  };
}
