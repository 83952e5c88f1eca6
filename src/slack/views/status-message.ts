import type { ActionsBlock, Button, KnownBlock } from '@slack/types';
import { approverList, shownFor } from '../../engine/policy.ts';
import type { RunState, StepState } from '../../engine/types.ts';
import { formatDuration } from '../../duration.ts';
import type { StepSpec } from '../../plan/schema.ts';
import { ActionId, buttonValue } from '../action-ids.ts';
import {
  clock,
  cutMrkdwn,
  escapeMrkdwn,
  escapeTruncated,
  mrkdwn,
  runLabel,
  SECTION_MAX,
  sectionsOf,
  stepIcon,
  truncate,
  user,
} from './format.ts';

/** Slack's limit on a message's blocks. */
const MAX_BLOCKS = 50;
/** Blocks other than the step lines: header, context, headline, failure, manual and incident sections, 3 action rows. */
const OTHER_BLOCKS = 10;

export interface StepProgress {
  stepId: string;
  text: string;
  fraction: number | null;
}

export interface StatusMessage {
  text: string;
  blocks: KnownBlock[];
}

/**
 * The run's one status message, edited in place: where are we, who is waiting on whom, what can I
 * press. Pure: the same state and time give the same blocks.
 */
export interface OpenIncident {
  severity: string;
  summary: string;
  openedBy: string;
  openedAt: number;
}

export interface StatusExtras {
  /** Live progress of long steps (a drain, DNS propagation). */
  progress?: readonly StepProgress[];
  incidents?: readonly OpenIncident[];
  /** The plan's steps, to tell how long maintenance has been on, jobs paused and crons off. */
  specs?: ReadonlyMap<string, StepSpec>;
}

export function renderStatusMessage(run: RunState, now: number, extras: StatusExtras = {}): StatusMessage {
  const { progress = [], incidents = [], specs } = extras;
  const held = specs ? heldChanges(run, specs, now) : [];
  const current = currentStep(run);
  const position = current ? run.steps.indexOf(current) + 1 : run.steps.length;
  const blocks: KnownBlock[] = [
    {
      type: 'header',
      text: {
        type: 'plain_text',
        text: truncate(
          `${run.service} · ${run.environment} · ${run.id}${run.purpose === 'adhoc' ? ' · ad hoc' : ''}`,
          150,
        ),
      },
    },
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: [
            `Started by ${user(run.startedBy)} at ${clock(run.startedAt)} UTC`,
            runLabel[run.status],
            formatDuration((run.finishedAt ?? now) - run.startedAt),
            ...held,
          ].join(' · '),
        },
      ],
    },
    {
      type: 'section',
      text: { type: 'mrkdwn', text: cutMrkdwn(headline(run, current, position, now), SECTION_MAX) },
    },
    // A long plan spreads its step lines over several sections rather than losing the later ones.
    ...sectionsOf(stepLines(run, progress), MAX_BLOCKS - OTHER_BLOCKS),
  ];
  if (incidents.length > 0) {
    const lines = incidents.map(
      (i) =>
        `🔴 *${escapeMrkdwn(i.severity)} open*: ${escapeMrkdwn(i.summary)} (${user(i.openedBy)}, ${clock(i.openedAt)})`,
    );
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: cutMrkdwn(lines.join('\n'), SECTION_MAX) },
    });
  }

  const failed = run.status === 'failed' ? failedStep(run) : undefined;
  if (failed) {
    const undoing = failed.undo === 'failed';
    const advice = undoing
      ? 'Press *Retry* to try the undo again, *Skip* to leave this change in place and continue the rollback, or *Abort* to stop here.'
      : 'Press *Retry* to run it again, *Skip* to go on without it, or *Roll back* to undo what went through.';
    // A rejection names who rejected it, from the approval: the step's own text names nobody.
    const rejected = failed.approval?.decision === 'rejected' && !undoing ? failed.approval : null;
    const head = rejected
      ? `❌ *${failed.id}* failed: Rejected by ${user(rejected.by)}${rejected.reason ? ': ' : ''}`
      : `❌ *${failed.id}* ${undoing ? 'could not be undone' : 'failed'}: `;
    const error = rejected ? (rejected.reason ?? '') : (failed.error ?? 'unknown error');
    blocks.push(
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `${head}${escapeTruncated(error, SECTION_MAX - head.length - advice.length - 1)}\n${advice}`,
        },
      },
      {
        type: 'actions',
        block_id: `failed:${failed.id}:${failed.attempt}`,
        elements: [
          button(
            'Retry',
            ActionId.retry,
            buttonValue(run.id, failed.id, shownFor(failed, 'failure')),
            'primary',
          ),
          button('Skip', ActionId.skip, buttonValue(run.id, failed.id, shownFor(failed, 'failure'))),
          ...(undoing ? [] : [rollbackButton(run)]),
          abortButton(run),
        ],
      },
    );
  }

  const manual = run.steps.find((s) => s.waitingForPerson && s.status === 'running');
  if (manual && run.status === 'waiting') {
    blocks.push(
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `👤 *${manual.id}*: ${escapeTruncated(manual.title, SECTION_MAX - manual.id.length - 10)}`,
        },
      },
      {
        type: 'actions',
        block_id: `manual:${manual.id}`,
        elements: [
          button('Done', ActionId.done, buttonValue(run.id, manual.id, shownFor(manual, 'done')), 'primary'),
        ],
      },
    );
  }

  if (['running', 'waiting', 'succeeded'].includes(run.status) || (run.status === 'failed' && !failed)) {
    const elements: Button[] = [rollbackButton(run)];
    if (run.status !== 'succeeded') elements.push(abortButton(run));
    blocks.push({ type: 'actions', block_id: `run:${run.id}`, elements } satisfies ActionsBlock);
  } else if (run.status === 'rolling_back') {
    blocks.push({ type: 'actions', block_id: `run:${run.id}`, elements: [abortButton(run)] });
  }
  return { text: `${run.service} ${run.environment} ${run.id}: ${runLabel[run.status]}`, blocks };
}

/** The step whose Retry or Skip the run waits for: a failed undo first, it is what stopped a rollback. */
function failedStep(run: RunState): StepState | undefined {
  return run.steps.find((s) => s.undo === 'failed') ?? run.steps.find((s) => s.status === 'failed');
}

export function currentStep(run: RunState): StepState | undefined {
  return (
    run.steps.find((s) => s.undo !== null) ??
    run.steps.find(
      (s) => s.status === 'running' || s.status === 'awaiting_approval' || s.status === 'failed',
    ) ??
    run.steps.find((s) => s.status === 'pending')
  );
}

function headline(run: RunState, current: StepState | undefined, position: number, now: number): string {
  const total = run.steps.length;
  switch (run.status) {
    case 'succeeded':
      return `✅ All ${total} steps done in ${formatDuration((run.finishedAt ?? now) - run.startedAt)}.`;
    case 'rolled_back':
      return `↩️ Rolled back: every change that went through was undone.`;
    case 'aborted':
      return `⛔ Aborted at step ${position} of ${total}. Nothing more will run; changes made so far stay in place.`;
    case 'rolling_back':
      return `↩️ Rolling back${current?.undo === 'running' ? `: undoing *${current.id}*` : ''}.`;
    case 'failed':
      return current?.undo === 'failed'
        ? `❌ Rolling back stopped: the undo of step ${position} of ${total}, *${current.id}*, failed.`
        : `❌ Step ${position} of ${total}, *${current?.id ?? '?'}*, failed.`;
    case 'waiting':
      if (current?.status === 'awaiting_approval') {
        const asked = current.approvalRequestedAt ? ` (asked ${ago(now - current.approvalRequestedAt)})` : '';
        return `Step ${position} of ${total}, *${current.id}*: waiting for approval from ${mrkdwn(approverList(run))}${asked}`;
      }
      return `Step ${position} of ${total}, *${current?.id ?? '?'}*: waiting for a person to press Done.`;
    case 'running':
      return `Step ${position} of ${total}, *${current?.id ?? '?'}*: running${current && current.attempt > 1 ? ` (attempt ${current.attempt})` : ''}.`;
  }
}

/** Keeps one step's line short enough that 60 steps fit in a handful of sections. */
const STEP_LINE_MAX = 600;

function stepLines(run: RunState, progress: readonly StepProgress[]): string[] {
  return run.steps.map((step) => {
    const icon = step.undo === 'running' ? '↩️⏳' : step.undo === 'failed' ? '↩️❌' : stepIcon[step.status];
    const when = step.finishedAt && step.status !== 'pending' ? `  ${clock(step.finishedAt)}` : '';
    const detail =
      step.status === 'succeeded' || step.status === 'rolled_back'
        ? (step.summary ?? step.title)
        : step.status === 'failed' || step.undo === 'failed'
          ? (step.error ?? step.title)
          : step.title;
    const live = progress.find((p) => p.stepId === step.id && step.status === 'running');
    const approval =
      step.approval && step.approval.decision !== 'cancelled'
        ? `  (${step.approval.decision} by ${user(step.approval.by)})`
        : '';
    const hand = handled(step);
    const byHand = hand && step.actedBy ? `  (${hand} by ${user(step.actedBy)})` : '';
    const line = `${icon} \`${step.id}\`${when}  ${escapeTruncated(detail, 200)}${approval}${byHand}`;
    return cutMrkdwn(live ? `${line}\n      ${escapeTruncated(live.text, 300)}` : line, STEP_LINE_MAX);
  });
}

/** What a person did to a step by hand, as its line says it; approvals say theirs already. */
function handled(step: StepState): string | null {
  if (step.status === 'succeeded' && step.kind === 'manual') return 'confirmed';
  if (step.status === 'skipped') return step.direction === 'undo' ? 'undo skipped' : 'skipped';
  return null;
}

function button(text: string, actionId: string, value: string, style?: 'primary' | 'danger'): Button {
  return {
    type: 'button',
    text: { type: 'plain_text', text },
    action_id: actionId,
    value,
    ...(style ? { style } : {}),
  };
}

function rollbackButton(run: RunState): Button {
  return {
    ...button('Roll back', ActionId.rollback, buttonValue(run.id), 'danger'),
    confirm: {
      title: { type: 'plain_text', text: `Roll back ${run.id}?` },
      text: {
        type: 'mrkdwn',
        text: truncate(
          `Every step of ${run.service} ${run.environment} that went through will be undone, newest first.`,
          300,
        ),
      },
      confirm: { type: 'plain_text', text: 'Roll back' },
      deny: { type: 'plain_text', text: 'Cancel' },
      style: 'danger',
    },
  };
}

function abortButton(run: RunState): Button {
  return {
    ...button('Abort', ActionId.abort, buttonValue(run.id), 'danger'),
    confirm: {
      title: { type: 'plain_text', text: `Abort ${run.id}?` },
      text: {
        type: 'mrkdwn',
        text: 'Nothing more will run, and nothing is undone: changes made so far stay in place.',
      },
      confirm: { type: 'plain_text', text: 'Abort' },
      deny: { type: 'plain_text', text: 'Cancel' },
      style: 'danger',
    },
  };
}

const heldKinds = [
  { label: 'maintenance on', kind: 'maintenance', opens: 'on', closes: 'off' },
  { label: 'jobs paused', kind: 'jobs', opens: 'pause', closes: 'resume' },
  { label: 'crons off', kind: 'crons', opens: 'disable', closes: 'enable' },
] as const;

/** "maintenance on for 6m 12s": what the run switched off or on and has not switched back yet. */
export function heldChanges(run: RunState, specs: ReadonlyMap<string, StepSpec>, now: number): string[] {
  return heldKinds.flatMap(({ label, kind, opens, closes }) => {
    let since: number | null = null;
    for (const step of run.steps) {
      const spec = specs.get(step.id);
      if (!spec || spec.kind !== kind || !('action' in spec) || step.status !== 'succeeded') continue;
      if (spec.action === opens) since ??= step.finishedAt;
      if (spec.action === closes) since = null;
    }
    return since === null ? [] : [`${label} for ${formatDuration(now - since)}`];
  });
}

/** "just now", "3m ago". */
function ago(ms: number): string {
  return ms < 1_000 ? 'just now' : `${formatDuration(ms)} ago`;
}
