import { describe, expect, it } from 'vitest';
import { MAX_ATTEMPTS } from '../../src/engine/decide.ts';
import {
  alice,
  bob,
  execute,
  executed,
  executes,
  expectRefused,
  runUntil,
  Scenario,
  T0,
  timeline,
  timelineTypes,
} from '../support/engine-fixtures.ts';

/** Maintenance on, a flag, crons off: three reversible steps that succeed, then a DNS step. */
const cutover = () =>
  Scenario.of({ steps: ['maintenance', 'flag', 'crons', { kind: 'dns', approval: true }] });

/** Succeeds each undo the rollback asks for, in turn, until it stops asking. */
function finishUndos(s: Scenario): string[] {
  const undone: string[] = [];
  for (;;) {
    const next = s.state.steps.find((step) => step.undo === 'running');
    if (!next) return undone;
    undone.push(next.id);
    s.succeed(next.id, `${next.id} restored`);
  }
}

describe('what a rollback undoes, and in which order', () => {
  it('undoes the steps that succeeded, newest first, one at a time', () => {
    const s = cutover();
    runUntil(s, 'dns');
    s.reject('dns', bob, 'error budget is spent');
    s.tick(1_000);
    const first = s.rollback(alice);

    expect(first.state.status).toBe('rolling_back');
    expect(first.effects).toEqual([
      { type: 'timeline', entry: { type: 'rollback_started', actor: alice.user } },
      // Nobody starts it again before someone looked at why (`lock_after_rollback`, on by default).
      {
        type: 'lock',
        by: alice.user,
        reason: `${s.state.id} was rolled back; unlock once the cause is understood`,
      },
      execute('crons', 1, 'undo', T0 + 1_000),
      { type: 'timeline', entry: { type: 'undo_started', stepId: 'crons' } },
    ]);
    expect(s.step('crons')).toMatchObject({
      direction: 'undo',
      attempt: 1,
      undo: 'running',
      status: 'succeeded',
    });

    s.tick(1_000);
    const second = s.succeed('crons', '7 cron jobs enabled again');
    expect(s.step('crons')).toMatchObject({
      status: 'rolled_back',
      undo: null,
      summary: '7 cron jobs enabled again',
      finishedAt: T0 + 2_000,
    });
    expect(timeline(second.effects)[0]).toEqual({
      type: 'undo_succeeded',
      stepId: 'crons',
      detail: '7 cron jobs enabled again',
      figures: undefined,
    });
    expect(executes(second.effects)).toEqual([execute('flag', 1, 'undo', T0 + 2_000)]);

    expect(finishUndos(s)).toEqual(['flag', 'maintenance']);
    expect(s.state).toMatchObject({ status: 'rolled_back', finishedAt: T0 + 2_000 });
    expect(timelineTypes(s.last.effects)).toEqual(['undo_succeeded:maintenance', 'run_rolled_back']);
    expect(s.statuses()).toEqual({
      maintenance: 'rolled_back',
      flag: 'rolled_back',
      crons: 'rolled_back',
      dns: 'failed', // rejected: it never ran, so there is nothing to undo
    });
    expect(executed(s.log.flatMap((d) => d.effects)).filter((e) => e.endsWith(':undo'))).toEqual([
      'crons:undo',
      'flag:undo',
      'maintenance:undo',
    ]);
  });

  it('marks check, drain, manual and env-diff steps rolled back without running anything for them', () => {
    const s = Scenario.of({ steps: ['maintenance', 'check', 'drain', 'manual', 'env-diff', 'flag'] });
    runUntil(s, null);
    expect(s.state.status).toBe('succeeded');
    s.rollback();
    expect(executed(s.last.effects)).toEqual(['flag:undo']);

    const { effects } = s.succeed('flag');

    expect(executed(effects)).toEqual(['maintenance:undo']);
    expect(timeline(effects).map((t) => [t.type, t.stepId, t.detail])).toEqual([
      ['undo_succeeded', 'flag', 'flag done'],
      ['undo_succeeded', 'env-diff', 'nothing to undo'],
      ['undo_succeeded', 'manual', 'nothing to undo'],
      ['undo_succeeded', 'drain', 'nothing to undo'],
      ['undo_succeeded', 'check', 'nothing to undo'],
      ['undo_started', 'maintenance', undefined],
    ]);
    for (const id of ['check', 'drain', 'manual', 'env-diff']) {
      expect(s.step(id)).toMatchObject({
        status: 'rolled_back',
        summary: 'nothing to undo',
        direction: 'do',
      });
    }
    s.succeed('maintenance');
    expect(s.state.status).toBe('rolled_back');
  });

  it('stops a running check instead of waiting out its timeout, then undoes what went before', () => {
    const s = Scenario.of({ steps: ['maintenance', 'drain'] });
    runUntil(s, 'drain');
    const { effects } = s.rollback();

    expect(effects).toContainEqual({ type: 'cancel', stepId: 'drain' });
    expect(s.step('drain')).toMatchObject({ status: 'rolled_back', summary: 'nothing to undo' });
    // Rollback does not wait for the drain: the undo of what went before starts at once.
    expect(executes(effects)).toEqual([execute('maintenance', 1, 'undo', T0)]);
    expect(finishUndos(s)).toEqual(['maintenance']);
    expect(s.state.status).toBe('rolled_back');
  });

  it('undoes a failed step that ran first, since its attempt may have changed something', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag', 'dns', 'check'] });
    runUntil(s, 'dns');
    s.fail('dns', 'Route 53 did not report INSYNC within 120 s');
    const { effects } = s.rollback();

    expect(executes(effects)).toEqual([execute('dns', 1, 'undo', T0)]);
    expect(s.step('dns')).toMatchObject({
      status: 'failed',
      direction: 'undo',
      undo: 'running',
      error: null,
    });
    expect(finishUndos(s)).toEqual(['dns', 'flag', 'maintenance']);
    expect(s.statuses()).toEqual({
      maintenance: 'rolled_back',
      flag: 'rolled_back',
      dns: 'rolled_back',
      check: 'pending',
    });
  });

  it('undoes a failed step that used up its retries', () => {
    const s = Scenario.of({ steps: ['flag', 'dns'] });
    runUntil(s, 'dns');
    for (let i = 0; i < MAX_ATTEMPTS; i++) s.flake('dns');
    expect(s.step('dns')).toMatchObject({ status: 'failed', attempt: MAX_ATTEMPTS });
    const { effects } = s.rollback();

    expect(executes(effects)).toEqual([execute('dns', 1, 'undo', T0)]);
  });

  it('undoes a step that was skipped after an attempt ran, since that attempt may have changed something', () => {
    const s = Scenario.of({ steps: ['maintenance', 'dns', 'flag'] });
    runUntil(s, 'dns');
    s.fail('dns', 'Route 53 did not report INSYNC within 120 s');
    s.skip('dns');
    s.succeed('flag');
    expect(s.state.status).toBe('succeeded');

    s.rollback();

    expect(finishUndos(s)).toEqual(['flag', 'dns', 'maintenance']);
    expect(s.state.status).toBe('rolled_back');
    expect(s.step('dns').status).toBe('rolled_back');
  });

  it('leaves alone a step that was skipped before it ever ran', () => {
    const s = Scenario.of({ steps: ['maintenance', { kind: 'dns', approval: true }, 'flag'] });
    runUntil(s, 'dns');
    s.reject('dns', bob);
    s.skip('dns');
    s.succeed('flag');
    s.rollback();

    expect(finishUndos(s)).toEqual(['flag', 'maintenance']);
    expect(s.statuses()).toEqual({ maintenance: 'rolled_back', dns: 'skipped', flag: 'rolled_back' });
  });

  it('leaves a skipped check as skipped: it changed nothing', () => {
    const s = Scenario.of({ steps: ['maintenance', 'check', 'flag'] });
    runUntil(s, 'check');
    s.fail('check', 'p95 412 ms is over the 50 ms bound');
    s.skip('check');
    s.succeed('flag');
    s.rollback();

    expect(finishUndos(s)).toEqual(['flag', 'maintenance']);
    expect(s.statuses()).toEqual({ maintenance: 'rolled_back', check: 'skipped', flag: 'rolled_back' });
  });
});

describe('rolling back from each state a run can be in', () => {
  it('rolls back a failed run', () => {
    const s = Scenario.of({ steps: ['maintenance', 'check'] });
    runUntil(s, 'check');
    s.fail('check');
    s.rollback();

    expect(finishUndos(s)).toEqual(['maintenance']);
    expect(s.state.status).toBe('rolled_back');
  });

  it('rolls back a run waiting for approval: closes the request and undoes what ran', () => {
    const s = cutover();
    runUntil(s, 'dns');
    s.tick(30_000);
    const { state, effects } = s.rollback(bob);

    const cancelled = { decision: 'cancelled', by: bob.user, at: T0 + 30_000 };
    expect(state.status).toBe('rolling_back');
    expect(effects).toContainEqual({ type: 'close_approval', stepId: 'dns', approval: cancelled });
    expect(s.step('dns')).toMatchObject({ status: 'pending', approval: cancelled });
    expect(executed(effects)).toEqual(['crons:undo']);
    expect(finishUndos(s)).toEqual(['crons', 'flag', 'maintenance']);
  });

  it('refuses an approval that arrives after a rollback closed the request', () => {
    const s = cutover();
    runUntil(s, 'dns');
    s.rollback();
    const before = s.state;

    expectRefused(
      s.approve('dns', bob),
      before,
      bob.user,
      /dns no longer waits for approval: it was cancelled by <@U01ALICE>/,
    );
  });

  it('rolls back a run waiting for a person: stops waiting, undoes what ran', () => {
    const s = Scenario.of({ steps: ['maintenance', 'manual', 'flag'] });
    runUntil(s, 'manual');
    const { effects } = s.rollback();

    expect(s.step('manual')).toMatchObject({ status: 'pending', waitingForPerson: false });
    expect(effects.some((e) => e.type === 'cancel')).toBe(false);
    expect(executed(effects)).toEqual(['maintenance:undo']);
    const before = s.state;
    expectRefused(s.done('manual'), before, alice.user, /not waiting for Done/);
  });

  it('rolls back a run that succeeded, reopening it until the rollback ends', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag'] });
    runUntil(s, null);
    expect(s.state.finishedAt).toBe(T0);
    s.tick(3_600_000);
    s.rollback();

    expect(s.state).toMatchObject({ status: 'rolling_back', finishedAt: null });
    s.tick(1_000);
    expect(finishUndos(s)).toEqual(['flag', 'maintenance']);
    expect(s.state).toMatchObject({ status: 'rolled_back', finishedAt: T0 + 3_601_000 });
  });

  it('ends the rollback at once when nothing has changed yet', () => {
    const s = Scenario.of({ steps: [{ kind: 'dns', approval: true }, 'flag'] });
    s.start();
    const { state, effects } = s.rollback();

    expect(state).toMatchObject({ status: 'rolled_back', finishedAt: T0 });
    expect(executes(effects)).toEqual([]);
    expect(timelineTypes(effects)).toEqual(['rollback_started', 'run_rolled_back']);
  });

  it.each([
    [
      'rolled back',
      (s: Scenario) => {
        s.rollback();
        s.succeed('flag');
        finishUndos(s);
      },
    ],
    ['aborted', (s: Scenario) => s.abort()],
    ['rolling back', (s: Scenario) => s.rollback()],
  ])('refuses Roll back of a run that is %s', (words, arrange) => {
    const s = Scenario.of({ steps: ['maintenance', 'flag'] });
    runUntil(s, 'flag');
    arrange(s);
    const before = s.state;

    expectRefused(
      s.rollback(bob),
      before,
      bob.user,
      new RegExp(`r12 is ${words}: there is nothing to roll back`),
    );
  });
});

describe('a step still running when the rollback starts', () => {
  it('waits for its outcome, then undoes it first', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag', 'dns', 'check'] });
    runUntil(s, 'dns');
    const started = s.rollback();

    expect(started.state.status).toBe('rolling_back');
    expect(executes(started.effects)).toEqual([]);
    expect(started.effects.some((e) => e.type === 'cancel')).toBe(false);
    expect(timelineTypes(started.effects)).toEqual(['rollback_started']);

    const { state, effects } = s.succeed('dns', 'CNAME now billing.eu-central.example.net.');

    expect(state.status).toBe('rolling_back');
    expect(timelineTypes(effects)).toEqual(['step_succeeded:dns', 'undo_started:dns']);
    expect(executed(effects)).toEqual(['dns:undo']);
    expect(finishUndos(s)).toEqual(['dns', 'flag', 'maintenance']);
    expect(s.step('check').status).toBe('pending');
  });

  it('does not retry its transient failure, and undoes it', () => {
    const s = Scenario.of({ steps: ['maintenance', 'dns'] });
    runUntil(s, 'dns');
    s.rollback();
    const { effects } = s.flake('dns', 'Route 53 throttled the request');

    expect(s.step('dns')).toMatchObject({ status: 'failed', direction: 'undo', undo: 'running' });
    expect(timelineTypes(effects)).toEqual(['step_failed:dns', 'undo_started:dns']);
    expect(executes(effects)).toEqual([execute('dns', 1, 'undo', T0)]);
  });

  it('waits for a retry that was already scheduled, then undoes the step', () => {
    const s = Scenario.of({ steps: ['maintenance', 'dns'] });
    runUntil(s, 'dns');
    s.flake('dns');
    const { effects } = s.rollback();

    expect(executes(effects)).toEqual([]);
    s.succeed('dns');
    expect(finishUndos(s)).toEqual(['dns', 'maintenance']);
  });

  it('ignores a late forward outcome once the step is being undone', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag'] });
    runUntil(s, 'flag');
    s.fail('flag', 'Redis READONLY');
    s.rollback();
    const before = structuredClone(s.state);
    const { state, effects } = s.send({
      type: 'step_succeeded',
      stepId: 'flag',
      attempt: 1,
      direction: 'do',
      summary: 'late duplicate',
    });

    expect(effects).toEqual([]);
    expect(state).toEqual(before);
  });
});

describe('undo failures', () => {
  const failingUndo = () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag', 'dns'] });
    runUntil(s, null);
    s.rollback();
    return s;
  };

  it('retries a transient undo failure with backoff', () => {
    const s = failingUndo();
    s.tick(1_000);
    const { state, effects } = s.flake('dns', 'Route 53 throttled the request');

    expect(state.status).toBe('rolling_back');
    expect(s.step('dns')).toMatchObject({ undo: 'running', direction: 'undo', attempt: 2 });
    expect(executes(effects)).toEqual([execute('dns', 2, 'undo', T0 + 1_000 + 2_000)]);
    expect(timeline(effects)).toEqual([
      {
        type: 'step_retrying',
        stepId: 'dns',
        detail: 'Route 53 throttled the request (attempt 2 of 5 in 2 s)',
      },
    ]);
  });

  it('stops the rollback and asks a person when an undo fails for good', () => {
    const s = failingUndo();
    s.tick(1_000);
    const { state, effects } = s.fail('dns', 'Route 53 answered AccessDenied for ChangeResourceRecordSets');

    expect(state.status).toBe('failed');
    expect(s.step('dns')).toMatchObject({
      status: 'succeeded',
      undo: 'failed',
      error: 'Route 53 answered AccessDenied for ChangeResourceRecordSets',
      finishedAt: T0 + 1_000,
    });
    expect(effects).toEqual([
      {
        type: 'timeline',
        entry: {
          type: 'undo_failed',
          stepId: 'dns',
          detail: 'Route 53 answered AccessDenied for ChangeResourceRecordSets',
        },
      },
    ]);
    expect(s.statuses()).toEqual({ maintenance: 'succeeded', flag: 'succeeded', dns: 'succeeded' });
  });

  it('gives up on an undo after MAX_ATTEMPTS transient failures', () => {
    const s = failingUndo();
    for (let i = 1; i < MAX_ATTEMPTS; i++) expect(executed(s.flake('dns').effects)).toEqual(['dns:undo']);
    const { state, effects } = s.flake('dns');

    expect(state.status).toBe('failed');
    expect(s.step('dns')).toMatchObject({ undo: 'failed', attempt: MAX_ATTEMPTS });
    expect(executes(effects)).toEqual([]);
  });

  it('Retry runs the failed undo again as a new attempt', () => {
    const s = failingUndo();
    s.fail('dns', 'AccessDenied');
    s.tick(60_000);
    const { state, effects } = s.retry('dns', bob);

    expect(state.status).toBe('rolling_back');
    expect(s.step('dns')).toMatchObject({ undo: 'running', direction: 'undo', attempt: 2, error: null });
    expect(effects).toEqual([
      { type: 'timeline', entry: { type: 'step_retried', stepId: 'dns', actor: bob.user, detail: 'undo' } },
      execute('dns', 2, 'undo', T0 + 60_000),
      { type: 'timeline', entry: { type: 'undo_started', stepId: 'dns' } },
    ]);
    expect(finishUndos(s)).toEqual(['dns', 'flag', 'maintenance']);
    expect(s.state.status).toBe('rolled_back');
  });

  it('ignores a replayed outcome of the failed undo attempt after Retry', () => {
    const s = failingUndo();
    s.fail('dns', 'AccessDenied');
    s.retry('dns');
    const before = structuredClone(s.state);
    const { state, effects } = s.send({
      type: 'step_failed',
      stepId: 'dns',
      attempt: 1,
      direction: 'undo',
      error: 'AccessDenied',
      retryable: false,
    });

    expect(effects).toEqual([]);
    expect(state).toEqual(before);
  });

  it('Skip gives up on the failed undo, continues the rollback, and never undoes that step again', () => {
    const s = failingUndo();
    s.fail('dns', 'AccessDenied');
    const { state, effects } = s.skip('dns', alice);

    expect(state.status).toBe('rolling_back');
    expect(s.step('dns')).toMatchObject({
      status: 'skipped',
      undo: null,
      error: 'Undo skipped: its change may still be in place',
      actedBy: alice.user,
    });
    expect(timelineTypes(effects)).toEqual(['undo_skipped:dns', 'undo_started:flag']);
    expect(executed(effects)).toEqual(['flag:undo']);

    expect(finishUndos(s)).toEqual(['flag', 'maintenance']);
    expect(s.state.status).toBe('rolled_back');
    expect(s.statuses()).toEqual({ maintenance: 'rolled_back', flag: 'rolled_back', dns: 'skipped' });
    const undos = executed(s.log.flatMap((d) => d.effects)).filter((e) => e === 'dns:undo');
    expect(undos).toEqual(['dns:undo']);
  });

  it('ends the rollback when the skipped undo was the last one', () => {
    const s = Scenario.of({ steps: ['check', 'maintenance'] });
    runUntil(s, null);
    s.rollback();
    s.fail('maintenance');
    const { state, effects } = s.skip('maintenance');

    expect(state.status).toBe('rolled_back');
    expect(timelineTypes(effects)).toEqual([
      'undo_skipped:maintenance',
      'undo_succeeded:check',
      'run_rolled_back',
    ]);
  });

  it('refuses Roll back while a failed undo waits for Retry or Skip', () => {
    const s = failingUndo();
    s.fail('dns');
    const before = s.state;

    expectRefused(s.rollback(), before, alice.user, /already rolling back: Retry or Skip the failed undo/);
  });

  it.each(['retry', 'skip'] as const)(
    'refuses %s of another failed step while a failed undo waits, so the run cannot go forward again',
    (action) => {
      const s = cutover();
      runUntil(s, 'dns');
      s.reject('dns', bob);
      s.rollback();
      s.succeed('crons');
      s.succeed('flag');
      s.fail('maintenance', 'Heroku answered 503');
      expect(s.state.status).toBe('failed');
      const before = s.state;

      expectRefused(s[action]('dns'), before, alice.user, /r12 is rolling back: .*maintenance/);
    },
  );

  it('lets an abort cancel a running undo; its outcome is recorded but the rollback goes no further', () => {
    const s = failingUndo();
    const aborted = s.abort(bob);

    expect(aborted.state.status).toBe('aborted');
    expect(aborted.effects).toContainEqual({ type: 'cancel', stepId: 'dns' });
    const { state, effects } = s.succeed('dns', 'restored before the cancel');

    expect(state.status).toBe('aborted');
    expect(s.step('dns').status).toBe('rolled_back');
    expect(executes(effects)).toEqual([]);
    expect(timelineTypes(effects)).toEqual(['undo_succeeded:dns']);
  });

  it('lets an abort end a rollback stopped on a failed undo', () => {
    const s = failingUndo();
    s.fail('dns');
    const { state, effects } = s.abort();

    expect(state.status).toBe('aborted');
    expect(effects.some((e) => e.type === 'cancel')).toBe(false);
  });

  it('records a transient undo failure after abort without retrying it', () => {
    const s = failingUndo();
    s.abort();
    const { state, effects } = s.flake('dns');

    expect(state.status).toBe('aborted');
    expect(s.step('dns').undo).toBe('failed');
    expect(executes(effects)).toEqual([]);
  });
});
