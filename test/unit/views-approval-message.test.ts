import type { ActionsBlock, Button, SectionBlock } from '@slack/types';
import { describe, expect, it } from 'vitest';
import { validateBlocks } from '../../src/sandbox/fake-slack.ts';
import { ActionId } from '../../src/slack/action-ids.ts';
import { renderApprovalDecided, renderApprovalRequest } from '../../src/slack/views/approval-message.ts';
import { carol, Scenario } from '../support/engine-fixtures.ts';

function cutoverWaiting(): Scenario {
  const s = Scenario.of({ steps: ['maintenance', { id: 'cutover', kind: 'dns', approval: true }, 'flag'] });
  s.start();
  s.tick(4_000).succeed('maintenance');
  return s;
}

const sectionText = (blocks: readonly unknown[]): string =>
  (blocks as SectionBlock[])
    .filter((b) => b.type === 'section')
    .map((b) => b.text?.text ?? '')
    .join('\n');

describe('renderApprovalRequest', () => {
  it('says what will change, who started the run, who may approve, with Approve and Reject', () => {
    const s = cutoverWaiting();
    const step = s.step('cutover');
    const view = renderApprovalRequest(s.state, step);
    expect(validateBlocks(view.blocks)).toEqual([]);
    const text = sectionText(view.blocks);
    expect(text).toContain('✋ *cutover* needs approval (billing production, started by <@U01ALICE>)');
    expect(text).toContain('Will change: dns cutover');
    expect(text).toContain('Approvers: <@U02BOB> or <!subteam^S0PLATFORM>');
    const actions = view.blocks.find((b): b is ActionsBlock => b.type === 'actions')!;
    const [approve, reject] = actions.elements as Button[];
    // Both name this request (`q` and when it was asked, in base 36): a later request refuses them.
    const token = `q${step.approvalRequestedAt!.toString(36)}`;
    expect(approve).toMatchObject({
      text: { text: 'Approve' },
      action_id: ActionId.approve,
      value: `r12:cutover:${token}`,
      style: 'primary',
    });
    expect(reject).toMatchObject({
      text: { text: 'Reject' },
      action_id: ActionId.reject,
      value: `r12:cutover:${token}`,
      style: 'danger',
      confirm: { confirm: { text: 'Reject' }, deny: { text: 'Cancel' }, style: 'danger' },
    });
    expect(view.text).toBe('r12 cutover needs approval: dns cutover');
  });

  it('gives each request its own block id, so a re-request after Retry is a new block', () => {
    const s = cutoverWaiting();
    const first = renderApprovalRequest(s.state, s.step('cutover'));
    s.reject('cutover');
    s.tick(60_000).retry('cutover');
    const second = renderApprovalRequest(s.state, s.step('cutover'));
    const id = (v: typeof first) => v.blocks.find((b) => b.type === 'actions')!.block_id;
    expect(id(first)).not.toBe(id(second));
  });

  it('escapes a hostile step title in the blocks and in the notification text, and stays within limits', () => {
    const s = cutoverWaiting();
    const title = `<!channel> ${'<b>&'.repeat(2000)}`;
    const step = { ...s.step('cutover'), title };
    const view = renderApprovalRequest(s.state, step);
    expect(validateBlocks(view.blocks)).toEqual([]);
    expect(sectionText(view.blocks)).not.toContain('<!channel>');
    expect(view.text).not.toContain('<!channel>');
    expect(view.text).toContain('&lt;!channel&gt;');
  });
});

describe('renderApprovalDecided', () => {
  it('replaces the buttons with who approved and when', () => {
    const s = cutoverWaiting();
    const askedAt = s.step('cutover').approvalRequestedAt!;
    s.tick(66_000).approve('cutover', carol);
    const view = renderApprovalDecided(s.state, s.step('cutover'), askedAt);
    expect(validateBlocks(view.blocks)).toEqual([]);
    expect(view.blocks.some((b) => b.type === 'actions')).toBe(false);
    // A Slack date token: each reader sees the time in their own zone, UTC where Slack cannot.
    const at = `<!date^${Math.floor(s.step('cutover').approval!.at / 1000)}^{time}|02:01 UTC>`;
    expect(sectionText(view.blocks)).toBe(`*cutover*: dns cutover\n✅ Approved by <@U03CAROL> at ${at}`);
    expect(view.text).toBe(`r12 cutover: ✅ Approved by <@U03CAROL> at ${at}`);
  });

  it('says who rejected and when', () => {
    const s = cutoverWaiting();
    const askedAt = s.step('cutover').approvalRequestedAt!;
    s.tick(1_000).reject('cutover');
    const view = renderApprovalDecided(s.state, s.step('cutover'), askedAt);
    expect(sectionText(view.blocks)).toContain('🛑 Rejected by <@U02BOB> at <!date^');
  });

  it('says the request was withdrawn when the run was rolled back or aborted before a decision', () => {
    const s = cutoverWaiting();
    const askedAt = s.step('cutover').approvalRequestedAt!;
    s.tick(2_000).abort();
    const view = renderApprovalDecided(s.state, s.step('cutover'), askedAt);
    expect(sectionText(view.blocks)).toContain(
      '|02:00 UTC>: the run was rolled back, aborted or the step changed',
    );
  });

  it('says a request expired when no decision was made on it', () => {
    const s = cutoverWaiting();
    const firstAsked = s.step('cutover').approvalRequestedAt!;
    s.reject('cutover');
    s.tick(60_000).retry('cutover');
    // Retry asks again: the step has no decision now, so the first request closes as expired.
    expect(s.step('cutover').approval).toBeNull();
    const view = renderApprovalDecided(s.state, s.step('cutover'), firstAsked);
    expect(sectionText(view.blocks)).toContain('⌛ Expired: the run moved on without a decision');
  });

  it('credits a decision on a repeated request to that request', () => {
    const s = cutoverWaiting();
    const firstAsked = s.step('cutover').approvalRequestedAt!;
    s.reject('cutover');
    s.tick(60_000).retry('cutover');
    const secondAsked = s.step('cutover').approvalRequestedAt!;
    s.tick(1_000).approve('cutover');
    expect(sectionText(renderApprovalDecided(s.state, s.step('cutover'), secondAsked).blocks)).toContain(
      'Approved by <@U02BOB>',
    );
    expect(firstAsked).toBeLessThan(secondAsked);
  });
});

describe('an irreversible step asked for', () => {
  function irreversibleCutover(environment: string, forwardFix: string | null): Scenario {
    const s = Scenario.of({
      steps: ['maintenance', { id: 'cutover', kind: 'dns', approval: true }],
      environment,
    });
    s.state = {
      ...s.state,
      steps: s.state.steps.map((st) =>
        st.id === 'cutover' ? { ...st, irreversible: true, forwardFix } : st,
      ),
    };
    s.start();
    s.succeed('maintenance');
    return s;
  }

  it('marks the point of no return, and asks to confirm the approval in production', () => {
    const s = irreversibleCutover('production', 'point the CNAME at the old platform by hand');
    const view = renderApprovalRequest(s.state, s.step('cutover'));
    expect(validateBlocks(view.blocks)).toEqual([]);
    expect(sectionText(view.blocks)).toContain(
      '🚧 *Point of no return*: after this, Roll back is no longer offered. Forward fix: point the CNAME at the old platform by hand',
    );
    const [approve] = view.blocks.find((b): b is ActionsBlock => b.type === 'actions')!.elements as Button[];
    expect(approve).toMatchObject({
      text: { text: 'Approve' },
      confirm: {
        title: { text: 'Approve cutover?' },
        confirm: { text: 'Approve' },
        deny: { text: 'Cancel' },
      },
    });
    expect(approve!.confirm!.text.text).toMatch(
      /^\*cutover cannot be undone\*: dns cutover\nOnce it went through/,
    );
  });

  it('approves with one click where four eyes do not apply (staging), still marked', () => {
    const s = irreversibleCutover('staging', null);
    const view = renderApprovalRequest(s.state, s.step('cutover'));
    expect(sectionText(view.blocks)).toContain(
      '🚧 *Point of no return*: after this, Roll back is no longer offered.',
    );
    const [approve] = view.blocks.find((b): b is ActionsBlock => b.type === 'actions')!.elements as Button[];
    expect(approve!.confirm).toBeUndefined();
  });
});
