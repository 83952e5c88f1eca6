import { describe, expect, it } from 'vitest';
import { shownFor, stepInPlay } from '../../src/engine/policy.ts';
import {
  alice,
  bob,
  executed,
  expectRefused,
  mallory,
  runUntil,
  Scenario,
  timeline,
  timelineTypes,
} from '../support/engine-fixtures.ts';

// A watch in the engine: it runs like any step; a person may end it early with Looks good (the
// attempt is stopped, the step succeeds, the run goes on); its summaries reach the timeline only
// while it is the attempt that runs.

function watchRun() {
  return Scenario.of({
    steps: ['flag', { kind: 'watch', id: 'watch' }, 'maintenance'],
    environment: 'staging',
  });
}

function watching() {
  const s = runUntil(watchRun(), 'watch');
  expect(s.step('watch').status).toBe('running');
  return s;
}

describe('a watch step', () => {
  it('runs as an attempt of its own and moves on when the watch passes', () => {
    const s = runUntil(watchRun(), 'watch');
    expect(executed(s.last.effects)).toEqual(['watch:do']);
    const { effects } = s.succeed('watch', '41 samples over 10m: error rate 0%; no breaches');
    expect(executed(effects)).toEqual(['maintenance:do']);
    expect(s.step('watch').summary).toBe('41 samples over 10m: error rate 0%; no breaches');
  });

  it('waits for a person when the watch fails, keeping its figures for the report', () => {
    const s = watching();
    const { effects } = s.send({
      type: 'step_failed',
      stepId: 'watch',
      attempt: 1,
      direction: 'do',
      error: 'error rate 4.2% > 1% in 3 of the last 4 samples\n12 samples over 3m; 4 breaches (3 tolerated)',
      retryable: false,
      figures: { samples: 12, error_rate: '4.2%', breaches: 4 },
    });
    expect(s.state.status).toBe('failed');
    expect(s.step('watch').error).toMatch(/^error rate 4\.2% > 1%/);
    expect(timeline(effects)).toContainEqual(
      expect.objectContaining({
        type: 'step_failed',
        figures: { samples: 12, error_rate: '4.2%', breaches: 4 },
      }),
    );
  });

  it('is stopped at once by a rollback, having changed nothing', () => {
    const s = watching();
    const { effects } = s.rollback();
    expect(effects).toContainEqual({ type: 'cancel', stepId: 'watch' });
    expect(s.step('watch')).toMatchObject({ status: 'rolled_back', summary: 'nothing to undo' });
    expect(executed(effects)).toEqual(['flag:undo']);
  });
});

describe('Looks good', () => {
  it('ends a running watch early: the attempt is stopped, the step succeeds and the run goes on', () => {
    const s = watching();
    s.tick(90_000);
    const { effects } = s.send({
      type: 'looks_good',
      stepId: 'watch',
      actor: alice,
      shownFor: shownFor(s.step('watch'), 'done'),
    });
    expect(effects).toContainEqual({ type: 'cancel', stepId: 'watch' });
    expect(s.step('watch')).toMatchObject({
      status: 'succeeded',
      summary: 'Ended early: looks good',
      actedBy: alice.user,
      finishedAt: s.now,
    });
    expect(timelineTypes(effects)).toEqual(['watch_ended:watch', 'step_started:maintenance']);
    expect(timeline(effects)[0]).toMatchObject({ actor: alice.user });
    expect(executed(effects)).toEqual(['maintenance:do']);
  });

  it('makes the stopped attempt’s outcome stale: a failure arriving after it changes nothing', () => {
    const s = watching();
    s.send({ type: 'looks_good', stepId: 'watch', actor: alice });
    const before = s.state;
    const late = s.send({
      type: 'step_failed',
      stepId: 'watch',
      attempt: 1,
      direction: 'do',
      error: 'stopped: the run was aborted',
      retryable: false,
    });
    expect(late.state).toEqual(before);
    expect(late.effects).toEqual([]);
  });

  it('is refused to someone who may not operate the run, and changes nothing', () => {
    const s = watching();
    const before = s.state;
    expectRefused(
      s.send({ type: 'looks_good', stepId: 'watch', actor: mallory }),
      before,
      mallory.user,
      /Only the people who may start or approve billing runs can change r12/,
    );
  });

  it('is refused once the watch has ended on its own, saying how it ended', () => {
    const s = watching();
    s.succeed('watch');
    const before = s.state;
    expectRefused(
      s.send({ type: 'looks_good', stepId: 'watch', actor: alice }),
      before,
      alice.user,
      /^watch is not watching: it has already finished\.$/,
    );
  });

  it('is refused after the watch failed, pointing at Retry', () => {
    const s = watching();
    s.fail('watch', 'error rate 50% > 0%');
    const before = s.state;
    expectRefused(
      s.send({ type: 'looks_good', stepId: 'watch', actor: alice }),
      before,
      alice.user,
      /it failed; Retry watches again/,
    );
  });

  it('is refused on an aborted run, whose watch is no longer looked at', () => {
    const s = watching();
    s.abort();
    const before = s.state;
    expectRefused(
      s.send({ type: 'looks_good', stepId: 'watch', actor: alice }),
      before,
      alice.user,
      /^watch is not watching: r12 is aborted\.$/,
    );
  });

  it('is refused for a step that is not a watch', () => {
    const s = runUntil(watchRun(), null);
    const before = s.state;
    expectRefused(
      s.send({ type: 'looks_good', stepId: 'flag', actor: alice }),
      before,
      alice.user,
      /r12 has no watch step flag/,
    );
  });

  it('is refused from the message of an earlier attempt of the watch', () => {
    const s = watching();
    const old = shownFor(s.step('watch'), 'done');
    s.fail('watch');
    s.tick(60_000).retry('watch');
    expect(s.step('watch').status).toBe('running');
    const before = s.state;
    expectRefused(
      s.send({ type: 'looks_good', stepId: 'watch', actor: alice, shownFor: old }),
      before,
      alice.user,
      /earlier wait of watch; use the newest status message/,
    );
  });

  it('is refused while a sev1 holds the run: ending the watch would start the next step', () => {
    const s = watching();
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
    const before = s.state;
    const refused = s.send({ type: 'looks_good', stepId: 'watch', actor: alice });
    expect(refused.state).toEqual(before);
    expect(refused.effects.map((e) => e.type)).toEqual(['refuse']);
  });
});

describe('a watch’s summaries', () => {
  it('go to the timeline with their figures while the watch runs', () => {
    const s = watching();
    const { effects, state } = s.send({
      type: 'step_progress',
      stepId: 'watch',
      attempt: 1,
      detail: 'after 1m: 5 samples, error rate 0%, no breaches',
      figures: { samples: 5 },
    });
    expect(timeline(effects)).toEqual([
      {
        type: 'step_progress',
        stepId: 'watch',
        detail: 'after 1m: 5 samples, error rate 0%, no breaches',
        figures: { samples: 5 },
      },
    ]);
    expect(state.steps).toEqual(s.log.at(-2)!.state.steps);
    expect(effects.filter((e) => e.type !== 'timeline')).toEqual([]);
  });

  it('from an earlier attempt, a finished watch or an aborted run are dropped', () => {
    const s = watching();
    const stale = (attempt: number) =>
      s.send({ type: 'step_progress', stepId: 'watch', attempt, detail: 'after 1m: …' }).effects;
    expect(stale(2)).toEqual([]);
    s.fail('watch');
    expect(stale(1)).toEqual([]);
    s.retry('watch');
    expect(timelineTypes(stale(2))).toEqual(['step_progress:watch']);
    s.abort();
    expect(stale(2)).toEqual([]);
  });
});
