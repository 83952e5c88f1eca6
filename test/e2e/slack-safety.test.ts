import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionId } from '../../src/slack/action-ids.ts';
import { newTriggerId, sendSlashCommand } from '../../src/sandbox/signed-request.ts';
import {
  ALICE,
  BOB,
  CHANNEL,
  hasButton,
  readable,
  startHarness,
  type Harness,
} from '../support/ferry-harness.ts';
import { readTimeline } from '../../src/store/runs.ts';
import { listRuns } from '../../src/runs/lookup.ts';

const plan = `
service: billing
approvers: { users: [U02BOB] }
environments:
  staging:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on, approval: required,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
      - { id: maintenance-off, kind: maintenance, action: off,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
`;

describe('requests Slack did not sign, repeated deliveries and double clicks', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ plan });
  });
  afterAll(async () => {
    await h?.stop();
  });

  const command = (opts: { signature?: string; timestamp?: number; retryNum?: number; triggerId?: string }) =>
    sendSlashCommand(
      h.ferry.url,
      'the-signing-secret-is-not-this',
      {
        command: '/migrate',
        text: 'start billing staging',
        user_id: ALICE,
        user_name: 'alice',
        channel_id: CHANNEL,
        team_id: 'T0FERRY',
        response_url: h.slack.responseUrlFor({ channel: CHANNEL, user: ALICE }),
        trigger_id: opts.triggerId ?? newTriggerId(),
      },
      opts,
    );

  it('answers a forged signature with 401 and records nothing', async () => {
    const res = await command({});
    expect(res.status).toBe(401);
    await new Promise((r) => setTimeout(r, 200));
    expect(await listRuns(h.ferry.runs)).toEqual([]);
    expect(h.slack.callsTo('chat.postMessage')).toEqual([]);
  });

  it('answers a request signed more than five minutes ago with 401 and records nothing', async () => {
    const res = await h.command(ALICE, 'start billing staging', {
      timestamp: Math.floor(Date.now() / 1000) - 6 * 60,
    });
    expect(res.status).toBe(401);
    await new Promise((r) => setTimeout(r, 200));
    expect(await listRuns(h.ferry.runs)).toEqual([]);
  });

  it('gives one effect for a slash command that Slack delivers twice', async () => {
    const triggerId = newTriggerId();
    const first = await h.command(ALICE, 'start billing staging', { triggerId });
    const retry = await h.command(ALICE, 'start billing staging', { triggerId, retryNum: 1 });
    expect([first.status, retry.status]).toEqual([200, 200]);
    await h.waitFor(() => h.thread().find((t) => hasButton(t, ActionId.approve)), 'the approval request');
    await new Promise((r) => setTimeout(r, 200));
    expect((await listRuns(h.ferry.runs)).length).toBe(1);
    expect(h.responses(ALICE).join('\n')).not.toContain('already has an active run');
  });

  it('records one note when Slack delivers the same command twice at the same instant', async () => {
    // A note is not refused by the run's state the way a second start is: only the delivery key
    // keeps the second copy from counting, although both are acknowledged before it is recorded.
    const triggerId = newTriggerId();
    const [first, retry] = await Promise.all([
      h.command(ALICE, 'note the same delivery twice', { triggerId }),
      h.command(ALICE, 'note the same delivery twice', { triggerId, retryNum: 1 }),
    ]);
    expect([first.status, retry.status]).toEqual([200, 200]);
    const [run] = await listRuns(h.ferry.runs);
    await h.waitFor(() => h.responses(ALICE).some((t) => t.includes('Noted on')), 'the note to be taken');
    await new Promise((r) => setTimeout(r, 300));
    const notes = (await readTimeline(h.ferry.db, run!.id)).filter((e) => e.type === 'note');
    expect(notes).toHaveLength(1);
    expect(h.responses(ALICE).filter((t) => t.includes('Noted on'))).toHaveLength(1);
  });

  it('approves once when an approver double-clicks, and tells them the second click changed nothing', async () => {
    const approval = h.thread().find((t) => hasButton(t, ActionId.approve))!;
    const [a, b] = await Promise.all([
      h.click(BOB, approval, ActionId.approve),
      h.click(BOB, approval, ActionId.approve),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    await h.waitFor(() => readable(h.statusMessage()).includes('All 2 steps done'), 'the run to finish');
    const [run] = await listRuns(h.ferry.runs);
    const approvals = (await readTimeline(h.ferry.db, run!.id)).filter((e) => e.type === 'approved');
    expect(approvals).toHaveLength(1);
    await h.waitFor(
      () => h.responses(BOB).some((t) => t.includes('no longer waits for approval')),
      'the second click to be refused',
    );
    // maintenance on once, off once: two writes, not three.
    expect(h.maintenance.state('billing')).toEqual({ enabled: false, writes: 2 });
  });
});
