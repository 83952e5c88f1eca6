import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StepHandler } from '../../src/adapters/types.ts';
import { systemClock } from '../../src/clock.ts';
import { Executor } from '../../src/executor/executor.ts';
import { Waker } from '../../src/store/wake.ts';
import { stepSchema } from '../../src/plan/schema.ts';
import type { Database } from '../../src/store/db.ts';
import { readRun } from '../../src/store/runs.ts';
import { createTestSchema, silentLog, startTestRun, type TestSchema } from '../support/db.ts';

// Shutdown and stuck adapters: a SIGTERM lets a step in flight finish within the grace period, and
// an adapter that ignores its abort signal still cannot hold an attempt past the step's timeout.

/** A run of one flag step (changed by `step`), started: its first attempt is due. */
async function startRun(db: Database, service: string, step: Record<string, unknown> = {}): Promise<string> {
  const spec = stepSchema.parse({
    id: 'slow',
    kind: 'flag',
    action: 'on',
    provider: { type: 'redis', url: 'redis://x', key: 'k' },
    ...step,
  });
  const { state } = await startTestRun(db, { service, steps: [spec] });
  return state.id;
}

function executor(db: Database, handler: StepHandler): Executor {
  return new Executor({
    db,
    log: silentLog,
    clock: systemClock,
    waker: new Waker(),
    handlerFor: () => handler,
    planEnv: {},
    leaseMs: 10_000,
    idlePollMs: 20,
  });
}

describe('executor shutdown and stuck adapters', () => {
  let t: TestSchema;
  beforeAll(async () => {
    t = await createTestSchema({ prefix: 'shutdown' });
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('lets a step in flight finish during the shutdown grace period', async () => {
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => (started = resolve));
    const handler: StepHandler = {
      describe: () => Promise.resolve(''),
      capture: () => Promise.resolve(null),
      run: () => {
        started();
        return new Promise((done) => setTimeout(() => done({ summary: 'finished during shutdown' }), 100));
      },
    };
    const runId = await startRun(t.db, 'graceful', {});
    const exec = executor(t.db, handler);
    exec.start();
    await running;
    await exec.stop(5_000);
    const record = await readRun(t.db, runId);
    expect(record!.state.steps[0]).toMatchObject({
      status: 'succeeded',
      summary: 'finished during shutdown',
    });
    expect(record!.state.status).toBe('succeeded');
  });

  it('hands a step back unfinished when the grace period runs out', async () => {
    const handler: StepHandler = {
      describe: () => Promise.resolve(''),
      capture: () => Promise.resolve(null),
      run: (_step, _captured, ctx) => ctx.sleep(10_000).then(() => ({ summary: 'too late' })),
    };
    const runId = await startRun(t.db, 'handed-back', {});
    const exec = executor(t.db, handler);
    exec.start();
    for (let i = 0; i < 100 && (await readRun(t.db, runId))!.state.steps[0]!.attempt === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 50));
    await exec.stop(50);
    const record = await readRun(t.db, runId);
    // No outcome recorded: the attempt is handed back, due at once for the next process (no lease
    // to wait out), and the hand-back is not counted as a lost claim.
    expect(record!.state.steps[0]).toMatchObject({ status: 'running', attempt: 1 });
    const { rows } = await t.db.pool.query(
      `select status, claims, claimed_by, not_before <= now() as due_now from step_attempts where run_id = $1`,
      [runId],
    );
    expect(rows).toEqual([{ status: 'due', claims: 0, claimed_by: null, due_now: true }]);
  });

  it('fails a step whose adapter ignores its signal once the step times out', async () => {
    const handler: StepHandler = {
      describe: () => Promise.resolve(''),
      capture: () => Promise.resolve(null),
      run: () => new Promise(() => undefined), // never settles, never listens
    };
    const runId = await startRun(t.db, 'stuck', { timeout: '200ms' });
    const exec = executor(t.db, handler);
    exec.start();
    try {
      for (let i = 0; i < 100; i++) {
        const record = await readRun(t.db, runId);
        if (record!.state.status === 'failed') break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const record = await readRun(t.db, runId);
      expect(record!.state.status).toBe('failed');
      expect(record!.state.steps[0]!.error).toMatch(/timed out after 0 s|timed out after/);
    } finally {
      await exec.stop();
    }
  });
});

describe('attempts that must not act', () => {
  let t: TestSchema;
  beforeAll(async () => {
    t = await createTestSchema({ prefix: 'notrun' });
  });
  afterAll(async () => {
    await t?.dispose();
  });

  async function until(runId: string, done: (status: string) => boolean): Promise<void> {
    for (let i = 0; i < 200 && !done((await readRun(t.db, runId))!.state.status); i++)
      await new Promise((r) => setTimeout(r, 20));
  }

  it('records that an outcome could not be recorded, instead of acting again and again', async () => {
    let runs = 0;
    const handler: StepHandler = {
      describe: () => Promise.resolve(''),
      capture: () => Promise.resolve(null),
      // Postgres refuses this in jsonb; it stands for any outcome the database will not take.
      run: () => (
        (runs += 1),
        Promise.resolve({ summary: 'ok', figures: { bad: '\u0000'.repeat(3) + '\uD800' } })
      ),
    };
    const runId = await startRun(t.db, 'unrecordable');
    const exec = executor(t.db, handler);
    exec.start();
    try {
      await until(runId, (s) => s === 'failed');
      const step = (await readRun(t.db, runId))!.state.steps[0]!;
      expect(step.error).toMatch(/^Ferry could not record this step's outcome/);
      expect(runs).toBe(1);
    } finally {
      await exec.stop();
    }
  });

  it('does not act on a forward attempt once the run is rolling back', async () => {
    let runs = 0;
    const handler: StepHandler = {
      describe: () => Promise.resolve(''),
      capture: () => Promise.resolve(null),
      run: () => ((runs += 1), Promise.resolve({ summary: 'changed' })),
    };
    const runId = await startRun(t.db, 'rolling-back');
    // The run left "running" before its attempt was claimed: a Roll back during a retry's backoff.
    await t.db.pool.query(`update runs set status = 'rolling_back' where id = $1`, [runId]);
    const exec = executor(t.db, handler);
    exec.start();
    try {
      for (let i = 0; i < 100; i++) {
        const { rows } = await t.db.pool.query(`select status from step_attempts where run_id = $1`, [runId]);
        if ((rows[0] as { status: string }).status === 'done') break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const { rows } = await t.db.pool.query(`select outcome from step_attempts where run_id = $1`, [runId]);
      expect((rows[0] as { outcome: { error: string } }).outcome.error).toBe(
        'not run: the run is rolling back',
      );
      expect(runs).toBe(0);
    } finally {
      await exec.stop();
    }
  });
});
