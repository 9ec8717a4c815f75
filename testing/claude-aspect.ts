/**
 * The set-up the runtime tests share that run one aspect on `claude-api` against the Anthropic
 * double: a broker process with a credential store, the double, and `start()`, which stores the
 * provider key, grants it to the aspect, writes its home and runs `nexus agent` until it has
 * registered. Call inside `describe`: it registers the hooks, and stops everything it started.
 */
import { randomBytes } from 'node:crypto';
import type { BrokerClient } from '../client/index.js';
import { type AgentProcess, startAgentProcess, writeHome } from './agent-process.js';
import { type AnthropicDouble, startAnthropicDouble } from './anthropic-double.js';
import { adminClient, mintAspectToken } from './aspects.js';
import { type BrokerProcess, newAdminTokenValue, startBrokerProcess } from './broker-process.js';
import { createTestDatabase, type TestDatabase } from './postgres.js';

export interface ClaudeAspectOptions {
  name: string;
  /** The key stored as the `anthropic` credential. */
  apiKey: string;
  /** Fields of aspect.json besides name and provider (tools defaults to send_message). */
  aspect?: Record<string, unknown>;
  /** Fields of the provider block besides kind, model and base_url. */
  provider?: Record<string, unknown>;
  /** Other files of the home: SOUL.md, AGENT.md, PRIMER.md. */
  files?: Record<string, string>;
}

export interface ClaudeAspectEnv {
  broker: BrokerProcess;
  double: AnthropicDouble;
  admin(): BrokerClient;
  start(options: ClaudeAspectOptions): Promise<{ agent: AgentProcess; home: string; token: string }>;
}

export function useClaudeAspect(databaseName: string): ClaudeAspectEnv {
  let db: TestDatabase | undefined;
  const agents: AgentProcess[] = [];
  const bootstrap = newAdminTokenValue();
  const env = {} as ClaudeAspectEnv;
  env.admin = () => adminClient(env.broker.url, bootstrap);
  env.start = async ({ name, apiKey, aspect = {}, provider = {}, files = {} }) => {
    const admin = env.admin();
    await admin.call('PUT', '/v1/credentials/anthropic', { value: apiKey });
    await admin.post('/v1/credentials/anthropic/grants', { aspect: name });
    const { token } = await mintAspectToken(admin, name);
    const home = await writeHome({
      'aspect.json': {
        name,
        provider: { kind: 'claude-api', model: 'claude-sonnet-4-5', base_url: env.double.url, ...provider },
        tools: ['send_message'],
        ...aspect,
      },
      ...files,
    });
    const agent = startAgentProcess({ home, url: env.broker.url, token });
    agents.push(agent);
    await agent.waitForLog('"registered"');
    return { agent, home, token };
  };

  beforeAll(async () => {
    db = await createTestDatabase(databaseName);
    env.broker = await startBrokerProcess({
      databaseUrl: db.url,
      bootstrapToken: bootstrap,
      env: { NEXUS_SECRET_KEY: randomBytes(32).toString('base64') },
    });
    env.double = await startAnthropicDouble();
  });
  afterAll(async () => {
    await Promise.all(agents.map((agent) => agent.stop()));
    await env.broker?.stop();
    await env.double?.stop();
    await db?.drop();
  });
  return env;
}
