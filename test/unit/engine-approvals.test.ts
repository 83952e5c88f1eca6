import { describe, expect, it } from 'vitest';
import { shownFor } from '../../src/engine/policy.ts';
import { stepContent } from '../../src/plan/content.ts';
import type { StepSpec } from '../../src/plan/schema.ts';
import {
  alice,
  bob,
  carol,
  contentEnv,
  executed,
  expectRefused,
  refusals,
  runUntil,
  Scenario,
  stepSpec,
  timeline,
  timelineTypes,
} from '../support/engine-fixtures.ts';

// Approvals that bind: to the request they were shown for, to what the step will do, to a time, and
// to as many people as the plan asks for.

function waitingForCutover(
  options: { approvals?: number; environment?: string; approverUsers?: string[] } = {},
) {
  const s = Scenario.of({
    steps: ['flag', { kind: 'dns', id: 'cutover', approval: true, approvals: options.approvals ?? 1 }],
    environment: options.environment ?? 'staging',
    ...(options.approverUsers ? { policy: { approverUsers: options.approverUsers } } : {}),
  });
  runUntil(s, 'cutover');
  expect(s.step('cutover').status).toBe('awaiting_approval');
  return s;
}

describe('a click binds to the request it was shown for', () => {
  it('refuses the old request’s Approve after Reject and Retry asked again, and accepts the new one', () => {
    const s = waitingForCutover();
    const first = shownFor(s.step('cutover'), 'approval');
    s.tick(60_000);
    s.reject('cutover', bob, 'not yet');
    s.tick(60_000);
    s.retry('cutover', alice);
    const second = shownFor(s.step('cutover'), 'approval');
    expect(second).not.toBe(first);

    const before = s.state;
    const stale = s.send({ type: 'approve', stepId: 'cutover', actor: bob, shownFor: first });
    expectRefused(
      stale,
      before,
      bob.user,
      /This approval request for cutover was replaced at <!date\^\d+\^\{time\}\|\d\d:\d\d UTC>; use the newest one/,
    );

    const { effects } = s.send({ type: 'approve', stepId: 'cutover', actor: bob, shownFor: second });
    expect(executed(effects)).toEqual(['cutover:do']);
  });

  it('refuses a Reject from a replaced request too', () => {
    const s = waitingForCutover();
    const first = shownFor(s.step('cutover'), 'approval');
    s.reject('cutover', bob);
    s.tick(1_000);
    s.retry('cutover', alice);
    const before = s.state;
    expectRefused(
      s.send({ type: 'reject', stepId: 'cutover', actor: bob, shownFor: first }),
      before,
      bob.user,
      /was replaced at/,
    );
  });

  it('refuses Retry from an earlier failure once the step was tried again, and takes the current one', () => {
    const s = Scenario.of({ steps: ['flag', 'crons'], environment: 'staging' });
    runUntil(s, 'crons');
    s.fail('crons');
    const firstFailure = shownFor(s.step('crons'), 'failure');
    s.retry('crons', alice);
    s.fail('crons');
    const before = s.state;
    expectRefused(
      s.send({ type: 'retry', stepId: 'crons', actor: alice, shownFor: firstFailure }),
      before,
      alice.user,
      /This button was for an earlier failure of crons/,
    );
    const current = shownFor(s.step('crons'), 'failure');
    expect(
      executed(s.send({ type: 'retry', stepId: 'crons', actor: alice, shownFor: current }).effects),
    ).toEqual(['crons:do']);
  });

  it('takes a button posted before buttons named what they were shown for, as it was then', () => {
    const s = waitingForCutover();
    expect(executed(s.approve('cutover', bob).effects)).toEqual(['cutover:do']);
  });
});

describe('an approval request expires', () => {
  it('refuses Approve after the plan’s expiry, offering to ask again; Ask again posts a fresh request', () => {
    const s = waitingForCutover();
    const token = shownFor(s.step('cutover'), 'approval');
    s.tick(30 * 60_000 + 1);
    const before = s.state;
    const late = s.send({ type: 'approve', stepId: 'cutover', actor: bob, shownFor: token });
    expectRefused(late, before, bob.user, /expired at .*\(requests last 30m\)\. Press Ask again/);
    expect(late.effects.find((e) => e.type === 'refuse')).toMatchObject({
      offer: { action: 'ask_again', stepId: 'cutover', shownFor: token },
    });

    const asked = s.send({ type: 'ask_again', stepId: 'cutover', actor: bob, shownFor: token });
    expect(asked.effects).toContainEqual({
      type: 'close_approval',
      stepId: 'cutover',
      approval: { decision: 'expired', by: bob.user, at: s.now },
    });
    expect(timeline(asked.effects)).toContainEqual({
      type: 'approval_requested',
      stepId: 'cutover',
      actor: bob.user,
      detail: 'asked again: the request expired',
    });
    const fresh = shownFor(s.step('cutover'), 'approval');
    expect(fresh).not.toBe(token);
    s.tick(60_000);
    expect(
      executed(s.send({ type: 'approve', stepId: 'cutover', actor: bob, shownFor: fresh }).effects),
    ).toEqual(['cutover:do']);
  });

  it('refuses to ask again while the request is still open', () => {
    const s = waitingForCutover();
    const before = s.state;
    expectRefused(
      s.send({ type: 'ask_again', stepId: 'cutover', actor: bob }),
      before,
      bob.user,
      /is still open/,
    );
  });

  it('still takes a Reject after expiry: stopping is always allowed', () => {
    const s = waitingForCutover();
    s.tick(31 * 60_000);
    expect(s.reject('cutover', bob).state.status).toBe('failed');
  });
});

describe('M of N approvals', () => {
  it('needs two different approvers, counts the first, and runs the step on the second', () => {
    const s = waitingForCutover({ approvals: 2 });
    const first = s.approve('cutover', bob);
    expect(s.step('cutover')).toMatchObject({
      status: 'awaiting_approval',
      votes: [{ by: bob.user }],
      approval: null,
    });
    expect(first.effects).toEqual([
      { type: 'timeline', entry: { type: 'approved', stepId: 'cutover', actor: bob.user, detail: '1 of 2' } },
      { type: 'approval_progress', stepId: 'cutover' },
    ]);

    const before = s.state;
    expectRefused(s.approve('cutover', bob), before, bob.user, /You already approved cutover \(1 of 2\)/);

    const second = s.approve('cutover', carol);
    expect(executed(second.effects)).toEqual(['cutover:do']);
    expect(timelineTypes(second.effects)).toEqual(['approved:cutover', 'step_started:cutover']);
    expect(s.step('cutover').approval).toMatchObject({ decision: 'approved', by: carol.user });
  });

  it('never counts the starter where four eyes apply', () => {
    const s = waitingForCutover({
      approvals: 2,
      environment: 'production',
      approverUsers: [alice.user, bob.user],
    });
    const before = s.state;
    expectRefused(s.approve('cutover', alice), before, alice.user, /four eyes/, ['refused']);
  });

  it('starts the count again when the request is asked again', () => {
    const s = waitingForCutover({ approvals: 2 });
    s.approve('cutover', bob);
    s.tick(31 * 60_000);
    s.send({ type: 'ask_again', stepId: 'cutover', actor: bob });
    expect(s.step('cutover').votes).toEqual([]);
  });
});

describe('an approval binds to what the step will do', () => {
  it('does not count an approval of a step that changed since its request was shown; it asks again', () => {
    const s = waitingForCutover();
    const shown = s.step('cutover').content!;
    const spec = stepSpec('dns', 'cutover', true) as Extract<StepSpec, { kind: 'dns' }>;
    const changed = stepContent(
      { ...spec, provider: { ...spec.provider, value: 'elsewhere.example.net' } },
      contentEnv,
    );
    const { state, effects } = s.send({ type: 'approve', stepId: 'cutover', actor: bob, content: changed });

    expect(state.steps.find((x) => x.id === 'cutover')).toMatchObject({
      status: 'awaiting_approval',
      content: changed,
    });
    expect(executed(effects)).toEqual([]);
    expect(timeline(effects)).toContainEqual(
      expect.objectContaining({
        type: 'approval_requested',
        detail: expect.stringContaining(
          `provider.value: ${shown.fields['provider.value']} → elsewhere.example.net`,
        ),
      }),
    );
    expect(refusals(effects)[0]!.message).toMatch(/cutover changed since its approval request was shown/);

    const again = s.send({ type: 'approve', stepId: 'cutover', actor: bob, content: changed });
    expect(executed(again.effects)).toEqual(['cutover:do']);
    expect(s.step('cutover').approval).toMatchObject({ digest: changed.digest });
  });

  it('stops a step whose approved content changed before it acted, and asks again', () => {
    const s = waitingForCutover();
    s.approve('cutover', bob);
    const changed = { digest: 'ffffffffffff', fields: { 'provider.value': 'elsewhere' } };
    const { effects } = s.send({ type: 'step_changed', stepId: 'cutover', attempt: 1, content: changed });
    expect(s.step('cutover')).toMatchObject({
      status: 'awaiting_approval',
      approval: null,
      content: changed,
    });
    expect(s.state.status).toBe('waiting');
    expect(effects).toContainEqual({ type: 'request_approval', stepId: 'cutover' });
  });
});
