import { describe, expect, it } from 'vitest';
import { decide, MAX_ATTEMPTS, retryDelayMs } from '../../src/engine/decide.ts';
import type { RunEvent, RunState } from '../../src/engine/types.ts';
import {
  alice,
  bob,
  decideFrozen,
  deepFreeze,
  execute,
  executed,
  executes,
  expectRefused,
  makeRun,
  mallory,
  runUntil,
  Scenario,
  T0,
  timeline,
  timelineTypes,
} from '../support/engine-fixtures.ts';

describe('start', () => {
  it('runs the first step at once when it needs no approval', () => {
    const s = Scenario.of({ steps: ['maintenance', 'dns'] });
    const { state, effects } = s.start();

    expect(state.status).toBe('running');
    expect(s.statuses()).toEqual({ maintenance: 'running', dns: 'pending' });
    expect(s.step('maintenance')).toMatchObject({ attempt: 1, direction: 'do', startedAt: T0 });
    expect(effects).toEqual([
      { type: 'timeline', entry: { type: 'run_started', actor: alice.user } },
      execute('maintenance', 1, 'do', T0),
      { type: 'timeline', entry: { type: 'step_started', stepId: 'maintenance' } },
    ]);
  });

  it('asks for approval before a first step that needs it, and runs nothing', () => {
    const s = Scenario.of({ steps: [{ kind: 'dns', approval: true }, 'check'] });
    const { state, effects } = s.start();

    expect(state.status).toBe('waiting');
    expect(s.step('dns')).toMatchObject({ status: 'awaiting_approval', approvalRequestedAt: T0, attempt: 0 });
    expect(executes(effects)).toEqual([]);
    expect(effects).toContainEqual({ type: 'request_approval', stepId: 'dns' });
    expect(timelineTypes(effects)).toEqual(['run_started', 'approval_requested:dns']);
  });

  it('waits for a person when the first step is manual, without executing anything', () => {
    const s = Scenario.of({ steps: ['manual', 'flag'] });
    const { state, effects } = s.start();

    expect(state.status).toBe('waiting');
    expect(s.step('manual')).toMatchObject({ status: 'running', waitingForPerson: true, attempt: 0 });
    expect(executes(effects)).toEqual([]);
    expect(timelineTypes(effects)).toEqual(['run_started', 'waiting_for_person:manual']);
  });

  it('refuses a second start and changes nothing', () => {
    const s = Scenario.of({ steps: ['flag', 'dns'] });
    s.start();
    const before = s.state;
    const decision = s.start();

    expectRefused(decision, before, alice.user, /r12 has already started/);
    expect(decision.state).toBe(before);
  });

  it('refuses to start a run that was aborted before its first step', () => {
    const s = Scenario.of({ steps: ['flag'] });
    s.abort();
    const before = s.state;

    expectRefused(s.start(), before, alice.user, /already started/);
  });
});

describe('forward progress', () => {
  it('runs the next step when a step succeeds, recording its summary and figures', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag'] });
    s.start();
    s.tick(3_000);
    const { state, effects } = s.succeed('maintenance', 'Heroku billing-production maintenance on', {
      ms: 812,
    });

    expect(state.status).toBe('running');
    expect(s.step('maintenance')).toMatchObject({
      status: 'succeeded',
      summary: 'Heroku billing-production maintenance on',
      finishedAt: T0 + 3_000,
    });
    expect(effects).toEqual([
      {
        type: 'timeline',
        entry: {
          type: 'step_succeeded',
          stepId: 'maintenance',
          detail: 'Heroku billing-production maintenance on',
          figures: { ms: 812 },
        },
      },
      execute('flag', 1, 'do', T0 + 3_000),
      { type: 'timeline', entry: { type: 'step_started', stepId: 'flag' } },
    ]);
  });

  it('asks for approval when the next step needs it', () => {
    const s = Scenario.of({ steps: ['maintenance', { kind: 'dns', approval: true }] });
    s.start();
    const { state, effects } = s.succeed('maintenance');

    expect(state.status).toBe('waiting');
    expect(s.statuses()).toEqual({ maintenance: 'succeeded', dns: 'awaiting_approval' });
    expect(executes(effects)).toEqual([]);
    expect(effects).toContainEqual({ type: 'request_approval', stepId: 'dns' });
  });

  it('succeeds the run after its last step, with a run_succeeded timeline entry', () => {
    const s = Scenario.of({ steps: ['maintenance', 'check'] });
    s.start();
    s.succeed('maintenance');
    s.tick(60_000);
    const { state, effects } = s.succeed('check', 'p95 41 ms');

    expect(state.status).toBe('succeeded');
    expect(state.finishedAt).toBe(T0 + 60_000);
    expect(timelineTypes(effects)).toEqual(['step_succeeded:check', 'run_succeeded']);
    expect(executes(effects)).toEqual([]);
  });

  it('runs a whole cutover plan: approvals, a manual step and every step once, in plan order', () => {
    const s = Scenario.of({
      steps: [
        { id: 'maintenance-on', kind: 'maintenance' },
        { id: 'pause-webhooks', kind: 'flag' },
        { id: 'disable-crons', kind: 'crons' },
        { id: 'pause-workers', kind: 'jobs' },
        { id: 'smoke', kind: 'check' },
        { id: 'cutover', kind: 'dns', approval: true },
        { id: 'drain-old-queues', kind: 'drain' },
        { id: 'watch-dashboards', kind: 'manual' },
        { id: 'env', kind: 'env-diff' },
      ],
    });
    runUntil(s, null);

    expect(s.state.status).toBe('succeeded');
    expect(Object.values(s.statuses())).toEqual(Array(9).fill('succeeded'));
    const all = s.log.flatMap((d) => d.effects);
    expect(executed(all)).toEqual([
      'maintenance-on:do',
      'pause-webhooks:do',
      'disable-crons:do',
      'pause-workers:do',
      'smoke:do',
      'cutover:do',
      'drain-old-queues:do',
      'env:do',
    ]);
    expect(timelineTypes(all).filter((t) => t.startsWith('run_'))).toEqual(['run_started', 'run_succeeded']);
    expect(all.filter((e) => e.type === 'refuse')).toEqual([]);
  });
});

describe('failures and automatic retries', () => {
  it('fails the run with the error when a step fails permanently', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag'] });
    s.start();
    s.tick(1_000);
    const { state, effects } = s.fail('maintenance', 'Heroku answered 403: token lacks the write scope');

    expect(state.status).toBe('failed');
    expect(s.step('maintenance')).toMatchObject({
      status: 'failed',
      error: 'Heroku answered 403: token lacks the write scope',
      finishedAt: T0 + 1_000,
    });
    expect(s.step('flag').status).toBe('pending');
    expect(effects).toEqual([
      {
        type: 'timeline',
        entry: {
          type: 'step_failed',
          stepId: 'maintenance',
          detail: 'Heroku answered 403: token lacks the write scope',
        },
      },
    ]);
  });

  it('retries a transient failure as a new attempt after 2 s, 4 s, 8 s, 16 s, then fails the run', () => {
    expect(MAX_ATTEMPTS).toBe(5);
    const s = Scenario.of({ steps: ['dns', 'check'] });
    s.start();

    const retries: Array<{ attempt: number; notBefore: number; detail: string | undefined }> = [];
    for (let i = 1; i < MAX_ATTEMPTS; i++) {
      s.tick(1_000);
      const { state, effects } = s.flake('dns', 'Route 53 throttled the request');
      expect(state.status).toBe('running');
      expect(s.step('dns').status).toBe('running');
      const [retry] = executes(effects);
      retries.push({
        attempt: retry!.attempt,
        notBefore: retry!.notBefore - s.now,
        detail: timeline(effects)[0]?.detail,
      });
    }
    expect(retries).toEqual([
      { attempt: 2, notBefore: 2_000, detail: 'Route 53 throttled the request (attempt 2 of 5 in 2 s)' },
      { attempt: 3, notBefore: 4_000, detail: 'Route 53 throttled the request (attempt 3 of 5 in 4 s)' },
      { attempt: 4, notBefore: 8_000, detail: 'Route 53 throttled the request (attempt 4 of 5 in 8 s)' },
      { attempt: 5, notBefore: 16_000, detail: 'Route 53 throttled the request (attempt 5 of 5 in 16 s)' },
    ]);

    const last = s.flake('dns', 'Route 53 throttled the request');
    expect(last.state.status).toBe('failed');
    expect(s.step('dns')).toMatchObject({
      status: 'failed',
      attempt: MAX_ATTEMPTS,
      error: 'Route 53 throttled the request',
    });
    expect(executes(last.effects)).toEqual([]);
    expect(timelineTypes(last.effects)).toEqual(['step_failed:dns']);
  });

  it('caps the backoff at 60 s', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(retryDelayMs)).toEqual([
      2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000,
    ]);
  });

  it('goes on with the next step when a retried attempt succeeds', () => {
    const s = Scenario.of({ steps: ['dns', 'check'] });
    s.start();
    s.flake('dns');
    const { state, effects } = s.succeed('dns');

    expect(state.status).toBe('running');
    expect(s.step('dns')).toMatchObject({ status: 'succeeded', attempt: 2 });
    expect(executed(effects)).toEqual(['check:do']);
  });
});

describe('stale and unknown outcomes change nothing', () => {
  const staleCases: Array<[string, (s: Scenario) => RunEvent]> = [
    [
      'an earlier attempt, after a retry was scheduled',
      (s) => {
        s.flake('dns');
        return { type: 'step_succeeded', stepId: 'dns', attempt: 1, direction: 'do', summary: 'late' };
      },
    ],
    [
      'a later attempt than the current one',
      () => ({
        type: 'step_failed',
        stepId: 'dns',
        attempt: 2,
        direction: 'do',
        error: 'x',
        retryable: false,
      }),
    ],
    [
      'the undo direction of a step that runs forward',
      () => ({ type: 'step_succeeded', stepId: 'dns', attempt: 1, direction: 'undo', summary: 'restored' }),
    ],
    [
      'a step that is not in the run',
      () => ({ type: 'step_succeeded', stepId: 'nope', attempt: 1, direction: 'do', summary: 'x' }),
    ],
    [
      'a step that has not started',
      () => ({ type: 'step_succeeded', stepId: 'check', attempt: 0, direction: 'do', summary: 'x' }),
    ],
    [
      'a duplicate delivery of an outcome already recorded',
      (s) => {
        s.succeed('dns', 'first');
        return { type: 'step_succeeded', stepId: 'dns', attempt: 1, direction: 'do', summary: 'again' };
      },
    ],
    [
      'a failure of an attempt that already succeeded',
      (s) => {
        s.succeed('dns');
        return {
          type: 'step_failed',
          stepId: 'dns',
          attempt: 1,
          direction: 'do',
          error: 'late',
          retryable: true,
        };
      },
    ],
  ];

  it.each(staleCases)('ignores an outcome for %s', (_name, arrange) => {
    const s = Scenario.of({ steps: ['dns', 'check'] });
    s.start();
    const event = arrange(s);
    const before = structuredClone(s.state);
    const { state, effects } = s.send(event);

    expect(effects).toEqual([]);
    expect(state).toEqual(before);
  });

  it('ignores an outcome for a manual step, which has no attempt to report on', () => {
    const s = Scenario.of({ steps: ['manual', 'flag'] });
    s.start();
    const before = structuredClone(s.state);
    const { state, effects } = s.send({
      type: 'step_succeeded',
      stepId: 'manual',
      attempt: 0,
      direction: 'do',
      summary: 'not pressed by anyone',
    });

    expect(effects).toEqual([]);
    expect(state).toEqual(before);
    expect(s.step('manual').waitingForPerson).toBe(true);
  });
});

describe('Retry and Skip of a failed step', () => {
  it('retries a failed step as a new attempt, at once', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag'] });
    s.start();
    s.fail('maintenance', 'Heroku answered 503');
    s.tick(120_000);
    const { state, effects } = s.retry('maintenance', alice);

    expect(state.status).toBe('running');
    expect(s.step('maintenance')).toMatchObject({
      status: 'running',
      attempt: 2,
      error: null,
      finishedAt: null,
    });
    expect(effects).toEqual([
      { type: 'timeline', entry: { type: 'step_retried', stepId: 'maintenance', actor: alice.user } },
      execute('maintenance', 2, 'do', T0 + 120_000),
      { type: 'timeline', entry: { type: 'step_started', stepId: 'maintenance' } },
    ]);
  });

  it('ignores the failed attempt’s late outcome after Retry started a new one', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag'] });
    s.start();
    s.fail('maintenance');
    s.retry('maintenance');
    const before = structuredClone(s.state);
    const { state, effects } = s.send({
      type: 'step_succeeded',
      stepId: 'maintenance',
      attempt: 1,
      direction: 'do',
      summary: 'late',
    });

    expect(effects).toEqual([]);
    expect(state).toEqual(before);
  });

  it('retries an approved step that failed without asking for approval again', () => {
    const s = Scenario.of({ steps: [{ kind: 'dns', approval: true }] });
    s.start();
    s.approve('dns', bob);
    s.fail('dns');
    const { effects } = s.retry('dns');

    expect(executes(effects)).toEqual([execute('dns', 2, 'do', T0)]);
    expect(effects.some((e) => e.type === 'request_approval')).toBe(false);
  });

  it('asks for approval again when a rejected step is retried', () => {
    const s = Scenario.of({ steps: ['flag', { kind: 'dns', approval: true }] });
    runUntil(s, 'dns');
    s.reject('dns', bob, 'not during the sale');
    s.tick(5_000);
    const { state, effects } = s.retry('dns', alice);

    expect(state.status).toBe('waiting');
    expect(s.step('dns')).toMatchObject({
      status: 'awaiting_approval',
      approval: null,
      error: null,
      approvalRequestedAt: T0 + 5_000,
      attempt: 0,
    });
    expect(executes(effects)).toEqual([]);
    expect(effects).toContainEqual({ type: 'request_approval', stepId: 'dns' });
    expect(timelineTypes(effects)).toEqual(['step_retried:dns', 'approval_requested:dns']);
  });

  it('skips a failed step and runs the next one', () => {
    const s = Scenario.of({ steps: ['check', 'flag'] });
    s.start();
    s.fail('check', 'p95 412 ms is over the 50 ms bound');
    s.tick(1_000);
    const { state, effects } = s.skip('check', alice);

    expect(state.status).toBe('running');
    expect(s.step('check')).toMatchObject({ status: 'skipped', finishedAt: T0 + 1_000 });
    expect(timelineTypes(effects)).toEqual(['step_skipped:check', 'step_started:flag']);
    expect(timeline(effects)[0]!.actor).toBe(alice.user);
    expect(executed(effects)).toEqual(['flag:do']);
  });

  it('succeeds the run when the skipped step was the last one', () => {
    const s = Scenario.of({ steps: ['flag', 'check'] });
    runUntil(s, 'check');
    s.fail('check');
    const { state, effects } = s.skip('check');

    expect(state.status).toBe('succeeded');
    expect(timelineTypes(effects)).toEqual(['step_skipped:check', 'run_succeeded']);
  });

  it('asks for approval when the step after a skipped one needs it', () => {
    const s = Scenario.of({ steps: ['check', { kind: 'dns', approval: true }] });
    s.start();
    s.fail('check');
    const { state, effects } = s.skip('check');

    expect(state.status).toBe('waiting');
    expect(effects).toContainEqual({ type: 'request_approval', stepId: 'dns' });
  });

  it.each(['retry', 'skip'] as const)('refuses %s while the run has not failed', (action) => {
    const s = Scenario.of({ steps: ['flag', 'dns'] });
    s.start();
    const before = s.state;

    expectRefused(s[action]('flag'), before, alice.user, new RegExp(`no failed step flag to ${action}`));
  });

  it.each(['retry', 'skip'] as const)('refuses %s of a step that did not fail', (action) => {
    const s = Scenario.of({ steps: ['flag', 'dns'] });
    runUntil(s, 'dns');
    s.fail('dns');
    const before = s.state;

    expectRefused(s[action]('flag'), before, alice.user, /flag has not failed/);
  });

  it('refuses Retry of a step the run does not have', () => {
    const s = Scenario.of({ steps: ['flag'] });
    s.start();
    s.fail('flag');
    const before = s.state;

    expectRefused(s.retry('nope'), before, alice.user, /no failed step nope/);
  });

  it('gives a step a fresh set of automatic retries when a person presses Retry', () => {
    const s = Scenario.of({ steps: ['dns'] });
    s.start();
    for (let i = 0; i < MAX_ATTEMPTS; i++) s.flake('dns');
    expect(s.state.status).toBe('failed');
    s.retry('dns');
    expect(s.step('dns')).toMatchObject({ attempt: MAX_ATTEMPTS + 1, retries: 0 });
    const { state, effects } = s.flake('dns');

    expect(state.status).toBe('running');
    expect(executes(effects)).toEqual([
      {
        type: 'execute',
        stepId: 'dns',
        attempt: MAX_ATTEMPTS + 2,
        direction: 'do',
        notBefore: expect.any(Number),
      },
    ]);
  });

  it('refuses a second Retry pressed for the same failure', () => {
    const s = Scenario.of({ steps: ['flag'] });
    s.start();
    s.fail('flag');
    s.retry('flag');
    const before = s.state;

    expectRefused(s.retry('flag'), before, alice.user, /no failed step flag/);
  });
});

describe('manual steps', () => {
  it('completes a manual step when someone presses Done, and goes on', () => {
    const s = Scenario.of({ steps: ['flag', 'manual', 'check'] });
    runUntil(s, 'manual');
    s.tick(300_000);
    const { state, effects } = s.done('manual', bob);

    expect(state.status).toBe('running');
    expect(s.step('manual')).toMatchObject({
      status: 'succeeded',
      waitingForPerson: false,
      summary: 'Done',
      actedBy: bob.user,
      finishedAt: T0 + 300_000,
    });
    expect(timeline(effects)[0]).toEqual({ type: 'step_done', stepId: 'manual', actor: bob.user });
    expect(executed(effects)).toEqual(['check:do']);
  });

  it('succeeds the run when the last step is a manual one and Done is pressed', () => {
    const s = Scenario.of({ steps: ['flag', 'manual'] });
    runUntil(s, 'manual');
    const { state, effects } = s.done('manual');

    expect(state.status).toBe('succeeded');
    expect(timelineTypes(effects)).toEqual(['step_done:manual', 'run_succeeded']);
  });

  it('waits for approval first when a manual step needs it, then waits for a person', () => {
    const s = Scenario.of({ steps: [{ kind: 'manual', approval: true }] });
    s.start();
    expect(s.step('manual').status).toBe('awaiting_approval');
    const { state, effects } = s.approve('manual', bob);

    expect(state.status).toBe('waiting');
    expect(s.step('manual')).toMatchObject({ status: 'running', waitingForPerson: true });
    expect(executes(effects)).toEqual([]);
  });

  it('refuses Done on a step that runs by itself', () => {
    const s = Scenario.of({ steps: ['flag', 'manual'] });
    s.start();
    const before = s.state;

    expectRefused(s.done('flag'), before, alice.user, /flag is not waiting for Done/);
  });

  it('refuses Done on a manual step that has not been reached yet', () => {
    const s = Scenario.of({ steps: ['flag', 'manual'] });
    s.start();
    const before = s.state;

    expectRefused(s.done('manual'), before, alice.user, /manual is not waiting for Done/);
  });

  it('refuses a second Done on the same manual step', () => {
    const s = Scenario.of({ steps: ['manual', 'flag'] });
    s.start();
    s.done('manual');
    const before = s.state;

    expectRefused(s.done('manual', bob), before, bob.user, /not waiting for Done/);
  });

  it('refuses Done on a step the run does not have', () => {
    const s = Scenario.of({ steps: ['manual'] });
    s.start();
    const before = s.state;

    expectRefused(s.done('nope'), before, alice.user, /nope is not waiting for Done/);
  });
});

describe('abort', () => {
  it('cancels the running attempt and ends the run', () => {
    const s = Scenario.of({ steps: ['maintenance', 'dns'] });
    s.start();
    s.tick(2_000);
    const { state, effects } = s.abort(bob);

    expect(state).toMatchObject({ status: 'aborted', finishedAt: T0 + 2_000 });
    expect(effects).toEqual([
      { type: 'cancel', stepId: 'maintenance' },
      { type: 'timeline', entry: { type: 'run_aborted', actor: bob.user } },
    ]);
  });

  it('cancels an attempt that waits for its backoff', () => {
    const s = Scenario.of({ steps: ['dns'] });
    s.start();
    s.flake('dns');
    const { effects } = s.abort();

    expect(effects).toContainEqual({ type: 'cancel', stepId: 'dns' });
  });

  it('closes an open approval request when the run is aborted', () => {
    const s = Scenario.of({ steps: ['flag', { kind: 'dns', approval: true }] });
    runUntil(s, 'dns');
    s.tick(10_000);
    const { state, effects } = s.abort(alice);

    expect(state.status).toBe('aborted');
    const cancelled = { decision: 'cancelled', by: alice.user, at: T0 + 10_000 };
    expect(effects).toContainEqual({ type: 'close_approval', stepId: 'dns', approval: cancelled });
    expect(s.step('dns')).toMatchObject({ status: 'pending', approval: cancelled });
    expect(effects.some((e) => e.type === 'cancel')).toBe(false);
  });

  it('stops waiting for a person without cancelling anything', () => {
    const s = Scenario.of({ steps: ['manual'] });
    s.start();
    const { state, effects } = s.abort();

    expect(state.status).toBe('aborted');
    expect(s.step('manual')).toMatchObject({ status: 'pending', waitingForPerson: false });
    expect(timelineTypes(effects)).toEqual(['run_aborted']);
  });

  it('refuses Approve and Done after the run was aborted', () => {
    const s = Scenario.of({ steps: [{ kind: 'dns', approval: true }, 'manual'] });
    s.start();
    s.abort();
    const before = s.state;

    expectRefused(
      s.approve('dns', bob),
      before,
      bob.user,
      /no longer waits for approval: it was cancelled by <@U01ALICE>/,
    );
    expectRefused(s.done('manual'), before, alice.user, /not waiting for Done/);
  });

  it('records an outcome that arrives after abort, without running anything else', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag'] });
    s.start();
    s.abort();
    const { state, effects } = s.succeed('maintenance', 'maintenance on (finished before the cancel landed)');

    expect(state.status).toBe('aborted');
    expect(s.statuses()).toEqual({ maintenance: 'succeeded', flag: 'pending' });
    expect(effects).toEqual([
      {
        type: 'timeline',
        entry: {
          type: 'step_succeeded',
          stepId: 'maintenance',
          detail: 'maintenance on (finished before the cancel landed)',
          figures: undefined,
        },
      },
    ]);
  });

  it('records a transient failure after abort without retrying it', () => {
    const s = Scenario.of({ steps: ['maintenance'] });
    s.start();
    s.abort();
    const { state, effects } = s.flake('maintenance', 'cancelled');

    expect(state.status).toBe('aborted');
    expect(s.step('maintenance')).toMatchObject({ status: 'failed', error: 'cancelled' });
    expect(timelineTypes(effects)).toEqual(['step_failed:maintenance']);
  });

  it('aborts a failed run', () => {
    const s = Scenario.of({ steps: ['flag'] });
    s.start();
    s.fail('flag');
    const { state, effects } = s.abort();

    expect(state.status).toBe('aborted');
    expect(timelineTypes(effects)).toEqual(['run_aborted']);
  });

  it.each([
    ['succeeded', (s: Scenario) => runUntil(s, null)],
    ['aborted', (s: Scenario) => s.abort()],
    [
      'rolled_back',
      (s: Scenario) => {
        runUntil(s, null);
        s.rollback();
        s.succeed('flag');
      },
    ],
  ])('refuses to abort a run that has %s', (status, arrange) => {
    const s = Scenario.of({ steps: ['flag'] });
    s.start();
    arrange(s);
    expect(s.state.status).toBe(status);
    const before = s.state;

    expectRefused(
      s.abort(bob),
      before,
      bob.user,
      new RegExp(`r12 has already ended \\(${status.replace('_', ' ')}\\)`),
    );
  });
});

describe('note', () => {
  it('adds a timeline entry and changes nothing else', () => {
    const s = Scenario.of({ steps: ['flag', { kind: 'dns', approval: true }] });
    runUntil(s, 'dns');
    const before = structuredClone(s.state);
    const { state, effects } = s.note('Support says checkout is slow in EU', bob);

    expect(state).toEqual(before);
    expect(effects).toEqual([
      {
        type: 'timeline',
        entry: { type: 'note', actor: bob.user, detail: 'Support says checkout is slow in EU' },
      },
    ]);
  });

  it('adds a note to a run that has ended', () => {
    const s = Scenario.of({ steps: ['flag'] });
    runUntil(s, null);
    const before = structuredClone(s.state);
    const { state, effects } = s.note('post-mortem on Thursday');

    expect(state).toEqual(before);
    expect(timelineTypes(effects)).toEqual(['note']);
  });
});

describe('purity', () => {
  it('the frozen-input helper would catch a mutation', () => {
    const run = deepFreeze(makeRun({ steps: ['flag'] }));
    expect(() => {
      run.steps[0]!.status = 'running';
    }).toThrow(TypeError);
    expect(() => {
      run.policy.starters.push('U0X');
    }).toThrow(TypeError);
  });

  it('never mutates the run or the event it is given, whatever the event', () => {
    // Every event type, accepted and refused, through frozen inputs compared to snapshots.
    const s = Scenario.of({
      steps: ['maintenance', { kind: 'dns', approval: true }, 'manual', 'check', 'flag'],
    });
    s.start();
    s.start();
    s.flake('maintenance');
    s.tick(2_000).succeed('maintenance');
    s.approve('dns', mallory);
    s.reject('dns', bob, 'wait');
    s.retry('dns');
    s.approve('dns', bob);
    s.approve('dns', bob);
    s.succeed('dns');
    s.done('dns');
    s.done('manual');
    s.fail('check');
    s.skip('check');
    s.note('looks fine');
    s.fail('flag');
    s.rollback();
    s.succeed('flag', 'restored');
    s.fail('dns', 'Route 53 answered InvalidChangeBatch');
    s.retry('dns');
    s.fail('dns');
    s.skip('dns');
    s.fail('maintenance', 'Heroku 503', true);
    s.abort();
    s.succeed('maintenance');

    const eventTypes: Array<RunEvent['type']> = [
      'start',
      'approve',
      'reject',
      'done',
      'retry',
      'skip',
      'rollback',
      'abort',
      'note',
      'step_succeeded',
      'step_failed',
    ];
    expect(new Set(s.events.map((e) => e.type))).toEqual(new Set(eventTypes));
    const refused = s.log.filter((d) => d.effects.some((e) => e.type === 'refuse'));
    expect(refused.length).toBeGreaterThanOrEqual(3);
    expect(s.state.status).toBe('aborted');
  });

  it('decides the same way every time for the same input', () => {
    const run = makeRun({ steps: ['flag', { kind: 'dns', approval: true }] });
    const started = decide(run, { type: 'start' }, T0).state;
    const event: RunEvent = {
      type: 'step_succeeded',
      stepId: 'flag',
      attempt: 1,
      direction: 'do',
      summary: 'ok',
    };

    expect(decide(started, event, T0 + 1)).toEqual(decide(started, event, T0 + 1));
  });

  it('returns a state that shares nothing with its input', () => {
    const run: RunState = makeRun({ steps: ['flag', 'dns'] });
    const { state } = decideFrozen(run, { type: 'start' }, T0);

    expect(state).not.toBe(run);
    expect(state.steps).not.toBe(run.steps);
    expect(state.policy).not.toBe(run.policy);
    state.steps[1]!.status = 'skipped';
    expect(run.steps[1]!.status).toBe('pending');
  });
});
