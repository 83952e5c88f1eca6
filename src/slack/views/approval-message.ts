import type { KnownBlock } from '@slack/types';
import { approverList, shownFor } from '../../engine/policy.ts';
import type { RunState, StepState } from '../../engine/types.ts';
import { ActionId, buttonValue } from '../action-ids.ts';
import { cutMrkdwn, escapeTruncated, mrkdwn, SECTION_MAX, timeOf, truncate, user } from './format.ts';

/** The approval request in the run's thread: what will change, who asked, Approve / Reject. */
export function renderApprovalRequest(
  run: RunState,
  step: StepState,
): { text: string; blocks: KnownBlock[] } {
  // `text` is what notifications show, and Slack parses it too: a title with <!channel> must not ping.
  const text = `${run.id} ${step.id} needs approval: ${escapeTruncated(step.title, 500)}`;
  // The buttons name this request: once it is replaced, they are refused rather than taken for the new one.
  const token = shownFor(step, 'approval');
  return {
    text,
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: cutMrkdwn(
            `✋ *${step.id}* needs approval (${run.service} ${run.environment}, started by ${user(run.startedBy)})\n` +
              `Will change: ${escapeTruncated(step.title, 2000)}${noReturn(step)}\nApprovers: ${mrkdwn(approverList(run))}${tally(step)}`,
            SECTION_MAX,
          ),
        },
      },
      {
        type: 'context',
        elements: [{ type: 'mrkdwn', text: requestTerms(run, step) }],
      },
      {
        type: 'actions',
        block_id: `approval:${step.id}:${step.approvalRequestedAt ?? 0}`,
        elements: [
          {
            type: 'button',
            text: { type: 'plain_text', text: 'Approve' },
            style: 'primary',
            action_id: ActionId.approve,
            value: buttonValue(run.id, step.id, token),
            // Where four eyes apply (production), approving what cannot be undone takes a second look.
            ...(step.irreversible && run.policy.fourEyes
              ? {
                  confirm: {
                    title: { type: 'plain_text' as const, text: truncate(`Approve ${step.id}?`, 100) },
                    text: {
                      type: 'mrkdwn' as const,
                      text: cutMrkdwn(
                        `*${step.id} cannot be undone*: ${escapeTruncated(step.title, 200)}\nOnce it went through, this run can no longer be rolled back.${step.forwardFix ? ` Forward fix: ${escapeTruncated(step.forwardFix, 200)}` : ''}`,
                        300,
                      ),
                    },
                    confirm: { type: 'plain_text' as const, text: 'Approve' },
                    deny: { type: 'plain_text' as const, text: 'Cancel' },
                  },
                }
              : {}),
          },
          {
            type: 'button',
            text: { type: 'plain_text', text: 'Reject' },
            style: 'danger',
            action_id: ActionId.reject,
            value: buttonValue(run.id, step.id, token),
            confirm: {
              title: { type: 'plain_text', text: `Reject ${step.id}?` },
              text: {
                type: 'mrkdwn',
                text: 'The run stops at this step until someone retries, skips it or rolls back.',
              },
              confirm: { type: 'plain_text', text: 'Reject' },
              deny: { type: 'plain_text', text: 'Cancel' },
              style: 'danger',
            },
          },
        ],
      },
    ],
  };
}

/** The point of no return, marked where it is asked for. */
function noReturn(step: StepState): string {
  if (!step.irreversible) return '';
  const fix = step.forwardFix ? ` Forward fix: ${escapeTruncated(step.forwardFix, 500)}` : '';
  return `\n🚧 *Point of no return*: after this, Roll back is no longer offered.${fix}`;
}

/** " · 1 of 2 approvals so far (<@U…>)": only where a step needs more than one. */
function tally(step: StepState): string {
  if (step.approvalsNeeded <= 1) return '';
  const who = step.votes.map((v) => user(v.by)).join(', ');
  return `\nNeeds ${step.approvalsNeeded} different approvers: ${step.votes.length} of ${step.approvalsNeeded} so far${who ? ` (${who})` : ''}`;
}

/** When the request lapses, and the digest of what it asks to approve. */
function requestTerms(run: RunState, step: StepState): string {
  const expires = (step.approvalRequestedAt ?? 0) + run.policy.approvalExpiresMs;
  const content = step.content ? ` · content \`${step.content.digest}\`` : '';
  return `Valid until ${mrkdwn([{ at: expires }])}${content}`;
}

/** Once decided, the buttons give way to who decided what and when. */
export function renderApprovalDecided(
  run: RunState,
  step: StepState,
  since: number,
  /** When the next request for the same step was made, if any: a later decision is not this one's. */
  until = Number.POSITIVE_INFINITY,
): { text: string; blocks: KnownBlock[] } {
  const approval =
    step.approval && step.approval.at >= since && step.approval.at < until ? step.approval : null;
  const outcome = !approval
    ? '⌛ Expired: the run moved on without a decision'
    : approval.decision === 'approved'
      ? `✅ Approved by ${user(approval.by)} at ${timeOf(approval.at)}`
      : approval.decision === 'rejected'
        ? `🛑 Rejected by ${user(approval.by)} at ${timeOf(approval.at)}`
        : approval.decision === 'expired'
          ? `⌛ Expired; asked again at ${timeOf(approval.at)}`
          : `⌛ Withdrawn at ${timeOf(approval.at)}: the run was rolled back, aborted or the step changed`;
  return {
    text: `${run.id} ${step.id}: ${outcome}`,
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `*${step.id}*: ${escapeTruncated(step.title, SECTION_MAX - step.id.length - outcome.length - 5)}\n${outcome}`,
        },
      },
    ],
  };
}
