import { describe, expect, it } from 'vitest';
import { decide } from '../../src/engine/decide.ts';
import { isActive } from '../../src/engine/policy.ts';
import { terminalStatuses, type Actor, type Decision, type RunStatus } from '../../src/engine/types.ts';
import { FerryError } from '../../src/errors.ts';
import { applyToRun, findRuns, firstDelivery, readRun, readTimeline } from '../../src/store/runs.ts';
import { Redactor } from '../../src/redact.ts';
import { createTestSchema, startTestRun, useTestSchema } from '../support/db.ts';
import { stepSpec } from '../support/engine-fixtures.ts';

// Runs, steps, approvals and the timeline against the real Postgres, in a schema of this file's own.

const t = useTestSchema({ prefix: 'store_runs' });
const alice: Actor = { user: 'U01ALICE', groups: [] };
const bob: Actor = { user: 'U02BOB', groups: [] };
let serial = 0;
/** A service name no other test in this file uses, so the one-active-run rule only meets its own runs. */
const service = () => `svc-${++serial}`;

async function act(runId: string, event: Parameters<typeof decide>[1], now = Date.now()) {
  return applyToRun(t.db, runId, now, (record) => decide(record.state, event, now));
}

async function rejection(promise: Promise<unknown>): Promise<FerryError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(FerryError);
    return error as FerryError;
  }
  throw new Error('expected a FerryError');
}

async function attemptsOf(runId: string) {
  const { rows } = await t.db.pool.query(
    `select step_id, attempt, direction, status, not_before from step_attempts where run_id = $1 order by id`,
    [runId],
  );
  return rows as Array<{
    step_id: string;
    attempt: number;
    direction: string;
    status: string;
    not_before: Date;
  }>;
}

describe('createRun and the one-active-run rule', () => {
  it('creates a run, its steps and its first moves in one go', async () => {
    const now = Date.UTC(2026, 0, 1, 2, 0, 0);
    const { state, effects } = await startTestRun(t.db, {
      service: service(),
      steps: [stepSpec('flag', 'pause-webhooks'), stepSpec('dns', 'cutover', true)],
      now,
    });
    expect(state.id).toMatch(/^r\d+$/);
    expect(effects.filter((e) => e.type === 'execute')).toEqual([
      { type: 'execute', stepId: 'pause-webhooks', attempt: 1, direction: 'do', notBefore: now },
    ]);
    const record = await readRun(t.db, state.id);
    expect(record!.state).toEqual(state);
    expect(record!.specs.get('cutover')).toEqual(stepSpec('dns', 'cutover', true));
    expect(record!.channel).toBe('C0MIGRATIONS');
    expect(await attemptsOf(state.id)).toEqual([
      { step_id: 'pause-webhooks', attempt: 1, direction: 'do', status: 'due', not_before: new Date(now) },
    ]);
    expect((await readTimeline(t.db, state.id)).map((e) => [e.seq, e.type, e.stepId])).toEqual([
      [1, 'run_started', undefined],
      [2, 'step_started', 'pause-webhooks'],
    ]);
  });

  it('refuses a second active run of the same service and environment, naming the active one', async () => {
    const svc = service();
    const first = await startTestRun(t.db, { service: svc, steps: [stepSpec('flag', 'flag')] });
    const error = await rejection(startTestRun(t.db, { service: svc, steps: [stepSpec('flag', 'flag')] }));
    expect(error.code).toBe('run_active');
    expect(error.message).toBe(
      `${svc} staging already has an active run (${first.state.id}, running): finish, abort or roll it back first.`,
    );
    const runs = await findRuns(t.db, { service: svc });
    expect(runs.map((r) => r.id)).toEqual([first.state.id]);
  });

  it('allows a run of the same service in another environment at the same time', async () => {
    const svc = service();
    await startTestRun(t.db, { service: svc, environment: 'staging', steps: [stepSpec('flag', 'flag')] });
    const other = await startTestRun(t.db, {
      service: svc,
      environment: 'production',
      steps: [stepSpec('flag', 'flag')],
    });
    expect(other.state.status).toBe('running');
  });

  it('allows a new run once the active one has ended', async () => {
    const svc = service();
    const first = await startTestRun(t.db, { service: svc, steps: [stepSpec('flag', 'flag')] });
    await act(first.state.id, { type: 'abort', actor: alice });
    const second = await startTestRun(t.db, { service: svc, steps: [stepSpec('flag', 'flag')] });
    expect(second.state.id).not.toBe(first.state.id);
    expect((await findRuns(t.db, { service: svc, active: true })).map((r) => r.id)).toEqual([
      second.state.id,
    ]);
  });

  it('lets exactly one of several racing starts win', async () => {
    const svc = service();
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () =>
        startTestRun(t.db, { service: svc, steps: [stepSpec('flag', 'flag')] }),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as FerryError] : []));
    expect(won).toHaveLength(1);
    expect(lost.map((e) => e.code)).toEqual(Array(5).fill('run_active'));
    expect((await findRuns(t.db, { service: svc })).length).toBe(1);
  });
});

describe('applyToRun', () => {
  it('persists the new state of the run and its steps, and bumps its version', async () => {
    const { state } = await startTestRun(t.db, {
      service: service(),
      steps: [stepSpec('flag', 'flag'), stepSpec('dns', 'cutover', true)],
      policy: { approverUsers: [bob.user] },
    });
    const before = await readRun(t.db, state.id);
    const { decision } = await act(state.id, {
      type: 'step_succeeded',
      stepId: 'flag',
      attempt: 1,
      direction: 'do',
      summary: 'billing:webhooks:paused = 1',
    });
    const after = await readRun(t.db, state.id);
    expect(after!.state).toEqual(decision.state);
    expect(after!.state.status).toBe('waiting');
    expect(after!.state.steps[0]).toMatchObject({
      status: 'succeeded',
      summary: 'billing:webhooks:paused = 1',
    });
    expect(after!.state.steps[1]).toMatchObject({ status: 'awaiting_approval' });
    expect(after!.version).toBeGreaterThan(before!.version);

    await act(state.id, { type: 'approve', stepId: 'cutover', actor: bob });
    const approved = await readRun(t.db, state.id);
    expect(approved!.state.steps[1]!.approval).toMatchObject({ decision: 'approved', by: bob.user });
    const { rows } = await t.db.pool.query(
      `select step_id, decision, decided_by from approvals where run_id = $1`,
      [state.id],
    );
    expect(rows).toEqual([{ step_id: 'cutover', decision: 'approved', decided_by: bob.user }]);
  });

  it('changes nothing but the timeline for a refusal', async () => {
    const { state } = await startTestRun(t.db, {
      service: service(),
      steps: [stepSpec('dns', 'cutover', true)],
      policy: { approverUsers: [bob.user] },
    });
    const before = await readRun(t.db, state.id);
    const { decision } = await act(state.id, {
      type: 'approve',
      stepId: 'cutover',
      actor: { user: 'U09MALLORY', groups: [] },
    });
    expect(decision.effects.some((e) => e.type === 'refuse')).toBe(true);
    const after = await readRun(t.db, state.id);
    expect(after!.state).toEqual(before!.state);
    expect((await readTimeline(t.db, state.id)).at(-1)).toMatchObject({
      type: 'refused',
      actor: 'U09MALLORY',
    });
    expect(after!.version).toBe(before!.version + 1);
  });

  it('numbers the timeline 1, 2, 3… without gaps, even with many decisions at once', async () => {
    const { state } = await startTestRun(t.db, { service: service(), steps: [stepSpec('flag', 'flag')] });
    await Promise.all(
      Array.from({ length: 15 }, (_, i) => act(state.id, { type: 'note', actor: alice, text: `note ${i}` })),
    );
    const timeline = await readTimeline(t.db, state.id);
    expect(timeline.map((e) => e.seq)).toEqual(Array.from({ length: 17 }, (_, i) => i + 1));
    expect(timeline.filter((e) => e.type === 'note')).toHaveLength(15);
    expect((await readTimeline(t.db, state.id, 10)).map((e) => e.seq)[0]).toBe(11);
  });

  it('inserts a due attempt for each execute effect, once however often the decision is replayed', async () => {
    const { state } = await startTestRun(t.db, { service: service(), steps: [stepSpec('flag', 'flag')] });
    const later = Date.now() + 60_000;
    const replay = (record: { state: typeof state }): Decision => ({
      state: record.state,
      effects: [{ type: 'execute', stepId: 'flag', attempt: 2, direction: 'do', notBefore: later }],
    });
    await applyToRun(t.db, state.id, Date.now(), replay);
    await applyToRun(t.db, state.id, Date.now(), replay);
    await Promise.all([1, 2, 3].map(() => applyToRun(t.db, state.id, Date.now(), replay)));
    expect(await attemptsOf(state.id)).toEqual([
      expect.objectContaining({ attempt: 1, status: 'due' }),
      { step_id: 'flag', attempt: 2, direction: 'do', status: 'due', not_before: new Date(later) },
    ]);
  });

  it('cancels the due and running attempts of a step on a cancel effect, and leaves finished ones', async () => {
    const { state } = await startTestRun(t.db, { service: service(), steps: [stepSpec('flag', 'flag')] });
    await t.db.pool.query(
      `insert into step_attempts (run_id, step_id, attempt, direction, status, not_before)
       values ($1, 'flag', 2, 'do', 'running', now()), ($1, 'flag', 3, 'do', 'done', now())`,
      [state.id],
    );
    const { decision } = await act(state.id, { type: 'abort', actor: alice });
    expect(decision.effects).toContainEqual({ type: 'cancel', stepId: 'flag' });
    expect((await attemptsOf(state.id)).map((a) => [a.attempt, a.status])).toEqual([
      [1, 'cancelled'],
      [2, 'cancelled'],
      [3, 'done'],
    ]);
    expect((await readRun(t.db, state.id))!.state.status).toBe('aborted');
  });

  it('says which run does not exist', async () => {
    const error = await rejection(act('r999999', { type: 'note', actor: alice, text: 'x' }));
    expect(error.code).toBe('run_not_found');
    expect(error.message).toBe('There is no run r999999.');
  });

  it('rolls back everything the decision wrote when recording it fails', async () => {
    const { state } = await startTestRun(t.db, { service: service(), steps: [stepSpec('flag', 'flag')] });
    const before = await readTimeline(t.db, state.id);
    const broken = applyToRun(t.db, state.id, Date.now(), (record) => ({
      state: { ...record.state, status: 'no such status' as never },
      effects: [{ type: 'timeline', entry: { type: 'note', detail: 'should vanish' } }],
    }));
    await expect(broken).rejects.toThrow(/runs_status_check/);
    expect(await readTimeline(t.db, state.id)).toEqual(before);
  });
});

describe('the timeline is append-only', () => {
  async function runWithTimeline() {
    const { state } = await startTestRun(t.db, { service: service(), steps: [stepSpec('flag', 'flag')] });
    return state.id;
  }

  it.each([
    ['UPDATE', `update timeline_events set detail = 'rewritten' where run_id = $1`],
    ['DELETE', `delete from timeline_events where run_id = $1`],
  ])('refuses %s', async (op, sql) => {
    const runId = await runWithTimeline();
    const before = await readTimeline(t.db, runId);
    await expect(t.db.pool.query(sql, [runId])).rejects.toMatchObject({
      code: '23001',
      message: `timeline_events is append-only: ${op} refused`,
    });
    expect(await readTimeline(t.db, runId)).toEqual(before);
  });

  it('refuses TRUNCATE, also when it cascades from runs', async () => {
    const runId = await runWithTimeline();
    await expect(t.db.pool.query(`truncate timeline_events`)).rejects.toMatchObject({
      code: '23001',
      message: 'timeline_events is append-only: TRUNCATE refused',
    });
    await expect(t.db.pool.query(`truncate runs cascade`)).rejects.toMatchObject({ code: '23001' });
    expect((await readTimeline(t.db, runId)).length).toBeGreaterThan(0);
  });

  it('keeps a run that has a timeline from being deleted', async () => {
    const runId = await runWithTimeline();
    await expect(t.db.pool.query(`delete from runs where id = $1`, [runId])).rejects.toMatchObject({
      code: '23503',
    });
  });
});

describe('firstDelivery', () => {
  it('is true once per key and false for every repeat', async () => {
    expect(await firstDelivery(t.db, 'Ev0001')).toBe(true);
    expect(await firstDelivery(t.db, 'Ev0001')).toBe(false);
    expect(await firstDelivery(t.db, 'Ev0002')).toBe(true);
  });

  it('lets exactly one of several concurrent deliveries of one key through', async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, () => firstDelivery(t.db, 'trigger-123.456')),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
  });
});

describe('findRuns', () => {
  it('lists active runs first, then ended ones, newest first within each', async () => {
    const channel = 'C0FINDRUNS';
    const a = await startTestRun(t.db, { service: service(), channel, steps: [stepSpec('flag', 'flag')] });
    const b = await startTestRun(t.db, { service: service(), channel, steps: [stepSpec('flag', 'flag')] });
    const c = await startTestRun(t.db, { service: service(), channel, steps: [stepSpec('flag', 'flag')] });
    await act(b.state.id, { type: 'abort', actor: alice });
    const runs = await findRuns(t.db, { channel });
    expect(runs.map((r) => [r.id, r.status])).toEqual([
      [c.state.id, 'running'],
      [a.state.id, 'running'],
      [b.state.id, 'aborted'],
    ]);
    expect((await findRuns(t.db, { channel, active: true })).map((r) => r.id)).toEqual([
      c.state.id,
      a.state.id,
    ]);
    expect((await findRuns(t.db, { channel, limit: 1 })).map((r) => r.id)).toEqual([c.state.id]);
  });
});

describe('every text a decision stores goes through the redactor', () => {
  it('cuts Ferry’s own credentials and token shapes from notes, step errors and titles before they are stored', async () => {
    const botToken = 'xoxb-1111-2222-credential';
    const t2 = await createTestSchema({ prefix: 'store_redact', redactor: new Redactor([botToken]) });
    try {
      const { state } = await startTestRun(t2.db, {
        steps: [{ ...stepSpec('flag', 'flag'), id: 'flag' }],
      });
      const now = Date.now();
      await applyToRun(t2.db, state.id, now, (record) =>
        decide(
          record.state,
          { type: 'note', actor: { user: 'U01ALICE', groups: [] }, text: `pasted ${botToken} by mistake` },
          now,
        ),
      );
      await applyToRun(t2.db, state.id, now, (record) =>
        decide(
          record.state,
          {
            type: 'step_failed',
            stepId: 'flag',
            attempt: 1,
            direction: 'do',
            error: `the API said: invalid token ${botToken}`,
            retryable: false,
          },
          now,
        ),
      );
      const { rows } = await t2.db.pool.query<{ text: string }>(
        `select coalesce(detail, '') as text from timeline_events
         union all select coalesce(error, '') || ' ' || title from steps`,
      );
      const stored = rows.map((r) => r.text).join('\n');
      expect(stored).toContain('pasted *** by mistake');
      expect(stored).toContain('invalid token ***');
      expect(stored).not.toContain('credential');
    } finally {
      await t2.dispose();
    }
  });
});

describe('one rule for an active run, in SQL and in TypeScript', () => {
  it('run_is_active in the database agrees with the engine for every run status', async () => {
    const statuses: RunStatus[] = [
      'running',
      'waiting',
      'failed',
      'rolling_back',
      'rolled_back',
      'succeeded',
      'aborted',
    ];
    const { rows } = await t.db.pool.query<{ status: RunStatus; active: boolean }>(
      `select s as status, run_is_active(s) as active from unnest($1::text[]) as s`,
      [statuses],
    );
    expect(rows).toEqual(statuses.map((status) => ({ status, active: isActive(status) })));
    expect(statuses.filter((s) => !isActive(s))).toEqual(
      [...terminalStatuses].sort((a, b) => statuses.indexOf(a) - statuses.indexOf(b)),
    );
  });
});
