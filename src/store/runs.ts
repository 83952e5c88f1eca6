import type pg from 'pg';
import { FerryError } from '../errors.ts';
import type {
  Approval,
  Decision,
  Effect,
  NoteSource,
  Policy,
  RunState,
  RunStatus,
  StepState,
  TimelineEntry,
  TimelineEvent,
  Vote,
} from '../engine/types.ts';
import type { StepSpec } from '../plan/schema.ts';
import type { Redactor } from '../redact.ts';
import type { Database, Queryable } from './db.ts';
import { APPROVAL_EXPIRES_MS, APPROVAL_REMINDER_MS, lockedRefusal, newRunState } from '../engine/index.ts';
import type { StepContent } from '../plan/content.ts';
import type { Forecast } from '../report/forecast.ts';
import { findLock, openIncidents, type Incident } from './locks-and-incidents.ts';
import { markScheduledStarted } from './scheduled-starts.ts';

// Named queries over runs, steps, approvals, attempts and the timeline. Every decision is made and
// recorded inside one transaction holding the run's row lock.

export interface RunRecord {
  state: RunState;
  channel: string;
  planFile: string;
  version: number;
  specs: Map<string, StepSpec>;
  /** Incidents opened during the run and not yet resolved. */
  incidents: Incident[];
  /** How long earlier runs of the same steps took, as forecast at its start; null without any. */
  forecast?: Forecast | null;
}

export async function inTransaction<T>(db: Database, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await db.pool.connect();
  let broken: Error | undefined;
  // The pool listens for errors only on idle clients: a connection lost mid-transaction (a restart,
  // a failover) would otherwise be an uncaught 'error' that stops the process. The query under way
  // fails with it too, and the broken client leaves the pool on release.
  const onError = (error: Error) => (broken = error);
  client.on('error', onError);
  try {
    await client.query('begin');
    const result = await fn(client);
    await client.query('commit');
    return result;
  } catch (error) {
    // A connection whose rollback fails is broken: the pool drops it instead of lending it again.
    await client.query('rollback').catch((rollbackError: unknown) => (broken = rollbackError as Error));
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

export interface NewRun {
  service: string;
  environment: string;
  startedBy: string;
  channel: string;
  planFile: string;
  policy: Policy;
  steps: ReadonlyArray<{ spec: StepSpec; title: string; approvalsNeeded?: number; content?: StepContent }>;
  now: number;
  purpose?: RunState['purpose'];
  /** The scheduled start this run fulfils; it turns 'started' in the same transaction. */
  scheduledStartId?: string;
  forecast?: Forecast | null;
}

/**
 * Creates the run (its first state built by the engine's `newRunState`, as engine tests build theirs)
 * and lets `begin` decide its first moves, in one transaction. A lock on the service and environment
 * refuses it (held `for share` until the commit, so an unlock cannot slip in), and a second active run
 * of the same service and environment is refused by the database's unique index.
 */
export async function createRun(
  db: Database,
  input: NewRun,
  begin: (state: RunState) => Decision,
): Promise<{ state: RunState; effects: Effect[] }> {
  return inTransaction(db, async (client) => {
    const { rows } = await client.query<{ n: number }>(`select nextval('run_number_seq')::int as n`);
    const state = newRunState({
      id: `r${rows[0]!.n}`,
      service: input.service,
      environment: input.environment,
      startedBy: input.startedBy,
      startedAt: input.now,
      policy: input.policy,
      purpose: input.purpose ?? 'runbook',
      steps: input.steps,
    });
    // A lock holds back the runbook; ad hoc toggles stay available, they are how incidents get handled.
    const lock =
      state.purpose === 'adhoc' ? null : await findLock(client, state.service, state.environment, true);
    if (lock) throw new FerryError('run_locked', lockedRefusal(lock));
    try {
      await client.query('savepoint create_run');
      await client.query(
        `insert into runs (id, service, environment, status, started_by, started_at, channel, plan_file, policy, purpose, forecast)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [
          state.id,
          state.service,
          state.environment,
          state.status,
          state.startedBy,
          new Date(state.startedAt),
          input.channel,
          input.planFile,
          state.policy,
          state.purpose,
          input.forecast ?? null,
        ],
      );
    } catch (error) {
      if ((error as { code?: string }).code !== '23505') throw error;
      await client.query('rollback to savepoint create_run');
      throw new FerryError('run_active', await activeRunRefusal(client, state.service, state.environment));
    }
    if (input.scheduledStartId) await markScheduledStarted(client, input.scheduledStartId, state.id);
    for (const [position, step] of state.steps.entries()) {
      const spec = input.steps[position]!.spec;
      await client.query(
        `insert into steps (run_id, position, step_id, kind, spec, title, needs_approval, status, approvals_needed, content)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
        [
          state.id,
          position,
          step.id,
          step.kind,
          spec,
          step.title,
          step.needsApproval,
          step.status,
          step.approvalsNeeded,
          step.content,
        ],
      );
    }
    const record: RunRecord = {
      state,
      channel: input.channel,
      planFile: input.planFile,
      version: 0,
      specs: new Map(input.steps.map(({ spec }) => [spec.id, spec])),
      incidents: [],
      forecast: input.forecast ?? null,
    };
    const decision = redacted(db.redactor, begin(state));
    await persistDecision(client, record, decision, input.now);
    return { state: decision.state, effects: decision.effects };
  });
}

/** The run that holds a service and environment, for the refusal of a second one. */
async function activeRunRefusal(client: Queryable, service: string, environment: string): Promise<string> {
  const { rows } = await client.query<{ id: string; status: string }>(
    `select id, status from runs where service = $1 and environment = $2 and purpose = 'runbook'
     and run_is_active(status)`,
    [service, environment],
  );
  const other = rows[0];
  return `${service} ${environment} already has an active run${other ? ` (${other.id}, ${other.status.replace('_', ' ')})` : ''}: finish, abort or roll it back first.`;
}

export async function loadRun(
  client: Queryable,
  runId: string,
  opts: { lock: boolean },
): Promise<RunRecord | null> {
  const run = await client.query(`select * from runs where id = $1 ${opts.lock ? 'for update' : ''}`, [
    runId,
  ]);
  const row = run.rows[0] as RunRow | undefined;
  if (!row) return null;
  const steps = await client.query(`select * from steps where run_id = $1 order by position`, [runId]);
  const stepRows = steps.rows as StepRow[];
  const incidents = await openIncidents(client, runId);
  return {
    state: {
      id: row.id,
      purpose: row.purpose,
      service: row.service,
      environment: row.environment,
      status: row.status,
      startedBy: row.started_by,
      startedAt: row.started_at.getTime(),
      finishedAt: row.finished_at?.getTime() ?? null,
      policy: withDefaults(row.policy),
      steps: stepRows.map(toStepState),
      incidents: incidents.map((i) => ({
        id: i.id,
        severity: i.severity,
        summary: i.summary,
        openedBy: i.openedBy,
        openedAt: i.openedAt.getTime(),
        stepId: i.stepId,
        overridden: i.overriddenBy ? { by: i.overriddenBy, at: i.overriddenAt!.getTime() } : null,
      })),
    },
    channel: row.channel,
    planFile: row.plan_file,
    version: row.version,
    specs: new Map(stepRows.map((s) => [s.step_id, s.spec])),
    incidents,
    forecast: row.forecast ?? null,
  };
}

/**
 * Locks the run, lets `decide` choose, and records the new state, the timeline entries and the
 * work to do, all in one transaction. Returns what was decided (refusals included).
 */
export async function applyToRun(
  db: Database,
  runId: string,
  now: number,
  decideFn: (record: RunRecord, client: pg.PoolClient) => Decision | Promise<Decision>,
): Promise<{ record: RunRecord; decision: Decision }> {
  return inTransaction(db, async (client) => {
    const record = await loadRun(client, runId, { lock: true });
    if (!record) throw new FerryError('run_not_found', `There is no run ${runId}.`);
    const decision = redacted(db.redactor, await decideFn(record, client));
    await persistDecision(client, record, decision, now);
    return { record, decision };
  });
}

/**
 * The decision with every text it would store redacted: a note that quotes a token, an adapter's
 * error that echoes a credential. The state stays the same object when nothing needed cutting, so an
 * unchanged run is still recognised as unchanged.
 */
function redacted(redactor: Redactor, decision: Decision): Decision {
  const cut = (text: string | null): string | null => (text === null ? null : redactor.text(text));
  const steps = decision.state.steps.map((step) => {
    const title = redactor.text(step.title);
    const summary = cut(step.summary);
    const error = cut(step.error);
    return title === step.title && summary === step.summary && error === step.error
      ? step
      : { ...step, title, summary, error };
  });
  const state = steps.every((s, i) => s === decision.state.steps[i])
    ? decision.state
    : { ...decision.state, steps };
  const effects = decision.effects.map((effect) =>
    effect.type === 'timeline' && (effect.entry.detail !== undefined || effect.entry.figures !== undefined)
      ? {
          ...effect,
          entry: {
            ...effect.entry,
            ...(effect.entry.detail !== undefined ? { detail: redactor.text(effect.entry.detail) } : {}),
            ...(effect.entry.figures !== undefined ? { figures: redactor.value(effect.entry.figures) } : {}),
          },
        }
      : effect,
  );
  return { state, effects };
}

async function persistDecision(
  client: Queryable,
  record: RunRecord,
  decision: Decision,
  now: number,
): Promise<void> {
  const before = record.state;
  const after = decision.state;
  const changed = after !== before;
  const at = new Date(now);
  if (changed) {
    try {
      await client.query(
        `update runs set status = $2, finished_at = $3, version = version + 1 where id = $1`,
        [after.id, after.status, after.finishedAt === null ? null : new Date(after.finishedAt)],
      );
    } catch (error) {
      // Rolling back a finished run while another run of the service and environment is active.
      if ((error as { code?: string }).code !== '23505') throw error;
      throw new FerryError(
        'run_active',
        `${after.service} ${after.environment} has another active run: finish, abort or roll it back before ${after.id} can roll back.`,
      );
    }
    for (const step of after.steps) {
      const old = before.steps.find((s) => s.id === step.id);
      if (old && JSON.stringify(old) === JSON.stringify(step)) continue;
      await client.query(
        `update steps set status = $3, attempt = $4, direction = $5, undo = $6, waiting_for_person = $7,
           approval = $8, approval_requested_at = $9, summary = $10, error = $11, started_at = $12, finished_at = $13,
           retries = $14, acted_by = $15, votes = $16, content = $17, remind_at = $18
         where run_id = $1 and step_id = $2`,
        [
          after.id,
          step.id,
          step.status,
          step.attempt,
          step.direction,
          step.undo,
          step.waitingForPerson,
          step.approval,
          toDate(step.approvalRequestedAt),
          step.summary,
          step.error,
          toDate(step.startedAt),
          toDate(step.finishedAt),
          step.retries,
          step.actedBy,
          JSON.stringify(step.votes),
          step.content,
          toDate(step.remindAt),
        ],
      );
    }
  }
  const entries = decision.effects.flatMap((e) => (e.type === 'timeline' ? [e.entry] : []));
  if (entries.length > 0) {
    const { rows } = await client.query<{ seq: number }>(
      `select coalesce(max(seq), 0)::int as seq from timeline_events where run_id = $1`,
      [before.id],
    );
    let seq = rows[0]!.seq;
    for (const entry of entries) {
      await client.query(
        `insert into timeline_events (run_id, seq, at, type, step_id, actor, detail, figures, source)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
        [
          before.id,
          ++seq,
          at,
          entry.type,
          entry.stepId ?? null,
          entry.actor ?? null,
          entry.detail ?? null,
          entry.figures ?? null,
          entry.source ?? null,
        ],
      );
    }
    if (!changed) await client.query(`update runs set version = version + 1 where id = $1`, [before.id]);
  }
  for (const effect of decision.effects) {
    switch (effect.type) {
      case 'execute':
        await client.query(
          `insert into step_attempts (run_id, step_id, attempt, direction, status, not_before)
           values ($1, $2, $3, $4, 'due', $5) on conflict (run_id, step_id, direction, attempt) do nothing`,
          [before.id, effect.stepId, effect.attempt, effect.direction, new Date(effect.notBefore)],
        );
        break;
      case 'cancel':
        await client.query(
          `update step_attempts set status = 'cancelled', finished_at = $3
           where run_id = $1 and step_id = $2 and status in ('due', 'running')`,
          [before.id, effect.stepId, at],
        );
        break;
      case 'close_approval':
        await recordApproval(client, before.id, effect.stepId, effect.approval);
        break;
      case 'lock':
        // An existing lock stays as it is: its owner and reason say more than a second one would.
        await client.query(
          `insert into locks (service, environment, reason, locked_by, locked_at, channel)
           values ($1, $2, $3, $4, $5, $6) on conflict do nothing`,
          [before.service, before.environment, effect.reason, effect.by, at, record.channel],
        );
        break;
      case 'request_approval':
      case 'approval_progress':
      case 'refuse':
      case 'timeline':
        break;
    }
  }
}

async function recordApproval(
  client: Queryable,
  runId: string,
  stepId: string,
  approval: Approval,
): Promise<void> {
  await client.query(
    `insert into approvals (run_id, step_id, decision, decided_by, decided_at) values ($1, $2, $3, $4, $5)`,
    [runId, stepId, approval.decision, approval.by, new Date(approval.at)],
  );
}

/** One line of a list of runs. */
export interface RunSummary {
  id: string;
  service: string;
  environment: string;
  status: RunStatus;
  startedBy: string;
  startedAt: Date;
  channel: string;
  purpose: RunState['purpose'];
}

export async function findRuns(
  db: Database,
  filter: { channel?: string; active?: boolean; service?: string; environment?: string; limit?: number },
): Promise<RunSummary[]> {
  const where: string[] = [];
  const args: unknown[] = [];
  if (filter.channel) where.push(`channel = $${args.push(filter.channel)}`);
  if (filter.service) where.push(`service = $${args.push(filter.service)}`);
  if (filter.environment) where.push(`environment = $${args.push(filter.environment)}`);
  if (filter.active) where.push(`run_is_active(status)`);
  const { rows } = await db.pool.query(
    `select id, service, environment, status, started_by, started_at, channel, purpose from runs
     ${where.length ? `where ${where.join(' and ')}` : ''}
     order by not run_is_active(status), created_at desc limit ${filter.limit ?? 50}`,
    args,
  );
  return (rows as RunRow[]).map((r) => ({
    id: r.id,
    service: r.service,
    environment: r.environment,
    status: r.status,
    startedBy: r.started_by,
    startedAt: r.started_at,
    channel: r.channel,
    purpose: r.purpose,
  }));
}

export async function countActiveRuns(db: Database): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `select count(*)::int as n from runs where run_is_active(status)`,
  );
  return rows[0]?.n ?? 0;
}

/** What deciding who may act on a run needs, without its steps: one light read before the decision. */
export interface RunHeader {
  id: string;
  service: string;
  environment: string;
  status: RunStatus;
  purpose: RunState['purpose'];
  startedAt: number;
  channel: string;
  policy: Policy;
}

export async function readRunHeader(db: Database, runId: string): Promise<RunHeader | null> {
  const { rows } = await db.pool.query<RunRow>(
    `select id, service, environment, status, purpose, started_at, channel, policy from runs where id = $1`,
    [runId],
  );
  const r = rows[0];
  return r
    ? {
        id: r.id,
        service: r.service,
        environment: r.environment,
        status: r.status,
        purpose: r.purpose,
        startedAt: r.started_at.getTime(),
        channel: r.channel,
        policy: withDefaults(r.policy),
      }
    : null;
}

/** The latest runbook run of a service and environment (ad hoc toggles are not runs of it), if any. */
export async function latestRunbookRun(
  db: Database,
  service: string,
  environment: string,
): Promise<RunRecord | null> {
  const { rows } = await db.pool.query<{ id: string }>(
    `select id from runs where service = $1 and environment = $2 and purpose = 'runbook'
     order by created_at desc limit 1`,
    [service, environment],
  );
  return rows[0] ? readRun(db, rows[0].id) : null;
}

export async function readRun(db: Database, runId: string): Promise<RunRecord | null> {
  return loadRun(db.pool, runId, { lock: false });
}

export type { TimelineEvent };

export async function readTimeline(db: Database, runId: string, afterSeq = 0): Promise<TimelineEvent[]> {
  const { rows } = await db.pool.query(
    `select * from timeline_events where run_id = $1 and seq > $2 order by seq`,
    [runId, afterSeq],
  );
  return rows.map((r: Record<string, unknown>) => ({
    id: r.id as number,
    runId: r.run_id as string,
    seq: r.seq as number,
    at: r.at as Date,
    type: r.type as TimelineEntry['type'],
    stepId: (r.step_id as string | null) ?? undefined,
    actor: (r.actor as string | null) ?? undefined,
    detail: (r.detail as string | null) ?? undefined,
    figures: (r.figures as Record<string, number | string> | null) ?? undefined,
    ...(r.source ? { source: r.source as NoteSource } : {}),
  }));
}

/** Forgets deliveries older than `olderThanMs`; Slack retries within minutes, not days. */
export async function pruneDeliveries(db: Database, olderThanMs: number): Promise<number> {
  const { rowCount } = await db.pool.query(
    `delete from slack_deliveries where received_at < now() - ($1 || ' milliseconds')::interval`,
    [String(olderThanMs)],
  );
  return rowCount ?? 0;
}

/** Records a Slack delivery; false when it was already handled (a retry or a repeat). */
export async function firstDelivery(db: Database, key: string): Promise<boolean> {
  const { rowCount } = await db.pool.query(
    `insert into slack_deliveries (key) values ($1) on conflict (key) do nothing`,
    [key],
  );
  return rowCount === 1;
}

interface RunRow {
  id: string;
  service: string;
  environment: string;
  status: RunStatus;
  started_by: string;
  started_at: Date;
  finished_at: Date | null;
  channel: string;
  plan_file: string;
  policy: Policy;
  version: number;
  purpose: RunState['purpose'];
  forecast?: Forecast | null;
}

interface StepRow {
  step_id: string;
  kind: StepState['kind'];
  spec: StepSpec;
  title: string;
  needs_approval: boolean;
  status: StepState['status'];
  attempt: number;
  retries: number;
  direction: StepState['direction'];
  undo: StepState['undo'];
  waiting_for_person: boolean;
  approval: Approval | null;
  approvals_needed: number;
  votes: Vote[];
  content: StepContent | null;
  acted_by: string | null;
  approval_requested_at: Date | null;
  remind_at: Date | null;
  summary: string | null;
  error: string | null;
  started_at: Date | null;
  finished_at: Date | null;
}

function toStepState(row: StepRow): StepState {
  return {
    id: row.step_id,
    kind: row.kind,
    title: row.title,
    needsApproval: row.needs_approval,
    status: row.status,
    attempt: row.attempt,
    retries: row.retries,
    direction: row.direction,
    undo: row.undo,
    waitingForPerson: row.waiting_for_person,
    approval: row.approval,
    approvalsNeeded: row.approvals_needed,
    votes: row.votes,
    content: row.content,
    actedBy: row.acted_by,
    approvalRequestedAt: row.approval_requested_at?.getTime() ?? null,
    remindAt: row.remind_at?.getTime() ?? null,
    irreversible: row.spec.irreversible === true,
    forwardFix: row.spec.forward_fix ?? null,
    summary: row.summary,
    error: row.error,
    startedAt: row.started_at?.getTime() ?? null,
    finishedAt: row.finished_at?.getTime() ?? null,
  };
}

/** A run's policy as stored; runs started before a setting existed get its default. */
function withDefaults(policy: Policy): Policy {
  return {
    ...policy,
    approvalExpiresMs: policy.approvalExpiresMs ?? APPROVAL_EXPIRES_MS,
    approvalReminderMs: policy.approvalReminderMs ?? APPROVAL_REMINDER_MS,
    lockAfterRollback: policy.lockAfterRollback ?? true,
  };
}

function toDate(ms: number | null): Date | null {
  return ms === null ? null : new Date(ms);
}

/** Runs with a step whose reminder is due (`remind_at`, set by the engine when a wait begins). */
export async function runsWithRemindersDue(db: Database, now: Date): Promise<string[]> {
  const { rows } = await db.pool.query<{ run_id: string }>(
    `select distinct run_id from steps where remind_at <= $1`,
    [now],
  );
  return rows.map((r) => r.run_id);
}
