import type { KnownBlock } from '@slack/types';
import type { TimelineType } from '../../engine/types.ts';
import type { TimelineEvent } from '../../engine/types.ts';
import { clock, cutMrkdwn, escapeTruncated, sectionsOf, user } from './format.ts';

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
    note: `note${by}${detail}`,
    incident_opened: `incident opened${by}${detail}`,
    incident_resolved: `incident resolved${by}${detail}`,
  };
  // Figures come from adapters (queue names, record values): escaped like any outside text.
  const figures = event.figures
    ? ` (${escapeTruncated(
        Object.entries(event.figures)
          .map(([k, v]) => `${k} ${v}`)
          .join(', '),
        300,
      )})`
    : '';
  return `${icon[event.type]} ${clock(event.at.getTime())} ${what[event.type]}${figures && !detail.includes(figures) ? figures : ''}`;
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
