/**
 * The embedder of the knowledge tools and active retrieval (B.90): the provider's `embed`, checked
 * against `NEXUS_EMBEDDING_DIM` (default 1536, the broker's setting too). An embedding that cannot
 * be made, or has another length, is left out with a warning: the search then runs on text alone,
 * and a store keeps its text, rather than the call failing.
 */
import { intSetting, type Logger } from '../../platform/index.js';
import type { Provider } from '../providers/provider.js';
import type { Embedder } from './knowledge-tools.js';

/** How long one embedding call may take before the text goes without it. */
const EMBED_TIMEOUT_MS = 30_000;

/**
 * `NEXUS_EMBEDDING_DIM`, and whether it was set: only then is `dimensions` sent to the endpoint,
 * since models with a fixed size (text-embedding-ada-002) refuse the field.
 */
export function embeddingDimension(env: Record<string, string | undefined> = process.env): {
  dim: number;
  explicit: boolean;
} {
  return {
    dim: intSetting(env, 'NEXUS_EMBEDDING_DIM', 1536, 1, 16_000),
    explicit: (env.NEXUS_EMBEDDING_DIM ?? '') !== '',
  };
}

/** The embedder for `provider`, or undefined when it cannot embed. */
export function providerEmbedder(
  provider: Provider,
  logger: Logger,
  env: Record<string, string | undefined> = process.env,
): Embedder | undefined {
  const embed = provider.embed?.bind(provider);
  if (!embed) return undefined;
  const { dim, explicit } = embeddingDimension(env);
  return async (text) => {
    try {
      const [vector] = await embed([text], {
        ...(explicit ? { dimensions: dim } : {}),
        signal: AbortSignal.timeout(EMBED_TIMEOUT_MS),
      });
      if (vector?.length === dim) return vector;
      logger.warn(
        { length: vector?.length ?? 0, expected: dim },
        'the embedding model answered another length than NEXUS_EMBEDDING_DIM; going without it',
      );
    } catch (err) {
      logger.warn({ err: String(err) }, 'embedding failed; going without it');
    }
    return null;
  };
}
