/**
 * What the team needs from the broker at each start: a fresh token per aspect (the frame's with
 * the admin scope, B.4) and one for the worker pool, and, with `ANTHROPIC_API_KEY`, the
 * `anthropic` credential granted to every aspect (SPEC section 1). The tokens of the previous
 * start are revoked first, so they do not pile up and a runtime orphaned by a killed supervisor
 * is refused (401 ends a runtime, B.80).
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WireError, type MintTokenReply } from '../../protocol/index.js';
import type { BrokerClient } from '../../client/index.js';
import type { TeamMember } from './team.js';

/** The worker pool's entry in `DATA/tokens` (`_` keeps it apart from every aspect name). */
const WORKER_ENTRY = '_worker';

export interface TeamTokens {
  /** `DATA/tokens/<name>.token` per aspect: the runtime's NEXUS_TOKEN_FILE. */
  files: Map<string, string>;
  worker: string;
}

async function revokePrevious(admin: BrokerClient, tokensDir: string): Promise<void> {
  const entries = await readdir(tokensDir).catch((): string[] => []);
  for (const entry of entries.filter((e) => e.endsWith('.id'))) {
    const id = (await readFile(path.join(tokensDir, entry), 'utf8')).trim();
    try {
      await admin.delete(`/v1/admin/tokens/${encodeURIComponent(id)}`);
    } catch (err) {
      // Already gone (another database, or revoked by hand): nothing to do.
      if (!(err instanceof WireError) || !['not_found', 'invalid_request'].includes(err.code)) throw err;
    }
    await rm(path.join(tokensDir, entry), { force: true });
  }
}

async function mint(admin: BrokerClient, body: Record<string, unknown>): Promise<MintTokenReply> {
  return admin.post<MintTokenReply>('/v1/admin/tokens', body);
}

export async function mintTeamTokens(
  admin: BrokerClient,
  team: TeamMember[],
  tokensDir: string,
): Promise<TeamTokens> {
  await mkdir(tokensDir, { recursive: true, mode: 0o700 });
  await revokePrevious(admin, tokensDir);
  const files = new Map<string, string>();
  for (const member of team) {
    const reply = await mint(admin, {
      kind: 'aspect',
      aspect: member.name,
      ...(member.config.role === 'frame' ? { admin: true } : {}),
    });
    const file = path.join(tokensDir, `${member.name}.token`);
    await writeFile(file, `${reply.token}\n`, { mode: 0o600 });
    await writeFile(path.join(tokensDir, `${member.name}.id`), `${reply.id}\n`, { mode: 0o600 });
    files.set(member.name, file);
  }
  const worker = await mint(admin, { kind: 'worker' });
  await writeFile(path.join(tokensDir, `${WORKER_ENTRY}.id`), `${worker.id}\n`, { mode: 0o600 });
  return { files, worker: worker.token };
}

/** Stores `ANTHROPIC_API_KEY` as the `anthropic` credential and grants it to every aspect. */
export async function grantAnthropicKey(admin: BrokerClient, key: string, team: TeamMember[]): Promise<void> {
  await admin.call('PUT', '/v1/credentials/anthropic', {
    value: key,
    kind: 'api_key',
    description: 'ANTHROPIC_API_KEY given to nexus dev',
  });
  for (const member of team) await admin.post('/v1/credentials/anthropic/grants', { aspect: member.name });
}
