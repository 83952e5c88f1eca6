import type pg from 'pg';
import { FerryError } from '../errors.ts';
import type { Database } from './db.ts';

export interface ScheduledStart {
  id: string;
  service: string;
  environment: string;
  requestedBy: string;
  channel: string;
  startAt: Date;
  status: 'pending' | 'started' | 'cancelled' | 'failed';
  runId: string | null;
  /** An approver's reason to start it outside the change windows (`--override`). */
  overrideReason: string | null;
}

function toScheduled(r: Record<string, unknown>): ScheduledStart {
  return {
    id: r.id as string,
    service: r.service as string,
    environment: r.environment as string,
    requestedBy: r.requested_by as string,
    channel: r.channel as string,
    startAt: r.start_at as Date,
    status: r.status as ScheduledStart['status'],
    runId: (r.run_id as string | null) ?? null,
    overrideReason: (r.override_reason as string | null) ?? null,
  };
}

export async function insertScheduledStart(
  db: Database,
  input: Omit<ScheduledStart, 'id' | 'status' | 'runId' | 'overrideReason'> & { overrideReason?: string },
): Promise<ScheduledStart> {
  try {
    const { rows } = await db.pool.query(
      `insert into scheduled_starts (id, service, environment, requested_by, channel, start_at, override_reason)
       values ('s' || nextval('scheduled_start_seq'), $1, $2, $3, $4, $5, $6) returning *`,
      [
        input.service,
        input.environment,
        input.requestedBy,
        input.channel,
        input.startAt,
        input.overrideReason ?? null,
      ],
    );
    return toScheduled(rows[0] as Record<string, unknown>);
  } catch (error) {
    if ((error as { code?: string }).code !== '23505') throw error;
    const [pending] = await pendingScheduledStarts(db, {
      service: input.service,
      environment: input.environment,
    });
    throw new FerryError(
      'run_active',
      `${input.service} ${input.environment} already has a scheduled start${pending ? ` (${pending.id} at ${pending.startAt.toISOString().slice(0, 16).replace('T', ' ')} UTC)` : ''}: \`/migrate abort ${pending?.id ?? 's…'}\` first.`,
    );
  }
}

export async function pendingScheduledStarts(
  db: Database,
  filter: { service?: string; environment?: string; dueBy?: Date } = {},
): Promise<ScheduledStart[]> {
  const where = [`status = 'pending'`];
  const args: unknown[] = [];
  if (filter.service) where.push(`service = $${args.push(filter.service)}`);
  if (filter.environment) where.push(`environment = $${args.push(filter.environment)}`);
  if (filter.dueBy) where.push(`start_at <= $${args.push(filter.dueBy)}`);
  const { rows } = await db.pool.query(
    `select * from scheduled_starts where ${where.join(' and ')} order by start_at`,
    args,
  );
  return rows.map(toScheduled);
}

export async function findScheduledStart(db: Database, id: string): Promise<ScheduledStart | null> {
  const { rows } = await db.pool.query(`select * from scheduled_starts where id = $1`, [id]);
  const r = rows[0] as Record<string, unknown> | undefined;
  return r ? toScheduled(r) : null;
}

/** Marks a pending start as started by `runId`, inside the transaction that creates the run. */
export async function markScheduledStarted(
  client: Pick<pg.PoolClient, 'query'>,
  id: string,
  runId: string,
): Promise<void> {
  const { rowCount } = await client.query(
    `update scheduled_starts set status = 'started', run_id = $2 where id = $1 and status = 'pending'`,
    [id, runId],
  );
  // Another replica started it, or someone cancelled it meanwhile: the run must not be created.
  if (rowCount !== 1)
    throw new FerryError('transition_refused', `Scheduled start ${id} is no longer pending.`);
}

export async function closeScheduledStart(
  db: Database,
  id: string,
  outcome: { status: 'cancelled' | 'failed'; by?: string; error?: string },
): Promise<boolean> {
  const { rowCount } = await db.pool.query(
    `update scheduled_starts set status = $2, decided_by = $3, error = $4 where id = $1 and status = 'pending'`,
    [id, outcome.status, outcome.by ?? null, outcome.error ?? null],
  );
  return rowCount === 1;
}
