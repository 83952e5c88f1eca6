import { afterEach, describe, expect, it } from 'vitest';
import { ActionId } from '../../src/slack/action-ids.ts';
import {
  ALICE,
  BOB,
  CAROL,
  hasButton,
  readable,
  startHarness,
  type Harness,
} from '../support/ferry-harness.ts';

// Approvals as people meet them in Slack: a replaced request's buttons refused, two approvers where
// the plan asks for two, and an expired request asked again.

const plan = (extra: string) => `
service: billing
approvers: { users: [U02BOB, U04CAROL] }
${extra}
environments:
  staging:
    steps:
      - { id: cutover, kind: flag, action: on, approval: required, APPROVALS
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
`;

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

const approvalRequests = (harness: Harness) => harness.thread().filter((m) => hasButton(m, ActionId.approve));

describe('approvals in Slack', () => {
  it('refuses Approve on a request that Reject and Retry replaced, and names when it was replaced', async () => {
    h = await startHarness({ plan: plan('').replace('APPROVALS', '') });
    const harness = h;
    await harness.ask(ALICE, 'start billing staging', 'Started');
    const first = await harness.waitFor(() => approvalRequests(harness)[0], 'the approval request');
    await harness.click(BOB, first, ActionId.reject);
    const failed = await harness.waitFor(
      () => hasButton(harness.statusMessage(), ActionId.retry) && harness.statusMessage(),
      'the rejection',
    );
    await harness.click(ALICE, failed, ActionId.retry);
    // The old request lost its buttons when it was decided; a client that has not redrawn it yet
    // still shows them, which is the click sent below.
    const second = await harness.waitFor(
      () => approvalRequests(harness).find((m) => m.ts !== first.ts),
      'a second approval request',
    );

    const before = harness.responses(BOB).length;
    await harness.click(BOB, first, ActionId.approve);
    const told = await harness.waitFor(
      () =>
        harness
          .responses(BOB)
          .slice(before)
          .find((t) => t.includes('was replaced at')),
      'the refusal of the old button',
    );
    expect(told).toMatch(/This approval request for cutover was replaced at .*; use the newest one/);
    expect(harness.maintenance.state('billing').enabled).toBe(false);

    await harness.click(BOB, second, ActionId.approve);
    await harness.waitFor(() => harness.maintenance.state('billing').enabled, 'the approved change');
  });

  it('needs two different approvers where the plan says approvals: 2, showing the count', async () => {
    h = await startHarness({ plan: plan('').replace('APPROVALS', 'approvals: 2,') });
    const harness = h;
    await harness.ask(ALICE, 'start billing staging', 'Started');
    const request = await harness.waitFor(() => approvalRequests(harness)[0], 'the approval request');
    expect(readable(request)).toContain('Needs 2 different approvers: 0 of 2 so far');

    await harness.click(BOB, request, ActionId.approve);
    await harness.waitFor(
      () => readable(harness.slack.message('C0MIGRATIONS', request.ts)).includes('1 of 2 so far (<@U02BOB>)'),
      'the request to count Bob',
    );
    const before = harness.responses(BOB).length;
    await harness.click(BOB, request, ActionId.approve);
    await harness.waitFor(
      () =>
        harness
          .responses(BOB)
          .slice(before)
          .some((t) => t.includes('You already approved cutover (1 of 2)')),
      'Bob refused a second time',
    );
    expect(harness.maintenance.state('billing').enabled).toBe(false);

    await harness.click(CAROL, request, ActionId.approve);
    await harness.waitFor(
      () => harness.maintenance.state('billing').enabled,
      'the change after two approvals',
    );
    await harness.waitFor(
      () => readable(harness.slack.message('C0MIGRATIONS', request.ts)).includes('Approved by <@U04CAROL>'),
      'the request closed',
    );
  });

  it('refuses an expired request with an Ask again button that posts a fresh one', async () => {
    h = await startHarness({ plan: plan('approval_expires_after: 1s').replace('APPROVALS', '') });
    const harness = h;
    await harness.ask(ALICE, 'start billing staging', 'Started');
    const request = await harness.waitFor(() => approvalRequests(harness)[0], 'the approval request');
    await new Promise((r) => setTimeout(r, 1_200));
    const before = harness.slack.ephemerals(BOB).length;
    await harness.click(BOB, request, ActionId.approve);
    const offer = await harness.waitFor(
      () =>
        harness.slack
          .ephemerals(BOB)
          .slice(before)
          .find((e) => hasButton(e as never, ActionId.askAgain)),
      'the expiry, with Ask again',
    );
    expect(readable(offer as never)).toMatch(/expired at .*\(requests last 1s\)/);
    await harness.click(BOB, offer as never, ActionId.askAgain);
    const fresh = await harness.waitFor(
      () => approvalRequests(harness).find((m) => m.ts !== request.ts),
      'a fresh request',
    );
    await harness.click(BOB, fresh, ActionId.approve);
    await harness.waitFor(() => harness.maintenance.state('billing').enabled, 'the approved change');
  });
});
