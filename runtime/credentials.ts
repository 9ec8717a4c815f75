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

export function brokerCredential(
  broker: BrokerClient,
  name: string,
  now: () => number = Date.now,
): CredentialSource {
  let cached: { value: string; at: number } | null = null;
  return {
    async get() {
      if (cached && now() - cached.at < CACHE_MS) return cached.value;
      const reply = await broker.post<{ value: string }>(
        `/v1/credentials/${encodeURIComponent(name)}/fetch`,
        {},
      );
      cached = { value: reply.value, at: now() };
      return reply.value;
    },
    invalidate() {
      cached = null;
    },
  };
}
