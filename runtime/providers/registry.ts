/**
 * Which provider runs an aspect: the composition root's one table of provider kinds. The API key
 * comes from the broker's credential store; with `provider.offline` set, an aspect whose
 * credential cannot be fetched falls back to the scripted provider (B.34) and says so.
 */
import type { ProviderConfig, Script } from '../../protocol/index.js';
import type { Logger } from '../../platform/index.js';
import type { AspectHome } from '../home/home.js';
import type { BrokerSession } from '../broker-session.js';
import { brokerCredential, type CredentialSource } from '../credentials.js';
import { createClaudeProvider } from './claude-api.js';
import { createOpenAICompatibleProvider } from './openai-compatible.js';
import { createScriptedProvider, parseScript } from './scripted.js';
import { invokeWithRetry } from './retry.js';
import { ProviderCallError, type Provider, type ProviderRequest, type ProviderResult } from './provider.js';

export interface ProviderChoice {
  provider: Provider;
  /** Set when the aspect runs offline instead of on its configured provider. */
  offlineBecause: string | null;
  credential: CredentialSource | null;
}

/** The credential a provider block needs: explicit, `anthropic` for claude-api, else none (B.53). */
export function credentialNameFor(provider: ProviderConfig): string | null {
  if (provider.credential !== undefined) return provider.credential;
  return provider.kind === 'claude-api' ? 'anthropic' : null;
}

export async function chooseProvider(
  home: AspectHome,
  broker: BrokerSession,
  logger: Logger,
): Promise<ProviderChoice> {
  const config = home.config.provider;
  const scripted = () =>
    createScriptedProvider({ script: parseScript(home.script, `${home.dir}/script.json`) });
  if (config.kind === 'scripted') return { provider: scripted(), offlineBecause: null, credential: null };

  const name = credentialNameFor(config);
  const credential = name === null ? null : brokerCredential(broker.http, name);
  const reason = await offlineReason(config, credential, name);
  if (reason !== null) {
    logger.warn({ aspect: home.config.name }, `running offline on the scripted provider: ${reason}`);
    return { provider: scripted(), offlineBecause: reason, credential: null };
  }
  const apiKey = credential ? () => credential.get() : null;
  return { provider: createProvider(config, apiKey, null, home.dir), offlineBecause: null, credential };
}

/**
 * Why a provider block with `offline` set must run on the scripted provider (its credential cannot
 * be fetched), or null to run it as configured. Aspects and Hand workers decide alike (B.34, B.52).
 */
export async function offlineReason(
  config: ProviderConfig,
  credential: CredentialSource | null,
  name: string | null,
): Promise<string | null> {
  if (!credential || !config.offline) return null;
  try {
    await credential.get();
    return null;
  } catch (err) {
    return `credential ${name ?? '?'} could not be fetched (${err instanceof Error ? err.message : String(err)})`;
  }
}

/**
 * The provider for a provider block: the one table of provider kinds, shared by aspects and the
 * Hand worker. `apiKey` reads the credential when a call needs it; `script` serves `scripted`.
 */
export function createProvider(
  config: ProviderConfig,
  apiKey: (() => Promise<string>) | null,
  script: Script | null,
  where: string,
): Provider {
  if (config.kind === 'scripted') return createScriptedProvider({ script });
  if (config.kind === 'claude-api') {
    if (!apiKey) throw new Error(`${where}: provider.credential: claude-api needs a credential`);
    return createClaudeProvider({
      apiKey,
      ...(config.base_url ? { baseURL: config.base_url } : {}),
      ...(config.model ? { model: config.model } : {}),
    });
  }
  return createOpenAICompatibleProvider({
    apiKey,
    ...(config.base_url ? { baseURL: config.base_url } : {}),
    ...(config.model ? { model: config.model } : {}),
    ...(config.token_param ? { tokenParam: config.token_param } : {}),
    ...(config.embedding_model ? { embeddingModel: config.embedding_model } : {}),
  });
}

/**
 * Provider calls with retry; after an `auth` failure the cached credential is dropped and the call
 * tried once more, so a rotated key is picked up (B.53).
 */
export function callWithRetry(credential: () => CredentialSource | null) {
  return async (
    provider: Provider,
    request: ProviderRequest,
    signal: AbortSignal,
  ): Promise<ProviderResult> => {
    try {
      return await invokeWithRetry(provider, request, signal);
    } catch (err) {
      const source = credential();
      if (!(err instanceof ProviderCallError) || err.failure.kind !== 'auth' || !source) throw err;
      source.invalidate();
      return invokeWithRetry(provider, request, signal);
    }
  };
}
