import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunState } from '../../src/engine/types.ts';
import { StepError } from '../../src/errors.ts';
import { stepSchema } from '../../src/plan/schema.ts';
import { progressOf } from '../../src/store/slack-messages.ts';
import { createTestSchema, startTestRun, type TestSchema } from '../support/db.ts';
import { stepSpec } from '../support/engine-fixtures.ts';
import { ExecutorRig, RecordingHandlers, waitFor } from '../support/executor.ts';

// The executor against the real Postgres, one schema per test: it claims due attempts, captures and
// commits the undo state before acting, calls the handler and records the outcome with the engine's
// next decision.

let pg: TestSchema;
let handlers: RecordingHandlers;
let rig: ExecutorRig;
const planEnv = {
  TARGET_REDIS_URL: 'redis://127.0.0.1:6379/7',
  SOURCE_REDIS_URL: 'redis://127.0.0.1:6379/8',
};

beforeEach(async () => {
  pg = await createTestSchema({ prefix: 'exec_steps' });
  handlers = new RecordingHandlers();
  rig = new ExecutorRig(pg.db, handlers, { planEnv });
});

afterEach(async ({ task }) => {
  await rig.stopAll();
  if (task.result?.state === 'fail') pg.keep();
  await pg.dispose();
});

const until = (runId: string, status: RunState['status']) =>
  rig.until(runId, (s) => s.status === status, `run ${runId} to be ${status}`);

describe('executing a due attempt', () => {
  it('runs it, records the success with its summary and figures, and moves on to the next step', async () => {
    handlers.set('pause-webhooks', {
      capture: () => Promise.resolve({ previous: null }),
      run: () => Promise.resolve({ summary: 'billing:webhooks:paused = 1', figures: { keys: 1 } }),
    });
    const { state } = await startTestRun(pg.db, {
      steps: [stepSpec('flag', 'pause-webhooks'), stepSpec('crons', 'disable-crons')],
    });
    rig.startExecutor();
    const done = await until(state.id, 'succeeded');
    expect(done.steps.map((s) => [s.id, s.status, s.summary])).toEqual([
      ['pause-webhooks', 'succeeded', 'billing:webhooks:paused = 1'],
      ['disable-crons', 'succeeded', 'disable-crons done'],
    ]);
    const timeline = await rig.timeline(state.id);
    expect(timeline.map((e) => (e.stepId ? `${e.type}:${e.stepId}` : e.type))).toEqual([
      'run_started',
      'step_started:pause-webhooks',
      'step_succeeded:pause-webhooks',
      'step_started:disable-crons',
      'step_succeeded:disable-crons',
      'run_succeeded',
    ]);
    expect(timeline[2]).toMatchObject({ detail: 'billing:webhooks:paused = 1', figures: { keys: 1 } });
    const attempts = await rig.attempts(state.id);
    expect(attempts.map((a) => [a.step_id, a.attempt, a.status])).toEqual([
      ['pause-webhooks', 1, 'done'],
      ['disable-crons', 1, 'done'],
    ]);
    expect(attempts[0]!.outcome).toMatchObject({
      type: 'step_succeeded',
      stepId: 'pause-webhooks',
      attempt: 1,
    });
    expect(attempts[0]!.captured).toEqual({ previous: null });
    expect(handlers.of('run').map((c) => c.stepId)).toEqual(['pause-webhooks', 'disable-crons']);
  });

  it('commits the capture before the handler acts', async () => {
    let committedBeforeRun: unknown;
    handlers.set('flag', {
      capture: () => Promise.resolve({ previous: '0' }),
      run: async () => {
        // Read through another connection: only a committed capture is visible there.
        const { rows } = await pg.db.pool.query(
          `select captured, captured_at is not null as taken from step_attempts where step_id = 'flag'`,
        );
        committedBeforeRun = rows[0];
        return { summary: 'set' };
      },
    });
    const { state } = await startTestRun(pg.db, { steps: [stepSpec('flag', 'flag')] });
    rig.startExecutor();
    await until(state.id, 'succeeded');
    expect(committedBeforeRun).toEqual({ captured: { previous: '0' }, taken: true });
    expect(handlers.calls.map((c) => c.method)).toEqual(['capture', 'run']);
  });

  it('hands the handler the step with its ${VAR}s resolved from the plan environment', async () => {
    const { state } = await startTestRun(pg.db, { steps: [stepSpec('crons', 'disable-crons')] });
    rig.startExecutor();
    await until(state.id, 'succeeded');
    const [run] = handlers.of('run');
    expect(run!.step).toMatchObject({ provider: { url: 'redis://127.0.0.1:6379/7' } });
    expect(run!.ctx).toMatchObject({ runId: state.id, stepId: 'disable-crons', attempt: 1 });
  });

  it('gives a step the captures of the steps that succeeded before it, oldest first', async () => {
    handlers
      .set('disable-crons', { capture: () => Promise.resolve({ disabled: ['invoices', 'reminders'] }) })
      .set('pause-webhooks', { capture: () => Promise.resolve({ previous: '0' }) });
    const { state } = await startTestRun(pg.db, {
      steps: [
        stepSpec('crons', 'disable-crons'),
        stepSpec('check', 'smoke'),
        stepSpec('flag', 'pause-webhooks'),
        stepSpec('crons', 'enable-crons'),
      ],
    });
    rig.startExecutor();
    await until(state.id, 'succeeded');
    const [enable] = handlers.of('run', 'enable-crons');
    expect(enable!.ctx.earlier.map((e) => [e.step.id, e.captured])).toEqual([
      ['disable-crons', { disabled: ['invoices', 'reminders'] }],
      ['smoke', { step: 'smoke' }],
      ['pause-webhooks', { previous: '0' }],
    ]);
    // The earlier steps come resolved, like the step itself.
    expect(enable!.ctx.earlier[0]!.step).toMatchObject({ provider: { url: 'redis://127.0.0.1:6379/7' } });
    const [first] = handlers.of('run', 'disable-crons');
    expect(first!.ctx.earlier).toEqual([]);
  });

  it('leaves out earlier steps that were skipped rather than succeeded', async () => {
    handlers.set('pause-webhooks', {
      run: () => Promise.reject(new StepError('NOAUTH', { retryable: false })),
    });
    const { state } = await startTestRun(pg.db, {
      steps: [stepSpec('flag', 'pause-webhooks'), stepSpec('crons', 'enable-crons')],
    });
    rig.startExecutor();
    await until(state.id, 'failed');
    await rig.act(state.id, {
      type: 'skip',
      stepId: 'pause-webhooks',
      actor: { user: 'U01ALICE', groups: [] },
    });
    await until(state.id, 'succeeded');
    expect(handlers.of('run', 'enable-crons')[0]!.ctx.earlier).toEqual([]);
  });

  it('saves progress reports, at most about one a second, and always the final one', async () => {
    handlers.set('drain', {
      run: async (_step, _captured, ctx) => {
        for (let left = 50; left > 0; left -= 10) {
          await ctx.progress({ text: `${left} jobs left`, fraction: 1 - left / 50 });
        }
        await ctx.progress({ text: 'queues empty', fraction: 1 });
        return { summary: 'drained' };
      },
    });
    const { state } = await startTestRun(pg.db, { steps: [stepSpec('drain', 'drain')] });
    rig.startExecutor();
    await until(state.id, 'succeeded');
    // The first report and the final one; the three in between came too fast to be worth an edit.
    expect(await progressOf(pg.db, state.id)).toEqual([
      { stepId: 'drain', text: 'queues empty', fraction: 1, version: 2 },
    ]);
  });

  it('fails a blocked step with the blocker as its error, without capturing or acting', async () => {
    handlers.set('cutover', {
      blocker: () => Promise.resolve('TTL 3600 is above max_ttl 300: lower it first'),
    });
    const { state } = await startTestRun(pg.db, { steps: [stepSpec('dns', 'cutover')] });
    rig.startExecutor();
    const failed = await until(state.id, 'failed');
    expect(failed.steps[0]).toMatchObject({
      status: 'failed',
      error: 'TTL 3600 is above max_ttl 300: lower it first',
    });
    expect(handlers.calls.map((c) => c.method)).toEqual(['blocker']);
    expect((await rig.attempts(state.id))[0]!.captured_at).toBeNull();
  });

  it('undoes a step with the capture taken before it first acted, newest step first', async () => {
    let n = 0;
    handlers
      .set('maintenance', { capture: () => Promise.resolve({ enabled: false, n: ++n }) })
      .set('cutover', { capture: () => Promise.resolve({ value: 'old.example.com.', n: ++n }) });
    const { state } = await startTestRun(pg.db, {
      steps: [stepSpec('maintenance', 'maintenance'), stepSpec('dns', 'cutover')],
    });
    rig.startExecutor();
    await until(state.id, 'succeeded');
    await rig.act(state.id, { type: 'rollback', actor: { user: 'U01ALICE', groups: [] } });
    const rolledBack = await until(state.id, 'rolled_back');
    expect(handlers.of('undo').map((c) => [c.stepId, c.captured])).toEqual([
      ['cutover', { value: 'old.example.com.', n: 2 }],
      ['maintenance', { enabled: false, n: 1 }],
    ]);
    expect(handlers.of('capture')).toHaveLength(2);
    expect(rolledBack.steps.map((s) => s.status)).toEqual(['rolled_back', 'rolled_back']);
  });

  it('honours a step timeout written in the plan', async () => {
    const spec = stepSchema.parse({ ...stepSpec('flag', 'slow'), timeout: '40ms' });
    handlers.set('slow', {
      run: async (_step, _captured, ctx) => {
        await ctx.sleep(10_000);
        return { summary: 'never' };
      },
    });
    const { state } = await startTestRun(pg.db, { steps: [spec] });
    rig.startExecutor();
    const failed = await until(state.id, 'failed');
    expect(failed.steps[0]!.error).toMatch(/^timed out after 40ms/);
  });
});

describe('an approved step whose content changed before it acted', () => {
  it('does not act when a variable changed since the approval (a restarted Ferry), and asks again', async () => {
    const { state } = await startTestRun(pg.db, {
      steps: [stepSpec('crons', 'crons', true)],
      env: planEnv,
    });
    await rig.act(state.id, { type: 'approve', stepId: 'crons', actor: { user: 'U02BOB', groups: [] } });
    // This process runs with another target Redis than the one the approver saw.
    rig.startExecutor({ planEnv: { ...planEnv, TARGET_REDIS_URL: 'redis://127.0.0.1:6379/9' } });
    const asked = await until(state.id, 'waiting');
    expect(asked.steps[0]).toMatchObject({ status: 'awaiting_approval', approval: null });
    expect(asked.steps[0]!.content?.fields['provider.url']).toBe('redis://127.0.0.1:6379/9');
    expect(handlers.of('run')).toEqual([]);
    const requests = (await rig.timeline(state.id)).filter((e) => e.type === 'approval_requested');
    expect(requests.at(-1)?.detail).toBe(
      'asked again: the step changed since it was approved: provider.url: redis://127.0.0.1:6379/7 → redis://127.0.0.1:6379/9',
    );
  });
});

describe('steps that wait', () => {
  /** Forty runs of one step each, whose handler holds until `release` (Route 53 not yet INSYNC). */
  async function waitingNight(runs: number) {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    handlers.set('cutover', { run: () => held.then(() => ({ summary: 'INSYNC' })) });
    const started = await Promise.all(
      Array.from({ length: runs }, (_, i) =>
        startTestRun(pg.db, { service: `svc${i}`, steps: [stepSpec('flag', 'cutover')] }),
      ),
    );
    return { ids: started.map((s) => s.state.id), release };
  }

  it('do not keep another run’s step from starting: forty runs each wait on one at once', async () => {
    const night = await waitingNight(40);
    rig.startExecutor();
    await waitFor(() => handlers.of('run', 'cutover').length === 40, 'all forty steps to be running');
    night.release();
    for (const id of night.ids) await until(id, 'succeeded');
  });

  it('count towards the bound: past it, a step starts only once a running one ends', async () => {
    const night = await waitingNight(3);
    rig.startExecutor({ concurrency: 2 });
    await waitFor(() => handlers.of('run', 'cutover').length === 2, 'two steps to be running');
    // Several idle polls (50 ms) later the third is still due, not claimed.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(handlers.of('run', 'cutover')).toHaveLength(2);
    const due = await pg.db.pool.query(`select count(*)::int as n from step_attempts where status = 'due'`);
    expect(due.rows[0].n).toBe(1);
    night.release();
    for (const id of night.ids) await until(id, 'succeeded');
    expect(handlers.of('run', 'cutover')).toHaveLength(3);
  });
});
