import type { KnownBlock } from '@slack/types';
import { approverList } from '../../engine/policy.ts';
import type { RunState, TimelineEvent, TimelineType } from '../../engine/types.ts';
import { figureSentence } from './figures.ts';
import { cutMrkdwn, escapeMrkdwn, escapeTruncated, mrkdwn, sectionsOf, timeOf, user } from './format.ts';

const icon: Record<TimelineType, string> = {
  run_started: '🚀',
  approval_requested: '✋',
  approved: '✅',
  rejected: '🛑',
  refused: '🚫',
  step_started: '▶️',
  step_retrying: '🔁',
  step_succeeded: '✅',
  step_failed: '❌',
  step_skipped: '⏭️',
  step_retried: '🔁',
  waiting_for_person: '👤',
  step_done: '✅',
  rollback_started: '↩️',
  undo_started: '↩️',
  undo_succeeded: '↩️',
  undo_failed: '❌',
  undo_skipped: '⏭️',
  run_succeeded: '🏁',
  run_rolled_back: '🏁',
  run_aborted: '⛔',
  note: '📝',
  incident_opened: '🔴',
  incident_resolved: '🟢',
  run_held: '⏸️',
  incident_overridden: '⚠️',
  reminder: '⏰',
  step_progress: '👀',
  watch_ended: '✅',
  window_overridden: '⚠️',
};

/** One line per timeline event, as incident responders read it in the thread. */
export function timelineLine(event: TimelineEvent): string {
  const step = event.stepId ? `\`${event.stepId}\` ` : '';
  const by = event.actor ? ` by ${user(event.actor)}` : '';
  const detail = event.detail ? `: ${escapeTruncated(event.detail, 500)}` : '';
  const what: Record<TimelineType, string> = {
    run_started: `run started${by}`,
    approval_requested: `${step}waits for approval`,
    approved: `${step}approved${by}`,
    rejected: `${step}rejected${by}${detail}`,
    refused: `${step}refused${by}${detail}`,
    step_started: `${step}started`,
    step_retrying: `${step}will retry${detail}`,
    step_succeeded: `${step}succeeded${detail}`,
    step_failed: `${step}failed${detail}`,
    step_skipped: `${step}skipped${by}`,
    step_retried: `${step}retried${by}`,
    waiting_for_person: `${step}waits for a person to press Done`,
    step_done: `${step}marked done${by}`,
    rollback_started: `rollback started${by}`,
    undo_started: `${step}undo started`,
    undo_succeeded: `${step}undone${detail}`,
    undo_failed: `${step}undo failed${detail}`,
    undo_skipped: `${step}undo skipped${by}`,
    run_succeeded: 'run succeeded',
    run_rolled_back: 'run rolled back',
    run_aborted: `run aborted${by}`,
    note: noteLine(event, by, detail),
    incident_opened: `incident opened${by}${detail}`,
    incident_resolved: `incident resolved${by}${detail}`,
    run_held: `run held until the incident is resolved${detail}`,
    incident_overridden: `${step}${event.detail ? escapeTruncated(event.detail, 500) : 'went on despite the incident'}${by}`,
    reminder: `${step}${event.detail === 'done' ? 'still waits for Done: reminded' : 'still waits for approval: reminded the approvers'}`,
    step_progress: `${step}${event.detail ? escapeTruncated(event.detail, 500) : 'in progress'}`,
    watch_ended: `${step}watch ended early by ${event.actor ? user(event.actor) : 'someone'}: looks good`,
    window_overridden: `change window overridden${by}${detail}`,
  };
  // Figures as sentences, leaving out what the summary says already. They come from adapters (queue
  // names, record values): escaped like any outside text.
  const sentence = figureSentence(event.figures, event.detail ?? '');
  const figures = sentence ? ` (${escapeTruncated(sentence, 300)})` : '';
  return `${icon[event.type]} ${timeOf(event.at.getTime())} ${what[event.type]}${figures}`;
}

/**
 * A note: who wrote it, and, for one taken from a message (a 📌, the shortcut), when they wrote it,
 * who added it when that was someone else, and a link to the message.
 */
function noteLine(event: TimelineEvent, by: string, detail: string): string {
  const source = event.source;
  if (!source) return `note${by}${detail}`;
  const addedBy = event.actor && event.actor !== source.author ? `, added by ${user(event.actor)}` : '';
  // Slack's permalinks are plain https URLs; anything else is not made a link.
  const link =
    source.link && /^https?:\/\/[^\s<>|]+$/.test(source.link) ? ` <${source.link}|(the message)>` : '';
  return `note by ${user(escapeMrkdwn(source.author))} (written ${timeOf(source.at)}${addedBy})${detail}${link}`;
}

/** Slack's limit on a message's blocks. */
const MAX_BLOCKS = 50;

export function renderTimelineReply(events: readonly TimelineEvent[]): {
  text: string;
  blocks: KnownBlock[];
} {
  const lines = events.map(timelineLine);
  // A coalesced batch can be longer than one section: cutting it at 3000 characters would drop
  // events from the thread while marking them posted.
  return {
    text: cutMrkdwn(lines.join('\n'), 3000),
    blocks: sectionsOf(lines, MAX_BLOCKS),
  };
}

/**
 * A message that also carries the timeline events just before it (an approval request in a busy
 * channel, where a reply of their own would cost the request a post): their lines first, in order,
 * then the message. Its `text`, what notifications show, stays the message's own.
 */
export function withEarlierEvents(
  events: readonly TimelineEvent[],
  view: { text: string; blocks: KnownBlock[] },
): { text: string; blocks: KnownBlock[] } {
  if (events.length === 0) return view;
  return {
    text: view.text,
    blocks: [...sectionsOf(events.map(timelineLine), MAX_BLOCKS - view.blocks.length), ...view.blocks],
  };
}

/**
 * A reminder, posted on its own: it names the people it is for, so Slack notifies them (the approvers
 * for an approval, the run's starter for a Done).
 */
export function renderReminder(run: RunState, event: TimelineEvent): { text: string; blocks: KnownBlock[] } {
  const step = run.steps.find((s) => s.id === event.stepId);
  const id = `\`${escapeMrkdwn(event.stepId ?? '?')}\``;
  const text =
    event.detail === 'done'
      ? `⏰ ${id} has waited since ${timeOf(step?.startedAt ?? event.at.getTime())} for someone to press Done: ${user(run.startedBy)}, is it done?`
      : `⏰ ${id} has waited for approval since ${timeOf(step?.approvalRequestedAt ?? event.at.getTime())}: ${mrkdwn(approverList(run))}, please approve or reject it above.`;
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: cutMrkdwn(text, 3000) } }] };
}
