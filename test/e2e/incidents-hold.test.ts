import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionId } from '../../src/slack/action-ids.ts';
import {
  ALICE,
  BOB,
  CHANNEL,
  hasButton,
  readable,
  startHarness,
  type Harness,
} from '../support/ferry-harness.ts';

// A sev1 or sev2 holds the run: told to the whole channel, Approve refused naming it, another start of
// the service refused, until it is resolved or someone goes on despite it.

const plan = `
service: billing
starters: [U01ALICE]
approvers: { users: [U02BOB] }
environments:
  staging:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
      - { id: cutover, kind: flag, action: on, approval: required,
          provider: { type: http, url: "\${MAINT_URL}-cutover", token: "\${MAINT_TOKEN}" } }
  production:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
`;

describe('incidents that hold a run', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ plan });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('holds the run until someone goes on despite the incident, and holds back another start meanwhile', async () => {
    await h.ask(ALICE, 'start billing staging', 'Started');
    const approval = await h.waitFor(
      () => h.thread().find((m) => hasButton(m, ActionId.approve)),
      'the approval request',
    );
    await h.ask(BOB, 'incident sev2 payments return 502s', 'It holds the run');

    // Told to the whole channel, not only the thread.
    await h.waitFor(
      () =>
        h.slack
          .messages(CHANNEL)
          .some((m) => m.subtype === 'thread_broadcast' && readable(m).includes('payments return 502s')),
      'the incident broadcast to the channel',
    );
    const held = await h.waitFor(
      () => hasButton(h.statusMessage(), ActionId.goOn) && h.statusMessage(),
      'Go on despite the incident on the status message',
    );
    expect(readable(held)).toContain('Held by sev2 before step');

    const before = h.responses(BOB).length;
    await h.click(BOB, approval, ActionId.approve);
    await h.waitFor(
      () =>
        h
          .responses(BOB)
          .slice(before)
          .some((t) => t.includes('is held by sev2 "payments return 502s"')),
      'the refused approval, naming the incident',
    );
    expect(h.maintenance.state('billing-cutover').enabled).toBe(false);

    await h.ask(ALICE, 'start billing production', 'billing has an open sev2 on r1 ("payments return 502s")');

    await h.click(ALICE, held, ActionId.goOn);
    await h.waitFor(
      () =>
        h
          .thread()
          .some((m) => readable(m).includes('went on despite sev2: payments return 502s by <@U01ALICE>')),
      'who went on, in the thread',
    );
    await h.click(BOB, approval, ActionId.approve);
    await h.waitFor(() => h.maintenance.state('billing-cutover').enabled, 'the cutover after going on');
  });
});
