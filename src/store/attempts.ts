import type { Direction } from '../engine/types.ts';
import type { Progress } from '../adapters/types.ts';
import type { Database, Queryable } from './db.ts';

export interface Attempt {
  id: number;
  runId: string;
  stepId: string;
  attempt: number;
  direction: Direction;
  captured: unknown;
  hasCapture: boolean;
  /**
   * Claims that ended without an outcome or a hand-back, this one included: more than one means a
   * process died holding it (and may have acted).
   */
  claims: number;
  /** This claim's fencing token: every write on the attempt's behalf names it. */
  claimId: number;
}

/**
 * Claims attempts that are due, and attempts whose claimant's lease ran out (it died mid-step),
 * without waiting on rows another worker holds. Each claim gets a new `claim_id` (its fencing
 * token), and its lease counts from the moment the row is taken, not from the statement's start.
 * Attempts this process is still running (`exceptIds`) are never taken back by it.
 */
export async function claimDueAttempts(
  db: Database,
  owner: string,
  leaseMs: number,
  limit: number,
  exceptIds: readonly number[] = [],
  /** Ferry's clock: `not_before` was set by it (the engine's `now`), so it says what is due. */
  now: Date = new Date(),
): Promise<Attempt[]> {
  const { rows } = await db.pool.query(
    `update step_attempts a set status = 'running', claimed_by = $1, claims = a.claims + 1,
       claim_id = nextval('step_claim_seq'),
       lease_until = clock_timestamp() + ($2 || ' milliseconds')::interval
     where a.id in (
       select id from step_attempts
       where ((status = 'due' and not_before <= $5) or (status = 'running' and lease_until < clock_timestamp()))
         and id <> all($4::bigint[])
       order by not_before, id
       for update skip locked
       limit $3)
     returning a.id, a.run_id, a.step_id, a.attempt, a.direction, a.captured, a.captured_at, a.claims, a.claim_id`,
    [owner, String(leaseMs), limit, exceptIds, now],
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
    claimId: r.claim_id as number,
  }));
}

/**
 * Hands claimed attempts back, due at once, to whichever executor claims next (a shutdown, or work
 * claimed while stopping). A hand-back is not a lost claim: it does not count towards the limit.
 */
export async function releaseAttempts(
  db: Database,
  claims: readonly AttemptClaim[],
  now: Date = new Date(),
): Promise<void> {
  if (claims.length === 0) return;
  await db.pool.query(
    `update step_attempts a set status = 'due', claimed_by = null, claim_id = null, lease_until = null,
       claims = greatest(a.claims - 1, 0), not_before = least(a.not_before, $3)
     from unnest($1::bigint[], $2::bigint[]) as c(id, claim_id)
     where a.id = c.id and a.claim_id = c.claim_id and a.status = 'running'`,
    [claims.map((c) => c.id), claims.map((c) => c.claimId), now],
  );
}

/** An attempt as one claim holds it: the fencing token every write names. */
export type AttemptClaim = Pick<Attempt, 'id' | 'claimId'>;

/** When the next attempt falls due, to sleep exactly that long. */
export async function nextDueAt(db: Database): Promise<Date | null> {
  const { rows } = await db.pool.query(
    `select min(case when status = 'due' then not_before else lease_until end) as at
     from step_attempts where status in ('due', 'running')`,
  );
  return (rows[0] as { at: Date | null }).at;
}

/**
 * Keeps a claim alive; false when the attempt was cancelled or taken over (another claim, even by
 * this process, holds it now). The check made right before acting is a renewal too, so the claimant
 * acts with a whole lease ahead of it.
 */
export async function renewLease(db: Database, claim: AttemptClaim, leaseMs: number): Promise<boolean> {
  const { rowCount } = await db.pool.query(
    `update step_attempts set lease_until = clock_timestamp() + ($3 || ' milliseconds')::interval
     where id = $1 and claim_id = $2 and status = 'running'`,
    [claim.id, claim.claimId, String(leaseMs)],
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

/**
 * Commits the capture before the step acts (exactly-once effect per attempt), with the step's title
 * as read just now when there is one, in one statement; false when this claim no longer holds the
 * attempt, and then it must not act.
 */
export async function saveCapture(
  db: Database,
  claim: AttemptClaim,
  captured: unknown,
  title: string | null,
): Promise<boolean> {
  const { rows } = await db.pool.query<{ saved: boolean }>(
    `with saved as (
       update step_attempts set captured = $3::jsonb, captured_at = now()
       where id = $1 and claim_id = $2 and status = 'running' and captured_at is null
       returning run_id, step_id),
     retitled as (
       update steps s set title = $4 from saved
       where $4::text is not null and s.run_id = saved.run_id and s.step_id = saved.step_id and s.title <> $4
       returning s.run_id),
     shown as (update runs r set version = version + 1 from retitled where r.id = retitled.run_id)
     select exists (select 1 from saved) as saved`,
    [
      claim.id,
      claim.claimId,
      JSON.stringify(captured ?? null),
      title === null ? null : db.redactor.text(title),
    ],
  );
  return rows[0]?.saved === true;
}

/**
 * Closes the attempt with its outcome, inside the transaction that records the engine's decision;
 * false when this claim no longer holds it (taken over after its lease lapsed): then the current
 * claimant's outcome counts, not this one.
 */
export async function closeAttempt(
  client: Queryable,
  claim: AttemptClaim,
  outcome: unknown,
  at: Date,
): Promise<boolean> {
  const { rowCount } = await client.query(
    `update step_attempts set status = 'done', finished_at = $3, outcome = $4
     where id = $1 and claim_id = $2 and status in ('running', 'cancelled')`,
    [claim.id, claim.claimId, at, outcome],
  );
  return rowCount === 1;
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

/** The latest progress of a long step, and a bump of what Slack shows for its run, in one statement. */
export async function saveProgress(
  db: Database,
  runId: string,
  stepId: string,
  progress: Progress,
): Promise<void> {
  await db.pool.query(
    `with saved as (
       insert into step_progress (run_id, step_id, text, fraction, figures) values ($1, $2, $3, $4, $5)
       on conflict (run_id, step_id) do update set text = excluded.text, fraction = excluded.fraction,
         figures = excluded.figures, version = step_progress.version + 1, updated_at = now()
       returning run_id)
     update runs set version = version + 1 where id = (select run_id from saved)`,
    [runId, stepId, db.redactor.text(progress.text), progress.fraction ?? null, progress.figures ?? null],
  );
}
