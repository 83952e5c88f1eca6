import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  sendInteraction,
  sendSigned,
  sendSlashCommand,
  newTriggerId,
} from '../../src/sandbox/signed-request.ts';
import { ALICE, CHANNEL, startHarness, type Harness } from '../support/ferry-harness.ts';

// Properly signed requests of shapes Ferry has no listener for, or that Bolt cannot process (found by
// fuzzing): each gets a prompt, specific answer instead of Bolt's 3 s wait and a 404, or a 500.

const plan = `
service: billing
environments:
  staging:
    steps:
      - { id: flag, kind: flag, action: on, provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
`;

describe('signed requests of shapes Ferry does not handle', () => {
  let h: Harness;
  let secret: string;
  beforeAll(async () => {
    h = await startHarness({ plan, captureLog: true });
    secret = h.ferry.signingSecret;
  });
  afterAll(async () => {
    await h?.stop();
  });

  /** Answered well within Bolt's 3 s timeout, with `status`. */
  async function answered(send: () => Promise<{ status: number; text: string }>, status: number) {
    const started = Date.now();
    const res = await send();
    expect(res.status).toBe(status);
    expect(Date.now() - started).toBeLessThan(2_500);
    return res;
  }

  it('answers a slash command other than /migrate at once, saying so', async () => {
    const res = await answered(
      () =>
        sendSlashCommand(h.ferry.url, secret, {
          command: '/deploy',
          text: 'now',
          user_id: ALICE,
          user_name: 'alice',
          channel_id: CHANNEL,
          team_id: 'T0FERRY',
          response_url: h.slack.responseUrlFor({ channel: CHANNEL, user: ALICE }),
          trigger_id: newTriggerId(),
        }),
      200,
    );
    expect(res.text).toContain('Ferry answers `/migrate` only');
  });

  it('acknowledges a button from an older release and tells the person who clicked', async () => {
    const before = h.slack.ephemerals(ALICE).length;
    await answered(
      () =>
        sendInteraction(h.ferry.url, secret, {
          type: 'block_actions',
          user: { id: ALICE, username: 'alice', name: 'alice', team_id: 'T0FERRY' },
          channel: { id: CHANNEL, name: 'migrations' },
          team: { id: 'T0FERRY', domain: 'ferry' },
          trigger_id: newTriggerId(),
          actions: [{ action_id: 'ferry_launch_rocket', block_id: 'b', value: 'r1', type: 'button' }],
        }),
      200,
    );
    await h.waitFor(() => h.slack.ephemerals(ALICE).length > before, 'the answer to the click');
    expect(h.slack.ephemerals(ALICE).at(-1)?.text).toContain('not one this Ferry knows');
  });

  it('answers 400 at once to a payload that names no type, or a type Slack does not send', async () => {
    const res = await answered(() => sendInteraction(h.ferry.url, secret, {}), 400);
    expect(res.text).toContain('of a kind Slack sends');
    await answered(() => sendInteraction(h.ferry.url, secret, { type: '"1P{' }), 400);
  });

  it('answers 400, not 500, to a block action Bolt cannot process', async () => {
    await answered(
      () =>
        sendInteraction(h.ferry.url, secret, {
          type: 'block_actions',
          user: { id: ALICE },
          actions: null,
          trigger_id: newTriggerId(),
        }),
      400,
    );
    await answered(() => sendInteraction(h.ferry.url, secret, { type: 'view_submission' }), 400);
  });

  it('answers 400 at once to a shortcut Bolt cannot take apart, rather than leaving it unanswered', async () => {
    await answered(
      () => sendInteraction(h.ferry.url, secret, { type: 'message_action', stray: { toString: 5 } }),
      400,
    );
    await answered(
      () =>
        sendInteraction(h.ferry.url, secret, {
          type: 'block_actions',
          user: { id: ALICE },
          actions: [],
          trigger_id: { toString: 1 },
        }),
      200,
    );
  });

  it('takes a click whose container, channel and user are not what Slack sends without failing', async () => {
    const before = h.logLines.length;
    await answered(
      () =>
        sendInteraction(h.ferry.url, secret, {
          type: 'block_actions',
          user: true,
          container: null,
          channel: { name: 'no id' },
          message: 4,
          trigger_id: newTriggerId(),
          actions: [{ action_id: 'ferry_reject', block_id: 'b', value: 'r1', type: 'button' }],
        }),
      200,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(h.logLines.slice(before).filter((l) => l.includes('"level":50'))).toEqual([]);
  });

  it('replies to a /migrate command that came without a response_url as an ephemeral message', async () => {
    const body = new URLSearchParams({
      command: '/migrate',
      text: 'status',
      user_id: ALICE,
      user_name: 'alice',
      channel_id: CHANNEL,
      team_id: 'T0FERRY',
      trigger_id: newTriggerId(),
    }).toString();
    const before = h.slack.ephemerals(ALICE).length;
    await answered(() => sendSigned(h.ferry.url, secret, body, 'application/x-www-form-urlencoded'), 200);
    await h.waitFor(() => h.slack.ephemerals(ALICE).length > before, 'the ephemeral reply');
    expect(h.slack.ephemerals(ALICE).at(-1)?.text).toContain('There is no active run in this channel');
  });
});
