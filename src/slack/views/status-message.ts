import type { ActionsBlock, Button, KnownBlock } from '@slack/types';
import {
  approverList,
  forwardFixGuidance,
  holdingIncident,
  isActive,
  pointOfNoReturn,
  shownFor,
} from '../../engine/policy.ts';
import type { RunState, StepState, TimelineEvent } from '../../engine/types.ts';
import { formatDuration } from '../../duration.ts';
import type { StepSpec } from '../../plan/schema.ts';
import { expectedEnd, type Forecast } from '../../report/forecast.ts';
import { buildReport } from '../../report/report.ts';
import { oneOf, person, userGroup, type Words } from '../../words.ts';
import { ActionId, buttonValue } from '../action-ids.ts';
import {
  cutMrkdwn,
  escapeMrkdwn,
  escapeTruncated,
  mrkdwn,
  oneLine,
  runLabel,
  SECTION_MAX,
  sectionsOf,
  stepIcon,
  timeOf,
  truncate,
  user,
} from './format.ts';

/** Slack's limit on a message's blocks. */
const MAX_BLOCKS = 50;
/**
 * Blocks other than the step lines: header, headline, incidents and their Go on row, context, the
 * failure and its row, the manual step (or the running watch) and its row, the forward fix, and the
 * run's row.
 */
const OTHER_BLOCKS = 12;
/** A step's line on the status message: glyph, id, time and this much of its summary; the rest is in the thread. */
export const STEP_SUMMARY_MAX = 80;

export interface StepProgress {
  stepId: string;
  text: string;
  fraction: number | null;
}

export interface StatusMessage {
  text: string;
  blocks: KnownBlock[];
}

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
  /** The plan's steps, to tell since when maintenance has been on, jobs paused and crons off. */
  specs?: ReadonlyMap<string, StepSpec>;
  /** The run's timeline, for the downtime as the report counts it (every window maintenance was on). */
  timeline?: readonly TimelineEvent[];
  /** How long the run was expected to take at its start, from earlier runs: "expected done at". */
  forecast?: Forecast | null;
}

/**
 * The run's one status message, edited in place and read at 2 a.m.: one screen for a 12-step plan.
 * A header, a headline (where the run is, who it waits on and since when), open incidents right
 * under it, the run's facts (who started it, what is down since when, or the final totals), then
 * one short line per step. Details and figures go to the thread. Nothing here is a duration that
 * would freeze between edits: times are absolute (Slack date tokens), durations only of what ended.
 * Pure: the same state and time give the same blocks.
 */
export function renderStatusMessage(run: RunState, now: number, extras: StatusExtras = {}): StatusMessage {
  const { progress = [], incidents = [], specs, timeline } = extras;
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
      type: 'section',
      text: { type: 'mrkdwn', text: cutMrkdwn(headline(run, current, position), SECTION_MAX) },
    },
  ];
  if (incidents.length > 0) {
    const lines = incidents.map(
      (i) =>
        `🔴 *${escapeMrkdwn(i.severity)} open*: ${escapeTruncated(i.summary, 300)} (${user(i.openedBy)}, since ${timeOf(i.openedAt)})`,
    );
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: cutMrkdwn(lines.join('\n'), SECTION_MAX) },
    });
  }
  if (holdingIncident(run) && isActive(run.status)) {
    blocks.push({
      type: 'actions',
      block_id: `held:${run.id}`,
      elements: [goOnButton(run)],
    });
  }
  blocks.push(
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: cutMrkdwn(
            [...facts(run, now, specs, timeline), ...expectedDone(run, extras.forecast, now)].join(' · '),
            3000,
          ),
        },
      ],
    },
    // A long plan spreads its step lines over several sections rather than losing the later ones.
    ...sectionsOf(stepLines(run, progress), MAX_BLOCKS - OTHER_BLOCKS),
  );

  // Past an irreversible step that went through, Roll back is gone: the plan's forward fix instead.
  const noReturn = pointOfNoReturn(run);
  const failed = run.status === 'failed' ? failedStep(run) : undefined;
  if (failed) {
    const undoing = failed.undo === 'failed';
    const advice = undoing
      ? 'Press *Retry* to try the undo again, *Skip* to leave this change in place and continue the rollback, or *Abort* to stop here.'
      : noReturn
        ? 'Press *Retry* to run it again or *Skip* to go on without it.'
        : 'Press *Retry* to run it again, *Skip* to go on without it, or *Roll back* to undo what went through.';
    // A rejection names who rejected it, from the approval: the step's own text names nobody.
    const rejected = failed.approval?.decision === 'rejected' && !undoing ? failed.approval : null;
    const head = rejected
      ? `❌ *${failed.id}* failed: Rejected by ${user(rejected.by)}${rejected.reason ? ': ' : ''}`
      : `❌ *${failed.id}* ${undoing ? 'could not be undone' : 'failed'}: `;
    const error = rejected ? (rejected.reason ?? '') : (failed.error ?? 'unknown error');
    // A watch that saw trouble after a change: undoing the change is the likely answer, so Roll back
    // comes first, under the one line that says why (its figures are in the thread).
    const watchTrouble = failed.kind === 'watch' && !undoing && !rejected && !noReturn;
    // The error in full is in the thread; here, enough of it to decide what to press.
    const shown = escapeTruncated(hostsOnlyError(watchTrouble ? error.split('\n')[0]! : error), 300);
    const retry = button(
      'Retry',
      ActionId.retry,
      buttonValue(run.id, failed.id, shownFor(failed, 'failure')),
      watchTrouble ? undefined : 'primary',
    );
    const skip = button('Skip', ActionId.skip, buttonValue(run.id, failed.id, shownFor(failed, 'failure')));
    blocks.push(
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: cutMrkdwn(`${head}${shown}\n${watchTrouble ? watchAdvice : advice}`, SECTION_MAX),
        },
      },
      {
        type: 'actions',
        block_id: `failed:${failed.id}:${failed.attempt}`,
        elements: watchTrouble
          ? [rollbackButton(run), retry, skip, abortButton(run)]
          : [retry, skip, ...(undoing || noReturn ? [] : [rollbackButton(run)]), abortButton(run)],
      },
    );
  }

  const watching = run.steps.find(
    (s) => s.kind === 'watch' && s.status === 'running' && s.direction === 'do',
  );
  if (watching && run.status === 'running') blocks.push(...watchBlocks(run, watching, specs));

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

  // Add note on every run: what someone saw belongs in the timeline during the run and after it.
  const elements: Button[] = [];
  const mayRollBack =
    ['running', 'waiting', 'succeeded'].includes(run.status) || (run.status === 'failed' && !failed);
  if (mayRollBack && !noReturn) elements.push(rollbackButton(run));
  if (noReturn && (mayRollBack || failed)) {
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: cutMrkdwn(`🚧 ${mrkdwn(forwardFixGuidance(noReturn))}`, SECTION_MAX) },
    });
  }
  if (['running', 'waiting', 'rolling_back'].includes(run.status) || (run.status === 'failed' && !failed))
    elements.push(abortButton(run));
  elements.push(button('Add note', ActionId.addNote, buttonValue(run.id)));
  blocks.push({ type: 'actions', block_id: `run:${run.id}`, elements } satisfies ActionsBlock);
  return { text: `${run.service} ${run.environment} ${run.id}: ${runLabel[run.status]}`, blocks };
}

const watchAdvice =
  'Press *Roll back* to undo what went through, *Retry* to watch again, or *Skip* to go on despite it.';

/**
 * A running watch: until when it watches, and Looks good for a person who has seen enough to end it
 * early. Its figures are on its step line, edited as samples come in.
 */
function watchBlocks(
  run: RunState,
  step: StepState,
  specs: ReadonlyMap<string, StepSpec> | undefined,
): KnownBlock[] {
  const spec = specs?.get(step.id);
  const until =
    spec?.kind === 'watch' && step.startedAt !== null ? ` until ${timeOf(step.startedAt + spec.for)}` : '';
  return [
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `👀 *${step.id}* watches${until}; press *Looks good* to end it early and go on.`,
      },
    },
    {
      type: 'actions',
      block_id: `watch:${step.id}`,
      elements: [
        button(
          'Looks good',
          ActionId.looksGood,
          buttonValue(run.id, step.id, shownFor(step, 'done')),
          'primary',
        ),
      ],
    },
  ];
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

/**
 * Who may press Done, Retry or Skip, as `engine/policy.operateRefusal` judges it: the plan's
 * starters, whoever started the run, and the plan's approvers; anyone when it names no starters.
 */
function operators(run: RunState, nobody: string): Words {
  const { starters, approverUsers, approverGroups } = run.policy;
  if (starters.length === 0) return [nobody];
  const users = [...new Set([...starters, run.startedBy, ...approverUsers])];
  return oneOf([...users.map((u) => [person(u)]), ...approverGroups.map((g) => [userGroup(g)])]);
}

/** Where the run is and who it waits on, since when: the line a responder reads first. */
function headline(run: RunState, current: StepState | undefined, position: number): string {
  const total = run.steps.length;
  const since = (at: number | null) => (at === null ? '' : ` since ${timeOf(at)}`);
  switch (run.status) {
    case 'succeeded':
      return `✅ All ${total} steps done in ${formatDuration((run.finishedAt ?? run.startedAt) - run.startedAt)}.`;
    case 'rolled_back':
      return `↩️ Rolled back: every change that went through was undone.`;
    case 'aborted':
      return `⛔ Aborted at step ${position} of ${total}. Nothing more will run; changes made so far stay in place.`;
    case 'rolling_back':
      return `↩️ Rolling back${current?.undo === 'running' ? `: undoing *${current.id}*${since(current.startedAt)}` : ''}.`;
    case 'failed':
      return current?.undo === 'failed'
        ? `❌ Rolling back stopped: the undo of step ${position} of ${total}, *${current.id}*, failed${since(current.finishedAt)}; waiting for ${mrkdwn(operators(run, 'anyone'))} to press Retry, Skip or Abort.`
        : `❌ Step ${position} of ${total}, *${current?.id ?? '?'}*, failed${since(current?.finishedAt ?? null)}; waiting for ${mrkdwn(operators(run, 'anyone'))} to press ${pointOfNoReturn(run) ? 'Retry or Skip' : 'Retry, Skip or Roll back'}.`;
    case 'waiting': {
      const incident = holdingIncident(run);
      if (incident) {
        return `🔴 Held by ${escapeMrkdwn(incident.severity)} before step ${position} of ${total}, *${current?.id ?? '?'}*: nothing more starts until the incident is resolved or someone presses Go on despite the incident.`;
      }
      if (current?.status === 'awaiting_approval') {
        const votes =
          current.approvalsNeeded > 1
            ? ` (${current.votes.length} of ${current.approvalsNeeded} so far)`
            : '';
        return `✋ Step ${position} of ${total}, *${current.id}*: waiting for approval from ${mrkdwn(approverList(run))}${since(current.approvalRequestedAt)}${votes}.`;
      }
      return `👤 Step ${position} of ${total}, *${current?.id ?? '?'}*: waiting for a person to press Done (${mrkdwn(operators(run, 'anyone in the channel'))})${since(current?.startedAt ?? null)}.`;
    }
    case 'running':
      return `⏳ Step ${position} of ${total}, *${current?.id ?? '?'}*: running${since(current?.startedAt ?? null)}${current && current.attempt > 1 ? ` (attempt ${current.attempt})` : ''}.`;
  }
}

/**
 * The run's facts under the headline: who started it and when; while it is active, what it has
 * switched off and since when (maintenance on is the downtime so far); once it ended, the totals.
 */
function facts(
  run: RunState,
  now: number,
  specs: ReadonlyMap<string, StepSpec> | undefined,
  timeline: readonly TimelineEvent[] | undefined,
): string[] {
  const out = [`Started by ${user(run.startedBy)} at ${timeOf(run.startedAt)}`];
  const held = specs ? heldSince(run, specs) : [];
  const downtime = specs && timeline ? buildReport(run, specs, timeline, now).downtime : null;
  if (run.finishedAt === null) {
    out.push(runLabel[run.status]);
    out.push(...held.map((h) => `${h.label} since ${timeOf(h.since)}`));
    // Maintenance went on and off again earlier in this run: that part of the downtime is final.
    if (downtime && downtime.ms !== null) {
      const open = downtime.windows.find((w) => w.to === null);
      const closed = downtime.ms - (open ? now - Date.parse(open.from) : 0);
      if (closed >= 1_000) out.push(`downtime ${formatDuration(closed)}${open ? ' before that' : ' so far'}`);
    }
    return out;
  }
  out.push(`${runLabel[run.status]} at ${timeOf(run.finishedAt)}`);
  out.push(`took ${formatDuration(run.finishedAt - run.startedAt)}`);
  if (downtime && downtime.ms !== null) out.push(`downtime ${formatDuration(downtime.ms)}`);
  // What the run switched off and, by design or not, left that way (old workers stopped for good).
  if (held.length > 0) out.push(`left in place: ${held.map((h) => h.label).join(', ')}`);
  return out;
}

function stepLines(run: RunState, progress: readonly StepProgress[]): string[] {
  return run.steps.map((step) => {
    const icon = step.undo === 'running' ? '↩️⏳' : step.undo === 'failed' ? '↩️❌' : stepIcon[step.status];
    const when = step.finishedAt && step.status !== 'pending' ? ` ${timeOf(step.finishedAt)}` : '';
    const detail =
      step.status === 'succeeded' || step.status === 'rolled_back'
        ? (step.summary ?? step.title)
        : step.status === 'failed' || step.undo === 'failed'
          ? (step.error ?? step.title)
          : step.title;
    const live = progress.find((p) => p.stepId === step.id && step.status === 'running');
    const approval =
      step.approval && step.approval.decision !== 'cancelled'
        ? ` (${step.approval.decision} by ${user(step.approval.by)})`
        : '';
    // The point of no return is marked until it is passed; after, the guidance replaces Roll back.
    const mark = step.irreversible && step.status !== 'succeeded' ? ' · 🚧 point of no return' : '';
    const hand = handled(step);
    const byHand = hand && step.actedBy ? ` (${hand} by ${user(step.actedBy)})` : '';
    // A running step's live progress replaces its title: the title's figures were read at start
    // ("now 196 enqueued") and would go stale while the queue drains.
    const shown = live ? live.text : detail;
    // Who approved or acted shares the line's budget, so the line stays one line on a phone.
    const budget = Math.max(30, STEP_SUMMARY_MAX - shownLength(approval + byHand + mark));
    return `${icon} \`${step.id}\`${when}  ${escapeMrkdwn(oneLine(shown, budget))}${approval}${byHand}${mark}`;
  });
}

/** About how long mrkdwn looks on screen: a mention shows as a name (counted as 10 characters). */
function shownLength(text: string): number {
  return text.replace(/<@[A-Z0-9]+>/g, '@' + 'x'.repeat(9)).length;
}

/** An error as the failure section shows it: host names instead of full URLs. */
function hostsOnlyError(error: string): string {
  return error
    .split('\n')
    .map((line) => oneLine(line, 1_000))
    .join('\n');
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

/** Releases a run an incident holds; the incident stays open, and who pressed it is recorded. */
function goOnButton(run: RunState): Button {
  return {
    ...button('Go on despite the incident', ActionId.goOn, buttonValue(run.id)),
    confirm: {
      title: { type: 'plain_text', text: `Go on with ${run.id}?` },
      text: {
        type: 'mrkdwn',
        text: 'The incident stays open; the run moves on to its next step, and the timeline records that you chose to.',
      },
      confirm: { type: 'plain_text', text: 'Go on' },
      deny: { type: 'plain_text', text: 'Cancel' },
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

/** What the run switched off (or maintenance on) and has not switched back, since when. */
export function heldSince(
  run: RunState,
  specs: ReadonlyMap<string, StepSpec>,
): Array<{ label: string; since: number }> {
  return heldKinds.flatMap(({ label, kind, opens, closes }) => {
    let since: number | null = null;
    for (const step of run.steps) {
      const spec = specs.get(step.id);
      if (!spec || spec.kind !== kind || !('action' in spec) || step.status !== 'succeeded') continue;
      if (spec.action === opens) since ??= step.finishedAt;
      if (spec.action === closes) since = null;
    }
    return since === null ? [] : [{ label, since }];
  });
}

/**
 * While the run goes forward: when it is now expected to be done, beside when the forecast said at
 * its start, so a run drifting long shows long before it breaches its window.
 */
function expectedDone(run: RunState, forecast: Forecast | null | undefined, now: number): string[] {
  const end = forecast ? expectedEnd(run, forecast, now) : null;
  return end ? [`expected done at ${timeOf(end.expected)} (forecast ${timeOf(end.forecast)})`] : [];
}
