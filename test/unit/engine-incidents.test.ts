import { describe, expect, it } from 'vitest';
import { incidentStartRefusal, stepInPlay } from '../../src/engine/policy.ts';
import type { Severity } from '../../src/engine/types.ts';
import { mrkdwn } from '../../src/slack/views/format.ts';
import {
  alice,
  bob,
  executed,
  expectRefused,
  mallory,
  runUntil,
  Scenario,
  timelineTypes,
} from '../support/engine-fixtures.ts';

// Incidents that hold: a sev1 or sev2 stops the run before its next step, and refuses Approve, Done,
// Retry and Skip, until it is resolved or someone goes on despite it.

let nextId = 1;
function open(s: Scenario, severity: Severity = 'sev2', summary = 'payments return 502s') {
  return s.send({
    type: 'incident_opened',
    actor: bob,
    incident: {
      id: nextId++,
      severity,
      summary,
      openedBy: bob.user,
      openedAt: s.now,
      stepId: stepInPlay(s.state),
    },
  });
}

function cutoverRun() {
  return Scenario.of({
    steps: ['flag', { kind: 'dns', id: 'cutover', approval: true }, 'maintenance'],
    environment: 'staging',
  });
}

describe('an incident that holds the run', () => {
  it('lets the step in flight finish, then starts nothing more until it is resolved', () => {
    const s = cutoverRun();
    s.start();
    const opened = open(s);
    expect(timelineTypes(opened.effects)).toEqual(['incident_opened:flag']);
    const { effects } = s.succeed('flag');
    expect(executed(effects)).toEqual([]);
    expect(s.state.status).toBe('waiting');
    expect(s.step('cutover').status).toBe('pending');
    expect(timelineTypes(effects)).toEqual(['step_succeeded:flag', 'run_held']);

    const resolved = s.send({ type: 'incident_resolved', actor: bob, incidentId: s.state.incidents[0]!.id });
    expect(s.state.incidents).toEqual([]);
    expect(timelineTypes(resolved.effects)).toEqual(['incident_resolved:flag', 'approval_requested:cutover']);
    expect(s.step('cutover').status).toBe('awaiting_approval');
  });

  it('refuses Approve and Done while it holds, naming the incident and how to release it', () => {
    const s = cutoverRun();
    runUntil(s, 'cutover');
    open(s, 'sev1', 'database failover');
    const before = s.state;
    const refused = s.approve('cutover', bob);
    expectRefused(
      refused,
      before,
      bob.user,
      /r12 is held by sev1 "database failover" \(opened by <@U02BOB> at .*\): resolve it with `\/migrate incident resolve r12`, or press Go on despite the incident\./,
    );

    const manual = Scenario.of({ steps: [{ kind: 'manual', id: 'watch' }, 'flag'], environment: 'staging' });
    manual.start();
    open(manual);
    const waiting = manual.state;
    expectRefused(manual.done('watch', alice), waiting, alice.user, /is held by sev2/);
  });

  it('goes on despite it when an operator says so, recording who, and holds again for a new incident', () => {
    const s = cutoverRun();
    s.start();
    open(s);
    s.succeed('flag');
    const before = s.state;
    expectRefused(s.send({ type: 'go_on', actor: mallory }), before, mallory.user, /Only the people/);

    const { effects } = s.send({ type: 'go_on', actor: alice });
    expect(s.state.incidents[0]!.overridden).toEqual({ by: alice.user, at: s.now });
    expect(timelineTypes(effects)).toEqual(['incident_overridden:flag', 'approval_requested:cutover']);
    expect(s.approve('cutover', bob).state.status).toBe('running');

    open(s, 'sev1', 'it is worse');
    const { effects: after } = s.succeed('cutover');
    expect(executed(after)).toEqual([]);
    expect(timelineTypes(after)).toContain('run_held');
  });

  it('does not hold for a sev3', () => {
    const s = cutoverRun();
    s.start();
    open(s, 'sev3', 'a typo on the status page');
    const { effects } = s.succeed('flag');
    expect(timelineTypes(effects)).toContain('approval_requested:cutover');
  });

  it('still lets the run be rolled back or aborted', () => {
    const s = cutoverRun();
    s.start();
    s.succeed('flag');
    open(s);
    const { effects } = s.rollback(alice);
    expect(executed(effects)).toEqual(['flag:undo']);
  });
});

describe('an incident that holds a run holds back the next start of its service', () => {
  it('refuses a start while an open sev1 or sev2 holds, and names it', () => {
    const refusal = incidentStartRefusal('billing', [
      { runId: 'r3', severity: 'sev3', summary: 'minor', overridden: null },
      { runId: 'r4', severity: 'sev2', summary: 'payments return 502s', overridden: null },
    ]);
    expect(mrkdwn(refusal!)).toBe(
      'billing has an open sev2 on r4 ("payments return 502s"): resolve it with `/migrate incident resolve r4` before another run starts.',
    );
    expect(
      incidentStartRefusal('billing', [
        { runId: 'r4', severity: 'sev2', summary: 'x', overridden: { by: 'U1', at: 1 } },
      ]),
    ).toBeNull();
  });
});
