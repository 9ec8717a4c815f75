import type { EventsQuery } from '../../protocol/index.js';
import type { Queryable } from '../db/pool.js';

export interface StoredEvent {
  id: string;
  aspect: string;
  kind: string;
  ts: string;
  thread_id?: string;
  data: unknown;
}

interface EventRow {
  id: string;
  aspect: string;
  kind: string;
  ts: Date;
  thread_id: string | null;
  data: unknown;
}

function toStored(row: EventRow): StoredEvent {
  return {
    id: row.id,
    aspect: row.aspect,
    kind: row.kind,
    ts: row.ts.toISOString(),
    ...(row.thread_id ? { thread_id: row.thread_id } : {}),
    data: row.data,
  };
}

export async function insertEvent(
  db: Queryable,
  e: { aspect: string; kind: string; ts: string; threadId: string | null; data: unknown },
): Promise<string> {
  const result = await db.query<{ id: string }>(
    `INSERT INTO events (aspect, kind, ts, thread_id, data) VALUES ($1, $2, $3, $4, $5) RETURNING id::text AS id`,
    [e.aspect, e.kind, e.ts, e.threadId, JSON.stringify(e.data)],
  );
  return (result.rows[0] as { id: string }).id;
}

/** Stores many events in one statement; returns their ids. */
export async function insertEvents(
  db: Queryable,
  events: { aspect: string; kind: string; ts: string; threadId: string | null; data: unknown }[],
): Promise<string[]> {
  const result = await db.query<{ id: string }>(
    `INSERT INTO events (aspect, kind, ts, thread_id, data)
     SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::jsonb[])
     RETURNING id::text AS id`,
    [
      events.map((e) => e.aspect),
      events.map((e) => e.kind),
      events.map((e) => e.ts),
      events.map((e) => e.threadId),
      events.map((e) => JSON.stringify(e.data)),
    ],
  );
  return result.rows.map((r) => r.id);
}

export async function readEventsByIds(db: Queryable, ids: string[]): Promise<StoredEvent[]> {
  const result = await db.query<EventRow>(
    `SELECT id::text AS id, aspect, kind, ts, thread_id::text AS thread_id, data FROM events WHERE id = ANY($1::bigint[]) ORDER BY id`,
    [ids],
  );
  return result.rows.map(toStored);
}

/** Removes events older than the retention (B.9); run by a duty. */
/** Stored events for `GET /v1/events`, by id in either order. */
export async function listEvents(db: Queryable, query: EventsQuery): Promise<StoredEvent[]> {
  const result = await db.query<EventRow>(
    `SELECT id::text AS id, aspect, kind, ts, thread_id::text AS thread_id, data
       FROM events
      WHERE ($1::bigint IS NULL OR id > $1) AND ($2::bigint IS NULL OR id < $2)
        AND ($3::text IS NULL OR aspect = $3) AND ($4::text IS NULL OR kind = $4)
      ORDER BY CASE WHEN $5 = 'asc' THEN id END ASC, CASE WHEN $5 = 'desc' THEN id END DESC
      LIMIT $6`,
    [
      query.after ?? null,
      query.before ?? null,
      query.aspect ?? null,
      query.kind ?? null,
      query.order,
      query.limit,
    ],
  );
  return result.rows.map(toStored);
}

export async function deleteOldEvents(db: Queryable, retentionS: number): Promise<number> {
  const result = await db.query(`DELETE FROM events WHERE stored_at < now() - make_interval(secs => $1)`, [
    retentionS,
  ]);
  return result.rowCount ?? 0;
}
