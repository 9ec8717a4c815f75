import type { Queryable } from '../db/pool.js';
import type { AspectStatus, RosterEntry } from '../../protocol/index.js';

interface AspectRow {
  name: string;
  role: 'aspect' | 'frame';
  status: AspectStatus;
  instance_id: string | null;
  config: Record<string, unknown> | null;
  registered_at: Date | null;
  last_heartbeat: Date | null;
  stats: unknown;
  stay_down: boolean;
}

const COLUMNS = 'name, role, status, instance_id, config, registered_at, last_heartbeat, stats, stay_down';

function toRosterEntry(row: AspectRow): RosterEntry {
  const config = row.config ?? {};
  const hands = Array.isArray(config.hands)
    ? (config.hands as { name: string; description: string; input_schema?: unknown }[])
    : [];
  const tools = Array.isArray(config.tools) ? (config.tools as string[]) : [];
  return {
    name: row.name,
    role: row.role,
    status: row.status,
    stay_down: row.stay_down,
    context_mode: typeof config.context_mode === 'string' ? config.context_mode : null,
    provider: config.provider ?? null,
    capabilities: [...tools, ...hands.map((h) => h.name)],
    hands: hands.map((h) => ({
      name: h.name,
      description: h.description,
      ...(h.input_schema === undefined ? {} : { input_schema: h.input_schema }),
    })),
    registered_at: row.registered_at?.toISOString() ?? null,
    last_heartbeat: row.last_heartbeat?.toISOString() ?? null,
    stats: row.stats,
    metadata: config.metadata ?? {},
  };
}

/** The roster: every aspect that ever registered or is held stayed-down. */
export async function listRoster(db: Queryable, name?: string): Promise<RosterEntry[]> {
  const result = await db.query<AspectRow>({
    name: name ? 'roster-one' : 'roster-all',
    text: `SELECT ${COLUMNS} FROM aspects WHERE (registered_at IS NOT NULL OR stay_down)${name ? ' AND name = $1' : ''} ORDER BY name`,
    values: name ? [name] : [],
  });
  return result.rows.map(toRosterEntry);
}

/** Locks and reads an aspect row inside a registration transaction. */
export async function lockAspect(db: Queryable, name: string): Promise<AspectRow | null> {
  const result = await db.query<AspectRow>(`SELECT ${COLUMNS} FROM aspects WHERE name = $1 FOR UPDATE`, [
    name,
  ]);
  return result.rows[0] ?? null;
}

export interface Registration {
  name: string;
  role: 'aspect' | 'frame';
  instanceId: string;
  config: unknown;
  identity: unknown;
  script: unknown;
}

export async function upsertRegistration(db: Queryable, r: Registration): Promise<void> {
  await db.query(
    `INSERT INTO aspects (name, role, status, instance_id, config, identity, script, registered_at, last_heartbeat, stats)
     VALUES ($1, $2, 'live', $3, $4, $5, $6, now(), now(), '{}')
     ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role, status = 'live', instance_id = EXCLUDED.instance_id,
       config = EXCLUDED.config, identity = EXCLUDED.identity, script = EXCLUDED.script,
       registered_at = now(), last_heartbeat = now(), stats = '{}'`,
    [
      r.name,
      r.role,
      r.instanceId,
      JSON.stringify(r.config),
      JSON.stringify(r.identity ?? null),
      JSON.stringify(r.script ?? null),
    ],
  );
}

/** Records a heartbeat from the registered instance; false when that instance is not the live one. */
export async function recordHeartbeat(
  db: Queryable,
  name: string,
  instanceId: string,
  stats: unknown,
): Promise<boolean> {
  const result = await db.query(
    `UPDATE aspects SET last_heartbeat = now(), status = 'live', stats = $3
      WHERE name = $1 AND instance_id = $2 AND status <> 'down' AND NOT stay_down`,
    [name, instanceId, JSON.stringify(stats)],
  );
  return (result.rowCount ?? 0) > 0;
}

/** Why a heartbeat or deregister did not match: the instance was replaced, or nothing is registered. */
export async function instanceMismatchReason(
  db: Queryable,
  name: string,
): Promise<'instance_replaced' | 'not_registered'> {
  const result = await db.query<{ status: string; registered: boolean }>(
    `SELECT status, registered_at IS NOT NULL AS registered FROM aspects WHERE name = $1`,
    [name],
  );
  const row = result.rows[0];
  return row && row.registered && row.status !== 'down' ? 'instance_replaced' : 'not_registered';
}

/** Marks the named instance down; false if another instance is registered. */
export async function markDown(db: Queryable, name: string, instanceId: string | null): Promise<boolean> {
  const result = await db.query(
    `UPDATE aspects SET status = 'down' WHERE name = $1 AND ($2::text IS NULL OR instance_id = $2) AND registered_at IS NOT NULL`,
    [name, instanceId],
  );
  return (result.rowCount ?? 0) > 0;
}

export async function setStayDown(db: Queryable, name: string, stayDown: boolean): Promise<void> {
  await db.query(
    `INSERT INTO aspects (name, stay_down) VALUES ($1, $2)
     ON CONFLICT (name) DO UPDATE SET stay_down = EXCLUDED.stay_down,
       status = CASE WHEN EXCLUDED.stay_down THEN 'down' ELSE aspects.status END`,
    [name, stayDown],
  );
}

/** The staleness duty's sweep: live → stale after `staleS`, live/stale → down after 3×. */
export async function sweepStaleness(
  db: Queryable,
  staleS: number,
): Promise<{ stale: number; down: number }> {
  const down = await db.query(
    `UPDATE aspects SET status = 'down'
      WHERE status IN ('live', 'stale') AND last_heartbeat < now() - make_interval(secs => $1 * 3)`,
    [staleS],
  );
  const stale = await db.query(
    `UPDATE aspects SET status = 'stale' WHERE status = 'live' AND last_heartbeat < now() - make_interval(secs => $1)`,
    [staleS],
  );
  return { stale: stale.rowCount ?? 0, down: down.rowCount ?? 0 };
}

export async function countByStatus(db: Queryable): Promise<Record<AspectStatus, number>> {
  const result = await db.query<{ status: AspectStatus; n: number }>(
    `SELECT status, count(*)::int AS n FROM aspects WHERE registered_at IS NOT NULL GROUP BY status`,
  );
  const counts: Record<AspectStatus, number> = { live: 0, stale: 0, down: 0 };
  for (const row of result.rows) counts[row.status] = row.n;
  return counts;
}

export interface SocketRight {
  name: string;
  instance_id: string | null;
  stay_down: boolean;
  status: AspectStatus;
}

/**
 * What decides whether an aspect's socket may stay open (B.3, B.89), for the aspects named: one
 * query for all of a replica's aspect sockets.
 */
export async function socketRights(db: Queryable, names: string[]): Promise<SocketRight[]> {
  const result = await db.query<SocketRight>({
    name: 'socket-rights',
    text: 'SELECT name, instance_id, stay_down, status FROM aspects WHERE name = ANY($1::text[])',
    values: [names],
  });
  return result.rows;
}

/** The registered instance of an aspect, for the socket check of B.3. */
export async function registeredInstance(
  db: Queryable,
  name: string,
): Promise<{ instance_id: string | null; stay_down: boolean; status: AspectStatus } | null> {
  const result = await db.query<{ instance_id: string | null; stay_down: boolean; status: AspectStatus }>(
    'SELECT instance_id, stay_down, status FROM aspects WHERE name = $1',
    [name],
  );
  return result.rows[0] ?? null;
}

/** The database's identity (B.45): the row the foundation migration (0001) writes. */
export async function readNexusInstance(db: Queryable): Promise<string> {
  const result = await db.query<{ id: string }>('SELECT id FROM nexus_instance');
  return (result.rows[0] as { id: string }).id;
}
