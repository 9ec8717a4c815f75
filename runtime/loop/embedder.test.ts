import { createLogger } from '../../platform/index.js';
import { startOpenAIDouble, type OpenAIDouble } from '../../testing/index.js';
import { createOpenAICompatibleProvider } from '../providers/openai-compatible.js';
import { createScriptedProvider } from '../providers/scripted.js';
import { ProviderCallError } from '../providers/provider.js';
import { embeddingDimension, providerEmbedder } from './embedder.js';

const logger = createLogger({ name: 'embedder-test', level: 'silent' });

describe('embeddings for hybrid knowledge search (B.90)', () => {
  let double: OpenAIDouble;
  beforeEach(async () => {
    double = await startOpenAIDouble();
  });
  afterEach(() => double.stop());

  const provider = (embeddingModel?: string) =>
    createOpenAICompatibleProvider({
      apiKey: async () => 'sk-openai-test',
      baseURL: double.baseURL,
      model: 'gpt-test',
      ...(embeddingModel ? { embeddingModel } : {}),
    });

  it('embeds only with provider.embedding_model, through the same endpoint, one vector per text in order', async () => {
    expect(provider().embed).toBeUndefined();
    expect(createScriptedProvider({ script: null }).embed).toBeUndefined();
    const vectors = await provider('text-embedding-3-small').embed?.(['first', 'second'], {
      dimensions: 3,
      signal: new AbortController().signal,
    });
    expect(vectors).toHaveLength(2);
    expect(vectors?.map((v) => v.length)).toEqual([3, 3]);
    expect(vectors?.[0]).not.toEqual(vectors?.[1]);
    const [sent] = double.embeddingRequests();
    expect(sent?.headers.authorization).toBe('Bearer sk-openai-test');
    expect(sent?.body).toEqual({
      model: 'text-embedding-3-small',
      input: ['first', 'second'],
      encoding_format: 'float',
      dimensions: 3,
    });
  });

  it('throws a ProviderCallError carrying the status when the endpoint refuses', async () => {
    const broken = createOpenAICompatibleProvider({
      apiKey: async () => 'sk-openai-test',
      baseURL: `${double.url}/nowhere`,
      embeddingModel: 'm',
    });
    const error = await broken
      .embed?.(['x'], { signal: new AbortController().signal })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderCallError);
    expect((error as ProviderCallError).failure).toMatchObject({ status: 404, retryable: false });
  });

  it('sends dimensions only when NEXUS_EMBEDDING_DIM is set, and keeps only vectors of that length', async () => {
    expect(embeddingDimension({})).toEqual({ dim: 1536, explicit: false });
    expect(embeddingDimension({ NEXUS_EMBEDDING_DIM: '8' })).toEqual({ dim: 8, explicit: true });
    expect(() => embeddingDimension({ NEXUS_EMBEDDING_DIM: '0' })).toThrow('NEXUS_EMBEDDING_DIM');

    const withDim = providerEmbedder(provider('e'), logger, { NEXUS_EMBEDDING_DIM: '8' });
    expect((await withDim?.('hello'))?.length).toBe(8);
    expect(double.embeddingRequests().at(-1)?.body).toMatchObject({ dimensions: 8, input: ['hello'] });

    // Without the setting the model's own size is used (the double's is 1536) and nothing is sent.
    const byDefault = providerEmbedder(provider('e'), logger, {});
    expect((await byDefault?.('hello'))?.length).toBe(1536);
    expect(double.embeddingRequests().at(-1)?.body).not.toHaveProperty('dimensions');

    // A model of another fixed size (nomic-embed-text on Ollama: 768) than NEXUS_EMBEDDING_DIM
    // expects: the text goes without an embedding rather than the broker refusing the call.
    const ollama = await startOpenAIDouble({ embeddingSize: 768 });
    try {
      const fixedSize = createOpenAICompatibleProvider({
        apiKey: null,
        baseURL: ollama.baseURL,
        embeddingModel: 'nomic',
      });
      expect(await providerEmbedder(fixedSize, logger, {})?.('hello')).toBeNull();
      expect(ollama.embeddingRequests()).toHaveLength(1);
    } finally {
      await ollama.stop();
    }
    expect(providerEmbedder(provider(), logger, {})).toBeUndefined();
  });

  it('goes without an embedding when the endpoint fails', async () => {
    const broken = createOpenAICompatibleProvider({
      apiKey: async () => 'k',
      baseURL: `${double.url}/nowhere`,
      embeddingModel: 'e',
    });
    expect(await providerEmbedder(broken, logger, {})?.('hello')).toBeNull();
  });
});
