import type { Direction } from '../engine/types.ts';
import type { Progress } from '../adapters/types.ts';
import type { Database } from './db.ts';

export interface Attempt {
  id: number;
  runId: string;
  stepId: string;
  attempt: number;
  direction: Direction;
  captured: unknown;
  hasCapture: boolean;
  /** How many times it has been claimed: more than once means a process died holding it. */
  claims: number;
}

/**
 * Claims attempts that are due, and attempts whose claimant's lease ran out (it died mid-step),
 * without waiting on rows another worker holds.
 */
export async function claimDueAttempts(
  db: Database,
  owner: string,
  leaseMs: number,
  limit: number,
): Promise<Attempt[]> {
  const { rows } = await db.pool.query(
    `update step_attempts a set status = 'running', claimed_by = $1, claims = a.claims + 1,
       lease_until = now() + ($2 || ' milliseconds')::interval
     where a.id in (
       select id from step_attempts
       where (status = 'due' and not_before <= now()) or (status = 'running' and lease_until < now())
       order by not_before, id
       for update skip locked
       limit $3)
     returning a.id, a.run_id, a.step_id, a.attempt, a.direction, a.captured, a.captured_at, a.claims`,
    [owner, String(leaseMs), limit],
  );
  return rows.map((r: Record<string, unknown>) => ({
    id: r.id as number,
    runId: r.run_id as string,
    stepId: r.step_id as string,
    attempt: r.attempt as number,
    direction: r.direction as Direction,
    captured: r.captured,
    hasCapture: r.captured_at !== null,
    claims: r.claims as number,
  }));
}

/** Hands claimed attempts back, due at once, to whichever executor claims next. */
export async function releaseAttempts(
  db: Database,
  attemptIds: readonly number[],
  owner: string,
): Promise<void> {
  if (attemptIds.length === 0) return;
  await db.pool.query(
    `update step_attempts set status = 'due', claimed_by = null, lease_until = null
     where id = any($1) and claimed_by = $2 and status = 'running'`,
    [attemptIds, owner],
  );
}

/** When the next attempt falls due, to sleep exactly that long. */
export async function nextDueAt(db: Database): Promise<Date | null> {
  const { rows } = await db.pool.query(
    `select min(case when status = 'due' then not_before else lease_until end) as at
     from step_attempts where status in ('due', 'running')`,
  );
  return (rows[0] as { at: Date | null }).at;
}

/** Keeps a claim alive; false when the attempt was cancelled or taken over. */
export async function renewLease(
  db: Database,
  attemptId: number,
  owner: string,
  leaseMs: number,
): Promise<boolean> {
  const { rowCount } = await db.pool.query(
    `update step_attempts set lease_until = now() + ($3 || ' milliseconds')::interval
     where id = $1 and claimed_by = $2 and status = 'running'`,
    [attemptId, owner, String(leaseMs)],
  );
  return rowCount === 1;
}

/**
 * The state captured before the step's first forward attempt acted: retries and undo reuse it, so
 * a retry never captures the already-changed state as the "before".
 */
export async function findCapture(
  db: Database,
  runId: string,
  stepId: string,
): Promise<{ found: boolean; captured: unknown }> {
  const { rows } = await db.pool.query(
    `select captured from step_attempts
     where run_id = $1 and step_id = $2 and direction = 'do' and captured_at is not null
     order by attempt limit 1`,
    [runId, stepId],
  );
  const row = rows[0] as { captured: unknown } | undefined;
  return row ? { found: true, captured: row.captured } : { found: false, captured: undefined };
}

/** Commits the capture before the step acts (exactly-once effect per attempt). */
export async function saveCapture(db: Database, attemptId: number, captured: unknown): Promise<void> {
  await db.pool.query(
    `update step_attempts set captured = $2::jsonb, captured_at = now() where id = $1 and captured_at is null`,
    [attemptId, JSON.stringify(captured ?? null)],
  );
}

export async function earlierCaptures(
  db: Database,
  runId: string,
  beforeStepId: string,
): Promise<Map<string, unknown>> {
  const { rows } = await db.pool.query(
    `select distinct on (a.step_id) a.step_id, a.captured from step_attempts a
     join steps s on s.run_id = a.run_id and s.step_id = a.step_id
     where a.run_id = $1 and a.direction = 'do' and a.captured_at is not null
       and s.position < (select position from steps where run_id = $1 and step_id = $2)
     order by a.step_id, a.attempt`,
    [runId, beforeStepId],
  );
  return new Map(rows.map((r: { step_id: string; captured: unknown }) => [r.step_id, r.captured]));
}

export async function saveProgress(
  db: Database,
  runId: string,
  stepId: string,
  progress: Progress,
): Promise<void> {
  await db.pool.query(
    `insert into step_progress (run_id, step_id, text, fraction, figures) values ($1, $2, $3, $4, $5)
     on conflict (run_id, step_id) do update set text = excluded.text, fraction = excluded.fraction,
       figures = excluded.figures, version = step_progress.version + 1, updated_at = now()`,
    [runId, stepId, progress.text, progress.fraction ?? null, progress.figures ?? null],
  );
  await db.pool.query(`update runs set version = version + 1 where id = $1`, [runId]);
}

export async function isAttemptCurrent(db: Database, attemptId: number): Promise<boolean> {
  const { rows } = await db.pool.query(`select status from step_attempts where id = $1`, [attemptId]);
  return (rows[0] as { status: string } | undefined)?.status === 'running';
}

/** A step's one-line description, read again just before it acts; the status message follows. */
export async function updateStepTitle(
  db: Database,
  runId: string,
  stepId: string,
  title: string,
): Promise<void> {
  const { rowCount } = await db.pool.query(
    `update steps set title = $3 where run_id = $1 and step_id = $2 and title <> $3`,
    [runId, stepId, title],
  );
  if (rowCount) await db.pool.query(`update runs set version = version + 1 where id = $1`, [runId]);
}
