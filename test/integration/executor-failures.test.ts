import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.ts';
import { retryDelayMs } from '../../src/engine/index.ts';
import type { RunState } from '../../src/engine/types.ts';
import { StepError } from '../../src/errors.ts';
import { stepSchema } from '../../src/plan/schema.ts';
import { createTestSchema, startTestRun, type TestSchema } from '../support/db.ts';
import { stepSpec } from '../support/engine-fixtures.ts';
import { ExecutorRig, RecordingHandlers, waitFor } from '../support/executor.ts';

// How the executor fails steps: transient errors retry with backoff and reuse the first capture,
// permanent ones fail the step with a message that carries no secret, timeouts are not retried.

const SECRET_URL = 'redis://ferry:hunter2-secret@redis.internal:6379/0';
const PLAN_TOKEN = 'plan-token-hunter2-secret';

let pg: TestSchema;
let handlers: RecordingHandlers;
let rig: ExecutorRig;
/** Time as the engine sees it: fixed, so a retry's not_before is exact. */
let T: number;
const clock: Clock = { now: () => T };

beforeEach(async () => {
  T = Date.now();
  pg = await createTestSchema({ prefix: 'exec_fail' });
  handlers = new RecordingHandlers();
  rig = new ExecutorRig(pg.db, handlers, {
    clock,
    planEnv: { SOURCE_REDIS_URL: SECRET_URL, TARGET_REDIS_URL: SECRET_URL, ADMIN_TOKEN: PLAN_TOKEN },
  });
});

afterEach(async ({ task }) => {
  await rig.stopAll();
  if (task.result?.state === 'fail') pg.keep();
  await pg.dispose();
});

const until = (runId: string, test: (state: RunState) => boolean, what: string) =>
  rig.until(runId, test, what);

const alice = { user: 'U01ALICE', groups: [] };

describe('a retryable StepError', () => {
  it('schedules a new attempt after the backoff, says so in the timeline, and runs it once due', async () => {
    let calls = 0;
    handlers.set('flag', {
      run: () => {
        calls += 1;
        if (calls === 1) return Promise.reject(new StepError('ECONNRESET from Redis', { retryable: true }));
        return Promise.resolve({ summary: 'set on the second try' });
      },
    });
    const { state } = await startTestRun(pg.db, { steps: [stepSpec('flag', 'flag')], now: T });
    rig.startExecutor();
    const retrying = await waitFor(async () => {
      const attempts = await rig.attempts(state.id);
      return attempts.length === 2 && attempts;
    }, 'a second attempt');
    expect(retrying.map((a) => [a.attempt, a.status])).toEqual([
      [1, 'done'],
      [2, 'due'],
    ]);
    expect(retrying[1]!.not_before).toEqual(new Date(T + retryDelayMs(1)));
    const timeline = await rig.timeline(state.id);
    expect(timeline.at(-1)).toMatchObject({
      type: 'step_retrying',
      stepId: 'flag',
      detail: 'ECONNRESET from Redis (attempt 2 of 5 in 2 s)',
    });
    expect((await rig.status(state.id)).status).toBe('running');

    await rig.skipBackoff(state.id);
    await until(state.id, (s) => s.status === 'succeeded', 'the retry to succeed');
    expect(calls).toBe(2);
  });

  it('reuses the capture of the first attempt when the step dies between capture and change', async () => {
    let captures = 0;
    let runs = 0;
    handlers.set('disable-crons', {
      // Each capture would see a different world: the second would see the first's change.
      capture: () => Promise.resolve({ enabled: ['invoices', 'reminders'], capture: ++captures }),
      run: () => {
        runs += 1;
        if (runs === 1) return Promise.reject(new StepError('connection lost mid-step', { retryable: true }));
        return Promise.resolve({ summary: 'disabled 2 jobs' });
      },
    });
    const { state } = await startTestRun(pg.db, { steps: [stepSpec('crons', 'disable-crons')], now: T });
    rig.startExecutor();
    await waitFor(async () => (await rig.attempts(state.id)).length === 2, 'the retry to be scheduled');
    await rig.skipBackoff(state.id);
    await until(state.id, (s) => s.status === 'succeeded', 'the retry to succeed');

    expect(handlers.of('capture')).toHaveLength(1);
    expect(handlers.of('run').map((c) => [c.attempt, c.captured])).toEqual([
      [1, { enabled: ['invoices', 'reminders'], capture: 1 }],
      [2, { enabled: ['invoices', 'reminders'], capture: 1 }],
    ]);
    const attempts = await rig.attempts(state.id);
    expect(attempts[0]!.captured).toEqual({ enabled: ['invoices', 'reminders'], capture: 1 });
    expect(attempts[1]!.captured_at).toBeNull();
  });

  it('stops retrying after five attempts and fails the step with the last error', async () => {
    handlers.set('flag', {
      run: (_s, _c, ctx) => Promise.reject(new StepError(`timeout #${ctx.attempt}`, { retryable: true })),
    });
    const { state } = await startTestRun(pg.db, { steps: [stepSpec('flag', 'flag')], now: T });
    rig.startExecutor();
    for (let attempt = 2; attempt <= 5; attempt++) {
      await waitFor(async () => (await rig.attempts(state.id)).length === attempt, `attempt ${attempt}`);
      await rig.skipBackoff(state.id);
    }
    const failed = await until(state.id, (s) => s.status === 'failed', 'the step to fail');
    expect(failed.steps[0]).toMatchObject({ status: 'failed', error: 'timeout #5', attempt: 5 });
    expect(handlers.of('run')).toHaveLength(5);
    expect(handlers.of('capture')).toHaveLength(1);
  });
});

describe('a permanent failure', () => {
  it('fails the step with the adapter’s message, and a person’s Retry reuses the original capture', async () => {
    let runs = 0;
    handlers.set('maintenance', {
      capture: () => Promise.resolve({ enabled: false }),
      run: () =>
        ++runs === 1
          ? Promise.reject(
              new StepError('Heroku said 403 Forbidden: check HEROKU_API_TOKEN', { retryable: false }),
            )
          : Promise.resolve({ summary: 'maintenance on' }),
    });
    const { state } = await startTestRun(pg.db, { steps: [stepSpec('maintenance', 'maintenance')], now: T });
    rig.startExecutor();
    const failed = await until(state.id, (s) => s.status === 'failed', 'the step to fail');
    expect(failed.steps[0]).toMatchObject({
      status: 'failed',
      error: 'Heroku said 403 Forbidden: check HEROKU_API_TOKEN',
    });
    expect(await rig.attempts(state.id)).toHaveLength(1);

    await rig.act(state.id, { type: 'retry', stepId: 'maintenance', actor: alice });
    await until(state.id, (s) => s.status === 'succeeded', 'the retried step to succeed');
    expect(handlers.of('capture')).toHaveLength(1);
    expect(handlers.of('run').map((c) => c.captured)).toEqual([{ enabled: false }, { enabled: false }]);
  });

  it('never lets a credential reach the database: URL passwords, tokens or plan variable values', async () => {
    const spec = stepSchema.parse({
      id: 'maintenance-on',
      kind: 'maintenance',
      action: 'on',
      provider: {
        type: 'http',
        url: 'https://billing.example.com/admin/maintenance',
        token: '${ADMIN_TOKEN}',
      },
    });
    handlers.set('maintenance-on', {
      run: (step) =>
        Promise.reject(
          new StepError(
            `could not reach ${SECRET_URL} (Authorization: Bearer ${PLAN_TOKEN}; token echoed: ${
              (step as { provider: { token: string } }).provider.token
            }; bot xoxb-1111-hunter2-secret)`,
            { retryable: false },
          ),
        ),
    });
    const { state } = await startTestRun(pg.db, { steps: [spec], now: T });
    rig.startExecutor();
    const failed = await until(state.id, (s) => s.status === 'failed', 'the step to fail');
    // The handler really saw the secret: the redaction is what kept it out.
    expect((handlers.of('run')[0]!.step as { provider: { token: string } }).provider.token).toBe(PLAN_TOKEN);
    expect(failed.steps[0]!.error).toBe(
      'could not reach redis://***@redis.internal:6379/0 (Authorization: Bearer *** token echoed: ***; bot ***)',
    );
    const tables = await pg.db.pool.query<{ table_name: string }>(
      `select table_name from information_schema.tables where table_schema = $1`,
      [pg.schema],
    );
    expect(tables.rows.length).toBeGreaterThan(5);
    for (const { table_name } of tables.rows) {
      const { rows } = await pg.db.pool.query<{ row: string }>(
        `select row_to_json(t)::text as row from ${table_name} t`,
      );
      for (const { row } of rows) expect(row, `a row of ${table_name}`).not.toMatch(/hunter2|secret/);
    }
  });

  it('fails a step whose handler throws something unexpected with its message, not retried', async () => {
    handlers.set('flag', {
      run: () => Promise.reject(new TypeError("Cannot read properties of undefined (reading 'x')")),
    });
    const { state } = await startTestRun(pg.db, { steps: [stepSpec('flag', 'flag')], now: T });
    rig.startExecutor();
    const failed = await until(state.id, (s) => s.status === 'failed', 'the step to fail');
    expect(failed.steps[0]!.error).toBe("Cannot read properties of undefined (reading 'x')");
    expect(await rig.attempts(state.id)).toHaveLength(1);
  });
});

describe('a step timeout', () => {
  it('fails the step as not retryable, saying it timed out, even when the adapter calls it retryable', async () => {
    // Long enough that the adapter is surely called first on a loaded machine (the timeout counts
    // from the claim), short beside the adapter's own 10 s wait.
    const spec = stepSchema.parse({ ...stepSpec('flag', 'slow'), timeout: '1500ms' });
    handlers.set('slow', {
      run: async (_step, _captured, ctx) => {
        try {
          await ctx.sleep(10_000);
        } catch {
          throw new StepError('Redis did not answer', { retryable: true });
        }
        return { summary: 'never' };
      },
    });
    const { state } = await startTestRun(pg.db, { steps: [spec], now: T });
    rig.startExecutor();
    const failed = await until(state.id, (s) => s.status === 'failed', 'the step to time out');
    expect(failed.steps[0]!.error).toMatch(
      /^timed out after 1\.5s \(the step's timeout; set `timeout` in the plan/,
    );
    expect(await rig.attempts(state.id)).toHaveLength(1);
    const [run] = handlers.of('run');
    expect(run!.ctx.signal.aborted).toBe(true);
  });
});
