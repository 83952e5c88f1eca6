import type { Database, Queryable } from './db.ts';

export interface Lock {
  service: string;
  environment: string;
  reason: string;
  lockedBy: string;
  lockedAt: Date;
}

export interface Incident {
  id: number;
  runId: string;
  severity: 'sev1' | 'sev2' | 'sev3';
  summary: string;
  openedBy: string;
  openedAt: Date;
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
  return r
    ? {
        service: r.service as string,
        environment: r.environment as string,
        reason: r.reason as string,
        lockedBy: r.locked_by as string,
        lockedAt: r.locked_at as Date,
      }
    : null;
}

/** Locks; returns the existing lock instead when there already is one. */
export async function insertLock(db: Database, lock: Lock): Promise<Lock | null> {
  const { rowCount } = await db.pool.query(
    `insert into locks (service, environment, reason, locked_by, locked_at) values ($1, $2, $3, $4, $5)
     on conflict (service, environment) do nothing`,
    [lock.service, lock.environment, lock.reason, lock.lockedBy, lock.lockedAt],
  );
  return rowCount === 1 ? null : findLock(db.pool, lock.service, lock.environment);
}

export async function deleteLock(db: Database, service: string, environment: string): Promise<Lock | null> {
  const { rows } = await db.pool.query(
    `delete from locks where service = $1 and environment = $2 returning *`,
    [service, environment],
  );
  const r = rows[0] as Record<string, unknown> | undefined;
  return r
    ? {
        service,
        environment,
        reason: r.reason as string,
        lockedBy: r.locked_by as string,
        lockedAt: r.locked_at as Date,
      }
    : null;
}

export async function openIncidents(client: Queryable, runId: string): Promise<Incident[]> {
  const { rows } = await client.query(
    `select * from incidents where run_id = $1 and resolved_at is null order by opened_at`,
    [runId],
  );
  return rows.map((r: Record<string, unknown>) => ({
    id: r.id as number,
    runId: r.run_id as string,
    severity: r.severity as Incident['severity'],
    summary: r.summary as string,
    openedBy: r.opened_by as string,
    openedAt: r.opened_at as Date,
  }));
}

export async function insertIncident(client: Queryable, incident: Omit<Incident, 'id'>): Promise<void> {
  await client.query(
    `insert into incidents (run_id, severity, summary, opened_by, opened_at) values ($1, $2, $3, $4, $5)`,
    [incident.runId, incident.severity, incident.summary, incident.openedBy, incident.openedAt],
  );
}

export async function resolveIncident(client: Queryable, id: number, by: string, at: Date): Promise<void> {
  await client.query(`update incidents set resolved_by = $2, resolved_at = $3 where id = $1`, [id, by, at]);
}
