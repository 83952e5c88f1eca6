import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionId } from '../../src/slack/action-ids.ts';
import {
  ALICE,
  BOB,
  CAROL,
  hasButton,
  MALLORY,
  readable,
  startHarness,
  type Harness,
} from '../support/ferry-harness.ts';

const plan = `
service: billing
approvers: { users: [U02BOB, U01ALICE], usergroups: [S0PLATFORM] }
environments:
  staging:
    steps: &steps
      - { id: maintenance-on, kind: maintenance, action: on,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
      - { id: cutover, kind: flag, action: on, approval: required,
          provider: { type: http, url: "\${MAINT_URL}-flag", token: "\${MAINT_TOKEN}" } }
      - { id: watch-dashboards, kind: manual, instructions: "Watch the error rate for five minutes, then press Done." }
      - { id: maintenance-off, kind: maintenance, action: off,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
  production:
    steps: *steps
`;

describe('a migration run driven through Slack', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ plan });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('runs a staging plan from /migrate start to done, with approval and a manual step', async () => {
    const res = await h.command(ALICE, 'start billing staging');
    expect(res.status).toBe(200);

    const waiting = await h.waitFor(() => {
      const m = h.statusMessage();
      return (
        m &&
        hasButton(
          h.thread().find((t) => hasButton(t, ActionId.approve)),
          ActionId.approve,
        ) &&
        m
      );
    }, 'the approval request');
    expect(readable(waiting)).toContain('billing · staging · r');
    expect(h.maintenance.state('billing').enabled).toBe(true);

    const approval = h.thread().find((t) => hasButton(t, ActionId.approve))!;
    await h.click(BOB, approval, ActionId.approve);
    await h.waitFor(
      () => readable(h.slack.message('C0MIGRATIONS', approval.ts)).includes('Approved by <@U02BOB>'),
      'the approval to close',
    );
    expect(hasButton(h.slack.message('C0MIGRATIONS', approval.ts), ActionId.approve)).toBe(false);
    expect(h.maintenance.state('billing-flag').enabled).toBe(true);

    const withDone = await h.waitFor(() => {
      const m = h.statusMessage();
      return hasButton(m, ActionId.done) && m;
    }, 'the Done button');
    await h.click(ALICE, withDone, ActionId.done);

    const finished = await h.waitFor(() => {
      const m = h.statusMessage();
      return readable(m).includes('All 4 steps done') && m;
    }, 'the run to succeed');
    expect(h.maintenance.state('billing').enabled).toBe(false);
    expect(readable(finished)).toContain('✅ `maintenance-off`');
    const thread = h.thread().map(readable).join('\n');
    expect(thread).toContain('run started by <@U01ALICE>');
    expect(thread).toContain('`cutover` approved by <@U02BOB>');
    expect(thread).toContain('run succeeded');
  });

  it('refuses a self-approval in production and an approval from a non-approver, and records both', async () => {
    await h.command(ALICE, 'start billing production');
    const approval = await h.waitFor(
      () => h.thread().find((t) => hasButton(t, ActionId.approve)),
      'the approval request',
    );
    await h.click(ALICE, approval, ActionId.approve);
    await h.click(MALLORY, approval, ActionId.approve);
    await h.waitFor(
      () => h.responses(MALLORY).some((t) => t.includes('You are not an approver for billing production')),
      'Mallory to be refused',
    );
    await h.waitFor(
      () => h.responses(ALICE).some((t) => t.includes('production needs four eyes: the person who started')),
      'Alice to be refused',
    );
    const thread = await h.waitFor(() => {
      const text = h.thread().map(readable).join('\n');
      return text.includes('refused by <@U03MALLORY>') && text.includes('refused by <@U01ALICE>') && text;
    }, 'the refusals in the timeline');
    expect(thread).not.toContain('approved by');
    // Refusals do not ping the approvers' group again in the thread.
    expect(thread.split('\n').filter((l) => l.includes('refused') && l.includes('subteam'))).toEqual([]);
    expect(h.maintenance.state('billing-flag').writes).toBe(1); // only staging's change

    // A member of the approvers' user group may approve.
    await h.click(CAROL, approval, ActionId.approve);
    await h.waitFor(
      () => h.thread().map(readable).join('\n').includes('approved by <@U04CAROL>'),
      'Carol to approve',
    );
  });
});
