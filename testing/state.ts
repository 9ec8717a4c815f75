/**
 * What "state unchanged" means in tests (SPEC section 12, B.7): messages, threads, tokens and the
 * roster, read through the admin API, plus a one-query fingerprint of the same tables (and those
 * the API does not show) for property tests that compare state thousands of times.
 */
import pg from 'pg';
import type { BrokerClient } from '../client/index.js';
import type { Message, RosterEntry, TokenInfo } from '../protocol/index.js';

export interface StateSnapshot {
  messages: string[];
  threads: { id: string; participants: string[]; last_message: string | null }[];
  tokens: { id: string; revoked: boolean }[];
  aspects: Pick<
    RosterEntry,
    'name' | 'status' | 'stay_down' | 'registered_at' | 'last_heartbeat' | 'stats'
  >[];
}

/** The broker's state as an admin sees it. Audit rows, cursors and `last_used_at` are not state (B.7). */
export async function stateSnapshot(admin: BrokerClient): Promise<StateSnapshot> {
  const messages: string[] = [];
  for (let after = '0'; ;) {
    const page = await admin.get<{ messages: Message[] }>(`/v1/messages?after=${after}&limit=1000`);
    messages.push(...page.messages.map((m) => m.id));
    if (page.messages.length < 1000) break;
    after = page.messages.at(-1)?.id ?? after;
  }
  const threads: StateSnapshot['threads'] = [];
  for (let after = '0'; ;) {
    const page = await admin.get<{
      threads: { id: string; participants: string[]; last_message: Message | null }[];
    }>(`/v1/threads?after=${after}&limit=1000`);
    threads.push(
      ...page.threads.map((t) => ({
        id: t.id,
        participants: t.participants,
        last_message: t.last_message?.id ?? null,
      })),
    );
    if (page.threads.length < 1000) break;
    after = page.threads.at(-1)?.id ?? after;
  }
  const { tokens } = await admin.get<{ tokens: TokenInfo[] }>('/v1/admin/tokens');
  const { aspects } = await admin.get<{ aspects: RosterEntry[] }>('/v1/aspects');
  return {
    messages,
    threads,
    tokens: tokens.map((t) => ({ id: t.id, revoked: t.revoked_at !== undefined })),
    aspects: aspects.map(({ name, status, stay_down, registered_at, last_heartbeat, stats }) => ({
      name,
      status,
      stay_down,
      registered_at,
      last_heartbeat,
      stats,
    })),
  };
}

const FINGERPRINT = `
  SELECT (SELECT count(*) FROM messages) AS messages,
         (SELECT count(*) FROM message_recipients) AS recipients,
         (SELECT count(*) FROM threads) AS threads,
         (SELECT count(*) FROM thread_participants) AS participants,
         (SELECT count(*) FROM idempotency_keys) AS idempotency_keys,
         (SELECT count(*) FROM tokens) AS tokens,
         (SELECT count(*) FROM tokens WHERE revoked_at IS NOT NULL) AS revoked,
         (SELECT md5(coalesce(string_agg(concat_ws('|', id, state, attempt, losses, abort_requested, result),
                  ',' ORDER BY id), '')) FROM hand_dispatches) AS dispatches,
         (SELECT count(*) FROM hand_queue) AS queued,
         (SELECT md5(coalesce(string_agg(concat_ws('|', dispatch_id, lease_expires_at), ',' ORDER BY dispatch_id), ''))
            FROM hand_running) AS running,
         (SELECT md5(coalesce(string_agg(concat_ws('|', n, h), ','), '')) FROM hand_limits) AS limits,
         (SELECT md5(coalesce(string_agg(concat_ws('|', name, role, status, instance_id, stay_down,
                  registered_at, last_heartbeat, config, identity, script, stats), ',' ORDER BY name), ''))
            FROM aspects) AS aspects,
         (SELECT md5(coalesce(string_agg(concat_ws('|', id, owner, to_list, thread_id, next_at, fired), ',' ORDER BY id), ''))
            FROM alarms) AS alarms,
         (SELECT md5(coalesce(string_agg(concat_ws('|', source, aspect), ',' ORDER BY source, aspect), ''))
            FROM expected_aspects) AS expected_aspects,
         (SELECT md5(coalesce(string_agg(concat_ws('|', id, from_agent, topic, md5(content), shared, embedding,
                  updated_at), ',' ORDER BY id), '')) FROM knowledge) AS knowledge`;

/** A connection that fingerprints the state tables in one query; `end()` closes it. */
export async function openStateProbe(
  databaseUrl: string,
): Promise<{ fingerprint(): Promise<string>; end(): Promise<void> }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  return {
    async fingerprint() {
      const result = await client.query(FINGERPRINT);
      return JSON.stringify(result.rows[0]);
    },
    end: () => client.end(),
  };
}
