import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionId } from '../../src/slack/action-ids.ts';
import {
  ALICE,
  BOB,
  CHANNEL,
  hasButton,
  readable,
  startHarness,
  TestClock,
  type Harness,
} from '../support/ferry-harness.ts';

// What the clock does for people, through signed requests with an injected clock: a reminder of an
// approval left waiting, a soak gate that says when production may start, the lock a rollback leaves
// and its reminder a day later, and the point of no return that ends Roll back.

const HOUR = 3_600_000;

const toggle = (id: string, path: string, extra = '') =>
  `      - { id: ${id}, kind: flag, action: on,${extra}
          provider: { type: http, url: "\${MAINT_URL}-${path}", token: "\${MAINT_TOKEN}" } }`;

const billing = `
service: billing
starters: [U01ALICE]
approvers: { users: [U02BOB] }
approval_reminder: 10m
environments:
  staging:
    steps:
${toggle('maintenance-on', 'billing-staging')}
${toggle('cutover', 'billing-staging-cutover', ' approval: required,')}
  production:
    requires: { environment: staging, soak: 24h }
    steps:
${toggle('maintenance-on', 'billing-production')}
`;

const ledger = `
service: ledger
starters: [U01ALICE]
environments:
  staging:
    steps:
${toggle('quiet', 'ledger-staging')}
      - { id: look, kind: manual, instructions: "Look at the dashboards, then press Done." }
`;

const search = `
service: search
starters: [U01ALICE]
lock_after_rollback: false
environments:
  staging:
    steps:
${toggle('scale-down', 'search-staging', ' irreversible: true, forward_fix: "scale the old cluster up again from its snapshot",')}
      - { id: look, kind: manual, instructions: "Look at the dashboards, then press Done." }
`;

describe('reminders, soak gates, locks after a rollback and the point of no return', () => {
  let h: Harness;
  const clock = new TestClock();
  beforeAll(async () => {
    h = await startHarness({ plan: [billing, ledger, search], clock });
  });
  afterAll(async () => {
    await h?.stop();
  });

  const inChannel = (text: string) => h.slack.messages(CHANNEL).filter((m) => readable(m).includes(text));
  const inAnyThread = (text: string) =>
    h.slack
      .messages(CHANNEL)
      .flatMap((m) => h.slack.thread(CHANNEL, m.ts))
      .filter((m) => readable(m).includes(text));

  it('reminds the approvers once when an approval waits past approval_reminder', async () => {
    await h.ask(ALICE, 'start billing production', 'billing production needs a staging run');
    await h.ask(ALICE, 'start billing staging', 'Started');
    const approval = await h.waitFor(
      () => h.thread().find((m) => hasButton(m, ActionId.approve)),
      'the approval request',
    );

    clock.advance(9 * 60_000);
    await h.ferry.scheduler.tick();
    clock.advance(60_000);
    await Promise.all([h.ferry.scheduler.tick(), h.ferry.scheduler.tick()]);
    const reminder = await h.waitFor(
      () => inAnyThread('has waited for approval since')[0],
      'the reminder in the thread',
    );
    expect(readable(reminder)).toMatch(
      /⏰ `cutover` has waited for approval since \d\d:\d\d UTC: <@U02BOB>, please approve/,
    );
    // Told once: later ticks (within the request's 30 minutes) say nothing more.
    clock.advance(5 * 60_000);
    await h.ferry.scheduler.tick();
    await h.click(BOB, approval, ActionId.approve);
    await h.waitFor(() => /All 2 steps done/.test(readable(h.statusMessage())), 'staging to succeed');
    expect(inAnyThread('has waited for approval since')).toHaveLength(1);
  });

  it('holds production back until staging has soaked for 24 hours, saying when it can start', async () => {
    const refused = await h.ask(ALICE, 'start billing production', 'can start at');
    expect(refused).toMatch(
      /billing production needs a staging run that succeeded at least 24h ago; r\d+ succeeded at .* UTC, so production can start at .* UTC\./,
    );
    clock.advance(24 * HOUR);
    await h.ask(ALICE, 'start billing production', 'Started');
    await h.waitFor(() => /All 1 steps? done/.test(readable(h.statusMessage())), 'production to succeed');
  });

  it('locks the service after a rollback, naming the run, and reminds its owner a day later', async () => {
    await h.ask(ALICE, 'start ledger staging', 'Started');
    const run = await h.waitFor(
      () => hasButton(h.statusMessage(), ActionId.done) && h.statusMessage(),
      'the manual step waiting for Done',
    );
    const runId = /ledger staging (r\d+):/.exec(run.text ?? '')![1]!;
    await h.ask(ALICE, 'rollback', 'Rolling back');
    await h.waitFor(() => /Rolled back/.test(readable(h.statusMessage())), 'the rollback to finish');
    await h.ask(ALICE, 'start ledger staging', `ledger staging is locked by <@U01ALICE> since`);
    expect(h.responses(ALICE).at(-1)).toContain(
      `${runId} was rolled back; unlock once the cause is understood`,
    );

    clock.advance(24 * HOUR + 60_000);
    await Promise.all([h.ferry.scheduler.tick(), h.ferry.scheduler.tick()]);
    const reminder = await h.waitFor(() => inChannel('has been locked since')[0], 'the lock reminder');
    expect(readable(reminder)).toContain(`🔒 ledger staging has been locked since`);
    expect(readable(reminder)).toContain(
      `<@U01ALICE>, unlock it with \`/migrate unlock ledger staging\` once it may run again, or leave it locked.`,
    );
    await h.ferry.scheduler.tick();
    expect(inChannel('has been locked since')).toHaveLength(1);
    await h.ask(ALICE, 'unlock ledger staging', 'Unlocked');
  });

  it('ends Roll back once an irreversible step went through, and gives the forward fix instead', async () => {
    await h.ask(ALICE, 'start search staging', 'Started');
    const status = await h.waitFor(
      () => hasButton(h.statusMessage(), ActionId.done) && h.statusMessage(),
      'the run past its point of no return',
    );
    expect(hasButton(status, ActionId.rollback)).toBe(false);
    expect(readable(status)).toContain(
      'scale-down went through and cannot be undone, so this run can no longer be rolled back. Fix forward: scale the old cluster up again from its snapshot',
    );
    await h.ask(
      ALICE,
      'rollback',
      'scale-down went through and cannot be undone, so this run can no longer be rolled back. Fix forward: scale the old cluster up again from its snapshot',
    );
    expect(h.maintenance.state('billing-search-staging').enabled).toBe(true);
    await h.click(ALICE, status, ActionId.done);
    await h.waitFor(() => /All 2 steps done/.test(readable(h.statusMessage())), 'the run to finish');
  });
});
