import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decide } from '../../src/engine/index.ts';
import type { RunState } from '../../src/engine/types.ts';
import { applyToRun } from '../../src/store/runs.ts';
import { createTestSchema, startTestRun, type TestSchema } from '../support/db.ts';
import { stepSpec } from '../support/engine-fixtures.ts';
import { ExecutorRig, gate, RecordingHandlers, waitFor } from '../support/executor.ts';

// Cancellation, shutdown, lost leases and several replicas: every step attempt has one effect that
// counts, whatever happens to the process running it.

const LEASE_MS = 150;
let pg: TestSchema;
let handlers: RecordingHandlers;
let rig: ExecutorRig;

beforeEach(async () => {
  pg = await createTestSchema({ prefix: 'exec_recovery' });
  handlers = new RecordingHandlers();
  rig = new ExecutorRig(pg.db, handlers, {
    leaseMs: LEASE_MS,
    idlePollMs: 50,
    planEnv: { SOURCE_REDIS_URL: 'redis://127.0.0.1:6379/8', TARGET_REDIS_URL: 'redis://127.0.0.1:6379/7' },
  });
});

afterEach(async ({ task }) => {
  await rig.stopAll();
  if (task.result?.state === 'fail') pg.keep();
  await pg.dispose();
});

const alice = { user: 'U01ALICE', groups: [] };

const until = (runId: string, test: (state: RunState) => boolean, what: string) =>
  rig.until(runId, test, what);

/** A handler whose first run waits until its signal aborts, and records why. */
function blockUntilAborted(stepId: string) {
  const started = gate();
  const stopped = gate<unknown>();
  let runs = 0;
  handlers.set(stepId, {
    capture: () => Promise.resolve({ before: 'original' }),
    run: async (_step, _captured, ctx) => {
      runs += 1;
      if (runs > 1) return { summary: `${stepId} done on run ${runs}` };
      started.open();
      try {
        await ctx.sleep(30_000);
      } catch {
        stopped.open(ctx.signal.reason);
      }
      throw ctx.signal.reason;
    },
  });
  return { started: started.promise, stopped: stopped.promise };
}

describe('cancel', () => {
  it('aborts the in-flight handler’s signal when the run is aborted, and records nothing more', async () => {
    const step = blockUntilAborted('drain');
    const { state } = await startTestRun(pg.db, {
      steps: [stepSpec('drain', 'drain'), stepSpec('flag', 'flag')],
    });
    rig.startExecutor();
    await step.started;
    await rig.act(state.id, { type: 'abort', actor: alice });
    const reason = await step.stopped;
    expect(reason).toMatchObject({ message: 'stopped: the run was aborted', retryable: false });
    const ended = await until(state.id, (s) => s.steps[0]!.status === 'failed', 'the attempt to be recorded');
    expect(ended.status).toBe('aborted');
    expect(ended.steps.map((s) => s.status)).toEqual(['failed', 'pending']);
    expect(handlers.of('run', 'flag')).toEqual([]);
    expect((await rig.attempts(state.id)).map((a) => a.status)).toEqual(['done']);
  });

  it('stops a step on this replica when the run is aborted on another one (the lease is gone)', async () => {
    const step = blockUntilAborted('drain');
    const { state } = await startTestRun(pg.db, { steps: [stepSpec('drain', 'drain')] });
    rig.startExecutor();
    await step.started;
    // Another replica decides: no in-process cancel reaches this executor, only the database.
    const now = Date.now();
    await applyToRun(pg.db, state.id, now, (record) =>
      decide(record.state, { type: 'abort', actor: alice }, now),
    );
    const reason = await step.stopped;
    expect(reason).toMatchObject({
      message: 'stopped: the attempt was cancelled or taken over by another Ferry',
    });
    await until(state.id, (s) => s.steps[0]!.status === 'failed', 'the attempt to be recorded');
    expect((await rig.status(state.id)).status).toBe('aborted');
  });
});

describe('stop and restart', () => {
  it('hands an attempt in flight back to the next executor, which finishes it at once: one success', async () => {
    const step = blockUntilAborted('cutover');
    const { state } = await startTestRun(pg.db, { steps: [stepSpec('dns', 'cutover')] });
    const first = rig.startExecutor({ leaseMs: 60_000 });
    await step.started;
    await first.stop();
    expect(await step.stopped).toMatchObject({ name: 'ShutdownError' });
    const handedBack = await rig.attempts(state.id);
    expect(handedBack.map((a) => [a.status, a.claimed_by])).toEqual([['due', null]]);
    expect((await rig.status(state.id)).steps[0]!.status).toBe('running');

    // No lease to wait out: the hand-back is due now, even with a one-minute lease.
    const second = rig.startExecutor({ leaseMs: 60_000 });
    const done = await until(
      state.id,
      (s) => s.status === 'succeeded',
      'the new executor to finish the step',
    );
    expect(done.steps[0]!.summary).toBe('cutover done on run 2');
    const attempts = await rig.attempts(state.id);
    expect(attempts.map((a) => [a.attempt, a.status, a.claimed_by])).toEqual([[1, 'done', second.owner]]);
    const timeline = await rig.timeline(state.id);
    expect(timeline.filter((e) => e.type === 'step_succeeded')).toHaveLength(1);
    expect(timeline.filter((e) => e.type === 'step_failed' || e.type === 'step_retrying')).toEqual([]);
    // The capture was committed before the first executor acted; the second reused it.
    expect(handlers.of('capture')).toHaveLength(1);
    expect(handlers.of('run').map((c) => c.captured)).toEqual([
      { before: 'original' },
      { before: 'original' },
    ]);
  });

  it('does not count graceful restarts against the claim limit: six hand-backs during one long step, then success', async () => {
    let runs = 0;
    const started = { count: 0 };
    handlers.set('drain', {
      run: async (_step, _captured, ctx) => {
        runs += 1;
        started.count += 1;
        if (runs <= 6) await ctx.sleep(30_000); // a long drain, cut short by each shutdown
        return { summary: `drained on run ${runs}` };
      },
    });
    const { state } = await startTestRun(pg.db, { steps: [stepSpec('drain', 'drain')] });
    for (let restart = 1; restart <= 6; restart++) {
      const executor = rig.startExecutor({ leaseMs: 60_000 });
      await waitFor(() => started.count === restart, `run ${restart} to start`);
      await executor.stop();
    }
    rig.startExecutor({ leaseMs: 60_000 });
    const done = await until(state.id, (s) => s.status === 'succeeded', 'the seventh executor to finish');
    expect(done.steps[0]!.summary).toBe('drained on run 7');
    const [attempt] = await rig.attempts(state.id);
    const { rows } = await pg.db.pool.query(`select claims from step_attempts where id = $1`, [attempt!.id]);
    expect(rows[0]).toEqual({ claims: 1 });
  });

  it('never lets an executor whose lease lapsed before it captured act after another took the attempt over', async () => {
    const releaseCapture = gate();
    let captures = 0;
    handlers.set('flag', {
      capture: async () => {
        captures += 1;
        if (captures === 1) await releaseCapture.promise; // a slow read (a loaded machine, a GC pause)
        return { on: false, by: `capture ${captures}` };
      },
    });
    const { state } = await startTestRun(pg.db, { steps: [stepSpec('flag', 'flag')] });
    const stale = rig.startExecutor({ leaseMs: 60_000 });
    await waitFor(() => captures === 1, 'the first capture to start');
    // Its renewals are slower than the lease (as if the process stalled): another executor takes over.
    await pg.db.pool.query(`update step_attempts set lease_until = now() - interval '1 second'`);
    const fresh = rig.startExecutor();
    await until(state.id, (s) => s.status === 'succeeded', 'the new owner to finish');
    releaseCapture.open();
    await stale.stop();
    // The stale executor's capture was refused, so it never acted.
    expect(handlers.of('run').map((c) => c.captured)).toEqual([{ on: false, by: 'capture 2' }]);
    expect((await rig.attempts(state.id)).map((a) => [a.claimed_by, a.captured])).toEqual([
      [fresh.owner, { on: false, by: 'capture 2' }],
    ]);
  });

  it('records nothing from an executor whose lease was taken over while it worked', async () => {
    const release = gate();
    let runs = 0;
    handlers.set('flag', {
      run: async () => {
        runs += 1;
        if (runs === 1) {
          await release.promise; // stuck (a long GC pause, a frozen VM), deaf to its signal
          return { summary: 'late success from the stale executor' };
        }
        return { summary: 'done by the new owner' };
      },
    });
    const { state } = await startTestRun(pg.db, { steps: [stepSpec('flag', 'flag')] });
    const stale = rig.startExecutor({ leaseMs: 60_000 });
    await waitFor(() => runs === 1, 'the first run');
    // Its lease lapses (as if its renewals stopped), and another executor takes the attempt.
    await pg.db.pool.query(`update step_attempts set lease_until = now() - interval '1 second'`);
    const fresh = rig.startExecutor();
    await until(state.id, (s) => s.status === 'succeeded', 'the new owner to finish');
    release.open();
    await stale.stop();
    const timeline = await rig.timeline(state.id);
    expect(timeline.filter((e) => e.type === 'step_succeeded').map((e) => e.detail)).toEqual([
      'done by the new owner',
    ]);
    expect((await rig.attempts(state.id)).map((a) => a.claimed_by)).toEqual([fresh.owner]);
  });
});

describe('stop while claiming', () => {
  it('hands back work claimed after stop() was called instead of starting it untracked', async () => {
    const { state } = await startTestRun(pg.db, { steps: [stepSpec('flag', 'flag')] });
    // Hold the claim query at the table lock, so stop() lands while the claim is in flight.
    const blocker = await pg.db.pool.connect();
    let executor: ReturnType<typeof rig.startExecutor> | undefined;
    try {
      await blocker.query('begin');
      await blocker.query('lock table step_attempts in access exclusive mode');
      executor = rig.startExecutor();
      await waitFor(async () => {
        // Not on `blocker`: inside a transaction pg_stat_activity is a snapshot from its first read.
        const { rows } = await pg.db.pool.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity
           where wait_event_type = 'Lock' and query like '%update step_attempts a set status%'`,
        );
        return rows[0]!.n > 0;
      }, 'the claim to wait on the lock');
      const stopped = executor.stop();
      await blocker.query('commit');
      await stopped;
    } finally {
      blocker.release();
    }
    const [attempt] = await rig.attempts(state.id);
    expect(attempt).toMatchObject({ status: 'due', claimed_by: null });
    expect(handlers.calls).toEqual([]);
    // Due at once for whoever comes next.
    rig.startExecutor();
    await until(state.id, (s) => s.status === 'succeeded', 'the next executor to run it');
  });
});

describe('several replicas', () => {
  it('run every step of many runs exactly once between them', async () => {
    const runIds: string[] = [];
    for (let i = 0; i < 8; i++) {
      const { state } = await startTestRun(pg.db, {
        service: `svc-${i}`,
        steps: [stepSpec('flag', 'a'), stepSpec('crons', 'b'), stepSpec('maintenance', 'c')],
      });
      runIds.push(state.id);
    }
    rig.startExecutor();
    rig.startExecutor();
    rig.startExecutor();
    for (const id of runIds) await until(id, (s) => s.status === 'succeeded', `${id} to succeed`);
    const runs = handlers.of('run').map((c) => `${c.ctx.runId}:${c.stepId}`);
    expect(runs.sort()).toEqual(runIds.flatMap((id) => ['a', 'b', 'c'].map((s) => `${id}:${s}`)).sort());
    // A lease this short can lapse on a loaded machine before the claimant captures: then another
    // replica reads the state again, but the fenced capture lets only one of them act. Each step
    // acted with the one capture that was committed.
    for (const call of handlers.of('run')) {
      const [attempt] = (await rig.attempts(call.ctx.runId)).filter((a) => a.step_id === call.stepId);
      expect(call.captured).toEqual(attempt!.captured);
    }
  });
});
