/**
 * The expected roster (SPEC section 8, B.24): what each source (the operator, an admin) expects to
 * be live, and the duty that reports an expected aspect missing once per spell. The report — a
 * `roster.missing` event and a `system` message from `nexus` to the frame (B.84) — is written by
 * `nexus_report_missing` (migration 0018) in one transaction with the row that marks the spell.
 */
import type { Duty } from '../duties/duty-runner.js';
import type { DeliveryAnnouncer } from '../bus/send.js';
import type pg from 'pg';
import { withTransaction, type Queryable } from '../db/pool.js';

/** Lock key of the expected-roster duty (the 7_230_0xx range of orchestrator duties). */
const EXPECTED_ROSTER_DUTY_KEY = 7_230_021;

/**
 * Replaces the list of aspects `source` expects; entries it keeps keep their `added_at`. Two PUTs
 * of one source take turns (a lock per source, then the write in a statement of its own, whose
 * snapshot follows the lock), so the later list wins whole instead of merging with the other.
 */
export async function replaceExpectedAspects(
  pool: pg.Pool,
  source: string,
  aspects: string[],
): Promise<void> {
  await withTransaction(pool, async (tx) => {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended('nexus.expected:' || $1, 0))`, [source]);
    await tx.query(
      `WITH gone AS (DELETE FROM expected_aspects WHERE source = $1 AND NOT (aspect = ANY ($2::text[])))
       INSERT INTO expected_aspects (source, aspect) SELECT $1, a FROM unnest($2::text[]) a
       ON CONFLICT DO NOTHING`,
      [source, aspects],
    );
  });
}

interface MissingReport {
  aspect: string;
  since: Date;
  event_id: string;
  message_id: string | null;
  thread_id: string | null;
  recipients: string[] | null;
}

/** Ends finished spells and reports new ones; returns the reports made. */
export async function reportMissingAspects(db: Queryable, staleS: number): Promise<MissingReport[]> {
  const result = await db.query<MissingReport>(
    `SELECT aspect, since, event_id::text AS event_id, message_id::text AS message_id,
            thread_id::text AS thread_id, recipients
       FROM nexus_report_missing($1)`,
    [staleS],
  );
  return result.rows;
}

/** The duty comparing the live roster with the expected one, every `intervalMs`. */
export function expectedRosterDuty(options: {
  staleS: number;
  announcer: DeliveryAnnouncer;
  /** Hints other replicas that events were stored, so subscribers see them (ids only). */
  eventsStored: (ids: string[]) => void;
  intervalMs?: number;
}): Duty {
  return {
    name: 'expected-roster',
    key: EXPECTED_ROSTER_DUTY_KEY,
    intervalMs: options.intervalMs ?? 1000,
    run: async (db) => {
      const reports = await reportMissingAspects(db, options.staleS);
      if (reports.length === 0) return;
      options.eventsStored(reports.map((r) => r.event_id));
      for (const r of reports)
        if (r.message_id && r.thread_id)
          options.announcer.announce({
            id: r.message_id,
            threadId: r.thread_id,
            recipients: r.recipients ?? [],
          });
    },
  };
}
