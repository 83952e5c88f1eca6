import { describe, expect, it } from 'vitest';
import { stepInPlay } from '../../src/engine/policy.ts';
import type { RunState } from '../../src/engine/types.ts';
import {
  alice,
  bob,
  executed,
  expectRefused,
  runUntil,
  Scenario,
  timeline,
  timelineTypes,
} from '../support/engine-fixtures.ts';

// Reminders (an approval or a Done left waiting gets one, after the plan's `approval_reminder`), the
// point of no return (an irreversible step that went through ends Roll back) and the lock a rollback
// leaves behind.

const MIN = 60_000;

function gated() {
  return Scenario.of({ steps: ['flag', { kind: 'dns', id: 'cutover', approval: true }, 'manual'] });
}

const remind = (s: Scenario) => s.send({ type: 'remind' });

describe('reminders of what waits on a person', () => {
  it('reminds of an approval once, after approval_reminder, and not before', () => {
    const s = gated();
    runUntil(s, 'cutover');
    expect(s.step('cutover')).toMatchObject({ status: 'awaiting_approval', remindAt: s.now + 10 * MIN });

    s.tick(10 * MIN - 1);
    expect(remind(s).effects).toEqual([]);
    s.tick(1);
    const first = remind(s);
    expect(timeline(first.effects)).toEqual([{ type: 'reminder', stepId: 'cutover', detail: 'approval' }]);
    expect(s.step('cutover').remindAt).toBeNull();
    // Told once: a later tick, or a second replica's, says nothing more.
    expect(remind(s.tick(30 * MIN)).effects).toEqual([]);
  });

  it('forgets the reminder of an approval given in time', () => {
    const s = gated();
    runUntil(s, 'cutover');
    s.tick(5 * MIN).approve('cutover');
    expect(s.step('cutover').remindAt).toBeNull();
    expect(remind(s.tick(10 * MIN)).effects).toEqual([]);
  });

  it('reminds the starter of a Done left waiting, by the same rule', () => {
    const s = gated();
    runUntil(s, 'manual');
    expect(s.step('manual')).toMatchObject({ status: 'running', waitingForPerson: true });
    const { effects } = remind(s.tick(10 * MIN));
    expect(timeline(effects)).toEqual([{ type: 'reminder', stepId: 'manual', detail: 'done' }]);
  });

  it('puts a reminder off while an incident holds the run: nobody may answer it then', () => {
    const s = gated();
    runUntil(s, 'cutover');
    s.send({
      type: 'incident_opened',
      actor: bob,
      incident: {
        id: 1,
        severity: 'sev1',
        summary: 'checkout is down',
        openedBy: bob.user,
        openedAt: s.now,
        stepId: stepInPlay(s.state),
      },
    });
    const postponed = remind(s.tick(10 * MIN));
    expect(timeline(postponed.effects)).toEqual([]);
    expect(s.step('cutover').remindAt).toBe(s.now + 10 * MIN);
    s.send({ type: 'incident_resolved', actor: bob, incidentId: 1 });
    expect(timelineTypes(remind(s.tick(10 * MIN)).effects)).toEqual(['reminder:cutover']);
  });

  it('waits as long as the plan says', () => {
    const s = Scenario.of({
      steps: [{ kind: 'dns', id: 'cutover', approval: true }],
      policy: { approvalReminderMs: 2 * MIN },
    });
    s.start();
    expect(timelineTypes(remind(s.tick(2 * MIN)).effects)).toEqual(['reminder:cutover']);
  });
});

/** The run with `id` marked irreversible, as a plan's `irreversible: true` (and `forward_fix`) give it. */
function irreversible(s: Scenario, id: string, forwardFix: string | null): Scenario {
  s.state = {
    ...s.state,
    steps: s.state.steps.map((st) => (st.id === id ? { ...st, irreversible: true, forwardFix } : st)),
  } satisfies RunState;
  return s;
}

describe('the point of no return', () => {
  function scaleDown(forwardFix: string | null = 'scale the new platform up and restore from the snapshot') {
    return irreversible(
      Scenario.of({ steps: ['flag', { kind: 'jobs', id: 'scale-down', approval: true }, 'maintenance'] }),
      'scale-down',
      forwardFix,
    );
  }

  it('rolls back as usual before the irreversible step went through', () => {
    const s = scaleDown();
    s.start();
    s.succeed('flag');
    expect(s.step('scale-down').status).toBe('awaiting_approval');
    const { effects } = s.rollback();
    expect(s.state.status).toBe('rolling_back');
    expect(executed(effects)).toEqual(['flag:undo']);
  });

  it('refuses Roll back once it went through, naming the step and the forward fix', () => {
    const s = scaleDown();
    s.start();
    s.succeed('flag');
    s.approve('scale-down');
    s.succeed('scale-down');
    s.fail('maintenance');
    const before = s.state;
    expectRefused(
      s.rollback(),
      before,
      alice.user,
      /^scale-down went through and cannot be undone, so this run can no longer be rolled back\. Fix forward: scale the new platform up and restore from the snapshot$/,
    );
  });

  it('says so when the plan gives no forward fix', () => {
    const s = scaleDown(null);
    s.start();
    s.succeed('flag');
    s.approve('scale-down');
    s.succeed('scale-down');
    expectRefused(s.rollback(), s.state, alice.user, /the plan gives no forward fix for it/);
  });
});

describe('the lock a rollback leaves', () => {
  it('locks the service and environment, naming the run, unless the plan opts out', () => {
    const s = Scenario.of({ steps: ['flag', 'maintenance'] });
    s.start();
    s.succeed('flag');
    expect(s.rollback().effects).toContainEqual({
      type: 'lock',
      by: alice.user,
      reason: 'r12 was rolled back; unlock once the cause is understood',
    });

    const optedOut = Scenario.of({ steps: ['flag', 'maintenance'], policy: { lockAfterRollback: false } });
    optedOut.start();
    optedOut.succeed('flag');
    expect(optedOut.rollback().effects.filter((e) => e.type === 'lock')).toEqual([]);
  });
});
