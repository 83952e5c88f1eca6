import type { Database, Queryable } from './db.ts';

export interface Lock {
  service: string;
  environment: string;
  reason: string;
  lockedBy: string;
  lockedAt: Date;
  /** Where it was taken (the command's channel, the rolled-back run's): its reminder goes there. */
  channel?: string | null;
}

export function toLock(r: Record<string, unknown>): Lock {
  return {
    service: r.service as string,
    environment: r.environment as string,
    reason: r.reason as string,
    lockedBy: r.locked_by as string,
    lockedAt: r.locked_at as Date,
    channel: (r.channel as string | null) ?? null,
  };
}

export interface Incident {
  id: number;
  runId: string;
  severity: 'sev1' | 'sev2' | 'sev3';
  summary: string;
  openedBy: string;
  openedAt: Date;
  stepId: string | null;
  overriddenBy: string | null;
  overriddenAt: Date | null;
}

function toIncident(r: Record<string, unknown>): Incident {
  return {
    id: r.id as number,
    runId: r.run_id as string,
    severity: r.severity as Incident['severity'],
    summary: r.summary as string,
    openedBy: r.opened_by as string,
    openedAt: r.opened_at as Date,
    stepId: (r.step_id as string | null) ?? null,
    overriddenBy: (r.overridden_by as string | null) ?? null,
    overriddenAt: (r.overridden_at as Date | null) ?? null,
  };
}

/** The lock on a service and environment, if any; `forShare` holds it against an unlock racing a start. */
export async function findLock(
  client: Queryable,
  service: string,
  environment: string,
  forShare = false,
): Promise<Lock | null> {
  const { rows } = await client.query(
    `select * from locks where service = $1 and environment = $2 ${forShare ? 'for share' : ''}`,
    [service, environment],
  );
  const r = rows[0] as Record<string, unknown> | undefined;
  return r ? toLock(r) : null;
}

/** Locks; returns the existing lock instead when there already is one. */
export async function insertLock(db: Database, lock: Lock): Promise<Lock | null> {
  const { rowCount } = await db.pool.query(
    `insert into locks (service, environment, reason, locked_by, locked_at, channel) values ($1, $2, $3, $4, $5, $6)
     on conflict (service, environment) do nothing`,
    [lock.service, lock.environment, lock.reason, lock.lockedBy, lock.lockedAt, lock.channel ?? null],
  );
  return rowCount === 1 ? null : findLock(db.pool, lock.service, lock.environment);
}

export async function deleteLock(db: Database, service: string, environment: string): Promise<Lock | null> {
  const { rows } = await db.pool.query(
    `delete from locks where service = $1 and environment = $2 returning *`,
    [service, environment],
  );
  const r = rows[0] as Record<string, unknown> | undefined;
  return r ? toLock(r) : null;
}

/** Locks whose owner has not been reminded yet (each plan says after how long: the caller decides). */
export async function locksNotReminded(db: Database): Promise<Lock[]> {
  const { rows } = await db.pool.query(`select * from locks where reminded_at is null order by locked_at`);
  return rows.map(toLock);
}

/**
 * Marks the lock reminded, or unmarks it (`at` null) when telling the channel failed, so that a later
 * tick tries again. Only the lock as it was read: one taken afresh since is another lock. False when
 * another replica (or an unlock) got there first.
 */
export async function markLockReminded(db: Database, lock: Lock, at: Date | null): Promise<boolean> {
  const { rowCount } = await db.pool.query(
    `update locks set reminded_at = $4
     where service = $1 and environment = $2 and locked_at = $3 and (reminded_at is null) = ($4::timestamptz is not null)`,
    [lock.service, lock.environment, lock.lockedAt, at],
  );
  return rowCount === 1;
}

export async function openIncidents(client: Queryable, runId: string): Promise<Incident[]> {
  const { rows } = await client.query(
    `select * from incidents where run_id = $1 and resolved_at is null order by opened_at, id`,
    [runId],
  );
  return rows.map(toIncident);
}

/** Open incidents on any run of a service: one that holds a run holds back the service's next start. */
export async function openIncidentsOfService(client: Queryable, service: string): Promise<Incident[]> {
  const { rows } = await client.query(
    `select i.* from incidents i join runs r on r.id = i.run_id
     where r.service = $1 and i.resolved_at is null order by i.opened_at, i.id`,
    [service],
  );
  return rows.map(toIncident);
}

/** Records an incident; returns its id. */
export async function insertIncident(
  client: Queryable,
  incident: Pick<Incident, 'runId' | 'severity' | 'summary' | 'openedBy' | 'openedAt' | 'stepId'>,
): Promise<number> {
  const { rows } = await client.query<{ id: number }>(
    `insert into incidents (run_id, severity, summary, opened_by, opened_at, step_id)
     values ($1, $2, $3, $4, $5, $6) returning id`,
    [
      incident.runId,
      incident.severity,
      incident.summary,
      incident.openedBy,
      incident.openedAt,
      incident.stepId,
    ],
  );
  return rows[0]!.id;
}

export async function resolveIncident(client: Queryable, id: number, by: string, at: Date): Promise<void> {
  await client.query(`update incidents set resolved_by = $2, resolved_at = $3 where id = $1`, [id, by, at]);
}

/** Marks incidents as gone on despite: they stay open but no longer hold their run. */
export async function overrideIncidents(
  client: Queryable,
  ids: readonly number[],
  by: string,
  at: Date,
): Promise<void> {
  if (ids.length === 0) return;
  await client.query(
    `update incidents set overridden_by = $2, overridden_at = $3 where id = any($1) and overridden_by is null`,
    [ids, by, at],
  );
}
