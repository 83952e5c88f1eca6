import { describe, expect, it } from 'vitest';
import { approvalRefusal, approverList, isApprover, operateRefusal } from '../../src/engine/policy.ts';
import { mrkdwn } from '../../src/slack/views/format.ts';
import type { Words } from '../../src/words.ts';
import type { Actor, Policy } from '../../src/engine/types.ts';
import {
  alice,
  bob,
  carol,
  execute,
  executed,
  executes,
  expectRefused,
  makeRun,
  mallory,
  refusals,
  runUntil,
  Scenario,
  T0,
  timeline,
  timelineTypes,
} from '../support/engine-fixtures.ts';

/** A run of `environment` waiting for approval of its `dns` step, after a flag step succeeded. */
function waitingForApproval(
  options: { environment?: string; policy?: Partial<Policy>; startedBy?: Actor } = {},
) {
  const s = Scenario.of({ steps: ['flag', { kind: 'dns', approval: true }, 'check'], ...options });
  runUntil(s, 'dns');
  expect(s.step('dns').status).toBe('awaiting_approval');
  return s;
}

const NOT_APPROVER =
  /You are not an approver for billing production\. Ask <@U02BOB> or <!subteam\^S0PLATFORM>\./;
const FOUR_EYES = /production needs four eyes: the person who started r12 cannot approve its steps/;

describe('who may approve', () => {
  it('runs the step when a named approver approves', () => {
    const s = waitingForApproval();
    s.tick(66_000);
    const { state, effects } = s.approve('dns', bob);

    // The approval records what it was of: the digest of the step as its request showed it.
    const approval = {
      decision: 'approved',
      by: bob.user,
      at: T0 + 66_000,
      digest: s.step('dns').content!.digest,
    };
    expect(state.status).toBe('running');
    expect(s.step('dns')).toMatchObject({ status: 'running', attempt: 1, approval });
    expect(effects).toEqual([
      { type: 'close_approval', stepId: 'dns', approval },
      { type: 'timeline', entry: { type: 'approved', stepId: 'dns', actor: bob.user } },
      execute('dns', 1, 'do', T0 + 66_000),
      { type: 'timeline', entry: { type: 'step_started', stepId: 'dns' } },
    ]);
  });

  it('accepts an approval from a member of an approver user group', () => {
    const s = waitingForApproval();
    const { effects } = s.approve('dns', carol);

    expect(s.step('dns').approval).toMatchObject({ decision: 'approved', by: carol.user });
    expect(executed(effects)).toEqual(['dns:do']);
  });

  it('refuses an approval from someone who is not an approver, records the attempt, and changes nothing', () => {
    const s = waitingForApproval();
    const before = s.state;
    const decision = s.approve('dns', mallory);

    expectRefused(decision, before, mallory.user, NOT_APPROVER, ['refused']);
    expect(decision.state).toBe(before);
    const [entry] = timeline(decision.effects);
    expect(entry).toMatchObject({ type: 'refused', stepId: 'dns', actor: mallory.user });
    expect(entry!.detail).toBe('approve: not an approver');
  });

  it('refuses a rejection from someone who is not an approver, and records it', () => {
    const s = waitingForApproval();
    const before = s.state;
    const decision = s.reject('dns', mallory, 'I do not like it');

    expectRefused(decision, before, mallory.user, NOT_APPROVER, ['refused']);
    expect(timeline(decision.effects)[0]!.detail).toBe('reject: not an approver');
  });

  it('refuses an approval from the person who started a production run, even when they are an approver', () => {
    const s = waitingForApproval({ policy: { approverUsers: [alice.user, bob.user] } });
    const before = s.state;
    const decision = s.approve('dns', alice);

    expectRefused(decision, before, alice.user, FOUR_EYES, ['refused']);
    expect(refusals(decision.effects)[0]).toMatchObject({
      message: expect.stringMatching(/Ask <@U02BOB> or <!subteam\^S0PLATFORM>\.$/),
    });
  });

  it('refuses a production approval from the starter who is in an approver user group', () => {
    const starter = { user: 'U04DAVE', groups: ['S0PLATFORM'] };
    const s = waitingForApproval({ startedBy: starter });
    const before = s.state;

    expectRefused(s.approve('dns', starter), before, starter.user, FOUR_EYES, ['refused']);
  });

  it('refuses a rejection from the person who started a production run', () => {
    const s = waitingForApproval({ policy: { approverUsers: [alice.user, bob.user] } });
    const before = s.state;

    expectRefused(s.reject('dns', alice), before, alice.user, FOUR_EYES, ['refused']);
  });

  it('lets the person who started the run approve it where four eyes is off', () => {
    const s = waitingForApproval({ environment: 'staging', policy: { approverUsers: [alice.user] } });
    const { effects } = s.approve('dns', alice);

    expect(s.step('dns').approval).toMatchObject({ decision: 'approved', by: alice.user });
    expect(executed(effects)).toEqual(['dns:do']);
  });

  it('lets anyone but the starter approve a four-eyes run when the plan names no approvers', () => {
    const policy = { approverUsers: [], approverGroups: [] };
    const starter = waitingForApproval({ policy });
    const before = starter.state;
    expectRefused(starter.approve('dns', alice), before, alice.user, FOUR_EYES, ['refused']);
    expect(refusals(starter.last.effects)[0]).toMatchObject({
      message: expect.stringMatching(/Ask someone else in the channel\.$/),
    });

    const other = waitingForApproval({ policy });
    expect(executed(other.approve('dns', mallory).effects)).toEqual(['dns:do']);
  });

  it('lets anyone, the starter included, approve when there are no approvers and no four eyes', () => {
    const s = waitingForApproval({ policy: { approverUsers: [], approverGroups: [], fourEyes: false } });

    expect(executed(s.approve('dns', alice).effects)).toEqual(['dns:do']);
  });

  it('refuses a second approval and runs the step only once', () => {
    const s = waitingForApproval();
    s.approve('dns', bob);
    const before = s.state;
    const second = s.approve('dns', carol);

    expectRefused(
      second,
      before,
      carol.user,
      /dns no longer waits for approval: it was approved by <@U02BOB>\./,
    );
    expect(executes(second.effects)).toEqual([]);
    expect(second.effects.some((e) => e.type === 'close_approval')).toBe(false);
    expect(executed(s.log.flatMap((d) => d.effects)).filter((e) => e === 'dns:do')).toHaveLength(1);
  });

  it('refuses a second approval from the same approver (a double click)', () => {
    const s = waitingForApproval();
    s.approve('dns', bob);
    const before = s.state;

    expectRefused(s.approve('dns', bob), before, bob.user, /it was approved by <@U02BOB>/);
  });

  it('refuses an approval for a step that has not asked for one yet', () => {
    const s = Scenario.of({ steps: ['flag', { kind: 'dns', approval: true }] });
    s.start();
    const before = s.state;

    expectRefused(
      s.approve('dns', bob),
      before,
      bob.user,
      /dns no longer waits for approval: it is pending\./,
    );
  });

  it('refuses an approval for a step the run does not have', () => {
    const s = waitingForApproval();
    const before = s.state;

    expectRefused(s.approve('nope', bob), before, bob.user, /r12 has no step nope/);
  });

  it('asks the approvers only, and again after a rejected step is retried', () => {
    const s = waitingForApproval();
    s.reject('dns', bob);
    const { effects } = s.retry('dns');
    expect(effects).toContainEqual({ type: 'request_approval', stepId: 'dns' });

    expectRefused(s.approve('dns', mallory), s.state, mallory.user, NOT_APPROVER, ['refused']);
    expect(executed(s.approve('dns', carol).effects)).toEqual(['dns:do']);
  });
});

describe('rejection', () => {
  it('fails the run, naming who rejected and why', () => {
    const s = waitingForApproval();
    s.tick(5_000);
    const { state, effects } = s.reject('dns', bob, 'not during the Black Friday sale');

    const approval = {
      decision: 'rejected',
      by: bob.user,
      at: T0 + 5_000,
      reason: 'not during the Black Friday sale',
    };
    expect(state.status).toBe('failed');
    expect(s.step('dns')).toMatchObject({
      status: 'failed',
      approval,
      actedBy: bob.user,
      attempt: 0,
      error: 'Rejected: not during the Black Friday sale',
      finishedAt: T0 + 5_000,
    });
    expect(effects).toEqual([
      { type: 'close_approval', stepId: 'dns', approval },
      {
        type: 'timeline',
        entry: {
          type: 'rejected',
          stepId: 'dns',
          actor: bob.user,
          detail: 'not during the Black Friday sale',
        },
      },
    ]);
  });

  it('names who rejected when no reason is given', () => {
    const s = waitingForApproval();
    s.reject('dns', carol);

    expect(s.step('dns')).toMatchObject({
      error: 'Rejected',
      actedBy: carol.user,
      approval: { decision: 'rejected', by: carol.user },
    });
    expect(s.step('dns').approval).not.toHaveProperty('reason');
  });

  it('refuses an approval that arrives after a rejection', () => {
    const s = waitingForApproval();
    s.reject('dns', bob);
    const before = s.state;

    expectRefused(s.approve('dns', carol), before, carol.user, /it was rejected by <@U02BOB>/);
  });
});

describe('who may operate a run (Retry, Skip, Roll back, Abort, Done)', () => {
  type Operation = 'retry' | 'skip' | 'rollback' | 'abort' | 'done';

  /** A run in which `operation` would be accepted from someone allowed to press it. */
  function ready(operation: Operation, policy?: Partial<Policy>): Scenario {
    const s = Scenario.of({ steps: ['maintenance', 'manual', 'check'], ...(policy ? { policy } : {}) });
    s.start();
    if (operation === 'done') {
      s.succeed('maintenance');
    } else if (operation === 'retry' || operation === 'skip') {
      s.fail('maintenance', 'Heroku answered 503');
    }
    return s;
  }

  const press = (s: Scenario, operation: Operation, actor: Actor) => {
    switch (operation) {
      case 'retry':
        return s.retry('maintenance', actor);
      case 'skip':
        return s.skip('maintenance', actor);
      case 'rollback':
        return s.rollback(actor);
      case 'abort':
        return s.abort(actor);
      case 'done':
        return s.done('manual', actor);
    }
  };

  const operations: Operation[] = ['retry', 'skip', 'rollback', 'abort', 'done'];

  it.each(operations)(
    'refuses %s from Mallory when the plan names starters, and changes nothing',
    (operation) => {
      const s = ready(operation);
      const before = s.state;

      expectRefused(
        press(s, operation, mallory),
        before,
        mallory.user,
        /Only the people who may start or approve billing runs can change r12\./,
      );
    },
  );

  it.each(operations)('accepts %s from the person who started the run', (operation) => {
    const s = ready(operation);
    const { effects } = press(s, operation, alice);

    expect(effects.filter((e) => e.type === 'refuse')).toEqual([]);
    expect(s.state).not.toEqual(ready(operation).state);
  });

  it.each([
    ['a named approver', bob],
    ['a member of an approver group', carol],
  ])('lets %s operate the run', (_who, actor) => {
    const s = ready('abort');
    const { state, effects } = s.abort(actor);

    expect(state.status).toBe('aborted');
    expect(timelineTypes(effects)).toEqual(['run_aborted']);
  });

  it('lets the person who started the run operate it after they left the starters list', () => {
    const s = ready('retry', { starters: ['U05ERIN'] });

    expect(s.retry('maintenance', alice).state.status).toBe('running');
  });

  it('lets anyone in the channel operate the run when the plan names no starters', () => {
    const s = ready('rollback', { starters: [] });

    expect(s.rollback(mallory).state.status).toBe('rolling_back');
  });

  it('refuses someone who is not a starter when the plan names no approvers', () => {
    const s = ready('abort', { approverUsers: [], approverGroups: [] });
    const before = s.state;

    expectRefused(s.abort(mallory), before, mallory.user, /Only the people who may start or approve/);
  });

  it('lets anyone add a note', () => {
    const s = ready('abort');

    expect(s.note('watching from support', mallory).effects).toEqual([
      { type: 'timeline', entry: { type: 'note', actor: mallory.user, detail: 'watching from support' } },
    ]);
  });
});

describe('policy functions', () => {
  const run = (policy: Partial<Policy> = {}, environment = 'production') =>
    makeRun({ steps: ['flag'], policy, environment });

  it('isApprover: named users and members of named groups; anyone when none are named', () => {
    expect(isApprover(run(), bob)).toBe(true);
    expect(isApprover(run(), carol)).toBe(true);
    expect(isApprover(run(), mallory)).toBe(false);
    expect(isApprover(run(), alice)).toBe(false);
    expect(isApprover(run({ approverUsers: [], approverGroups: [] }), mallory)).toBe(true);
    expect(isApprover(run({ approverUsers: [] }), bob)).toBe(false);
    expect(isApprover(run({ approverGroups: [] }), carol)).toBe(false);
  });

  it('approvalRefusal: null for an approver, a reason for anyone else', () => {
    expect(render(approvalRefusal(run(), bob))).toBeNull();
    expect(render(approvalRefusal(run(), carol))).toBeNull();
    expect(render(approvalRefusal(run(), mallory))).toBe(
      'You are not an approver for billing production. Ask <@U02BOB> or <!subteam^S0PLATFORM>.',
    );
    expect(render(approvalRefusal(run({ approverUsers: [alice.user, bob.user] }), alice))).toBe(
      'production needs four eyes: the person who started r12 cannot approve its steps. ' +
        'Ask <@U02BOB> or <!subteam^S0PLATFORM>.',
    );
    expect(render(approvalRefusal(run({ approverUsers: [alice.user] }, 'staging'), alice))).toBeNull();
  });

  it('operateRefusal: starters, the run’s starter and approvers may operate; no starters means anyone', () => {
    expect(render(operateRefusal(run(), alice))).toBeNull();
    expect(render(operateRefusal(run(), bob))).toBeNull();
    expect(render(operateRefusal(run(), carol))).toBeNull();
    expect(render(operateRefusal(run(), mallory))).toMatch(/Only the people/);
    expect(render(operateRefusal(run({ starters: [] }), mallory))).toBeNull();
    expect(render(operateRefusal(run({ approverUsers: [], approverGroups: [] }), mallory))).toMatch(
      /Only the people/,
    );
  });

  it('approverList: names users and groups the way Slack renders them', () => {
    expect(render(approverList(run({ approverGroups: [] })))).toBe('<@U02BOB>');
    expect(render(approverList(run()))).toBe('<@U02BOB> or <!subteam^S0PLATFORM>');
    expect(render(approverList(run({ approverUsers: [bob.user, 'U06FRANK'] })))).toBe(
      '<@U02BOB>, <@U06FRANK> or <!subteam^S0PLATFORM>',
    );
  });

  it('approverList: leaves out the starter where four eyes applies', () => {
    expect(render(approverList(run({ approverUsers: [alice.user, bob.user] })))).toBe(
      '<@U02BOB> or <!subteam^S0PLATFORM>',
    );
    expect(render(approverList(run({ approverUsers: [alice.user, bob.user] }, 'staging')))).toBe(
      '<@U01ALICE>, <@U02BOB> or <!subteam^S0PLATFORM>',
    );
  });

  it('approverList: anyone, or anyone else, when the plan names no approvers', () => {
    expect(render(approverList(run({ approverUsers: [], approverGroups: [] }, 'staging')))).toBe(
      'anyone in the channel',
    );
    expect(render(approverList(run({ approverUsers: [], approverGroups: [] })))).toBe(
      'someone else in the channel',
    );
  });

  it('approverList: does not send people to the channel when the starter is the only approver', () => {
    // Anyone else in the channel would be refused as "not an approver": the plan needs another one.
    const list = render(approverList(run({ approverUsers: [alice.user], approverGroups: [] })));

    expect(list).toBe(
      'another approver: the plan names only <@U01ALICE>, who started r12; add one to its approvers',
    );
  });
});

/** A rule's words as Slack shows them; null stays null. */
function render(words: Words | null): string | null {
  return words === null ? null : mrkdwn(words);
}
