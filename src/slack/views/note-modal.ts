import type { KnownBlock, ModalView, PlainTextOption } from '@slack/types';
import type { RunSummary } from '../../runs/lookup.ts';
import { CallbackId } from '../action-ids.ts';
import { escapeMrkdwn, timeOf, truncate, user } from './format.ts';

// The Add note modal: from the status message's button (the run is known), or from the message
// shortcut when the channel has no single active run (the person picks it; the message's text is
// filled in). What the submission needs travels in private_metadata.

/** Where the note goes and what it quotes, carried from opening the modal to its submission. */
export interface NoteModalState {
  /** The channel the person acted in. */
  channel: string;
  /** The run, when known; else the modal asks. */
  runId?: string;
  /** The message the note quotes (the shortcut); its text is the input's initial value. */
  source?: { channel: string; ts: string; threadTs?: string; author: string };
}

export const NOTE_BLOCK = 'note';
export const NOTE_INPUT = 'text';
export const RUN_BLOCK = 'run';
export const RUN_INPUT = 'run';
/** Slack's limit on a plain text input, and so on a note written in the modal. */
const NOTE_MAX = 3000;

export function renderNoteModal(
  state: NoteModalState,
  options: { runs?: readonly RunSummary[]; text?: string; describeRun?: string } = {},
): ModalView {
  const blocks: KnownBlock[] = [];
  if (state.runId) {
    blocks.push({
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: `To *${state.runId}*'s timeline${options.describeRun ? ` (${escapeMrkdwn(options.describeRun)})` : ''}: it shows in the run's thread and its report.`,
        },
      ],
    });
  } else {
    const runs = (options.runs ?? []).slice(0, 100);
    blocks.push({
      type: 'input',
      block_id: RUN_BLOCK,
      label: { type: 'plain_text', text: 'Which run?' },
      element: {
        type: 'static_select',
        action_id: RUN_INPUT,
        placeholder: { type: 'plain_text', text: 'Choose a run' },
        options: runs.map((r): PlainTextOption => ({
          text: {
            type: 'plain_text',
            text: truncate(`${r.id} ${r.service} ${r.environment} (${r.status.replace('_', ' ')})`, 75),
          },
          value: r.id,
        })),
      },
    });
  }
  if (state.source)
    blocks.push({
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: `From ${user(state.source.author)}'s message at ${timeOf(tsMs(state.source.ts))}: the note keeps its author and time, and links to it.`,
        },
      ],
    });
  blocks.push({
    type: 'input',
    block_id: NOTE_BLOCK,
    label: { type: 'plain_text', text: 'Note' },
    element: {
      type: 'plain_text_input',
      action_id: NOTE_INPUT,
      multiline: true,
      max_length: NOTE_MAX,
      ...(options.text ? { initial_value: truncate(options.text, NOTE_MAX) } : {}),
      placeholder: { type: 'plain_text', text: 'What did you see or decide?' },
    },
  });
  return {
    type: 'modal',
    callback_id: CallbackId.noteModal,
    title: { type: 'plain_text', text: 'Add a note' },
    submit: { type: 'plain_text', text: 'Add note' },
    close: { type: 'plain_text', text: 'Cancel' },
    private_metadata: JSON.stringify(state),
    blocks,
  };
}

/** The state back from a submission's private_metadata, or null when it is not one of Ferry's. */
export function readNoteModalState(metadata: string | undefined): NoteModalState | null {
  try {
    const value: unknown = JSON.parse(metadata ?? '');
    if (typeof value !== 'object' || value === null) return null;
    const v = value as Record<string, unknown>;
    if (typeof v.channel !== 'string') return null;
    if (v.runId !== undefined && (typeof v.runId !== 'string' || !/^r\d+$/.test(v.runId))) return null;
    const s = v.source as Record<string, unknown> | undefined;
    const source =
      s && typeof s.channel === 'string' && typeof s.ts === 'string' && typeof s.author === 'string'
        ? {
            channel: s.channel,
            ts: s.ts,
            author: s.author,
            ...(typeof s.threadTs === 'string' ? { threadTs: s.threadTs } : {}),
          }
        : undefined;
    return {
      channel: v.channel,
      ...(typeof v.runId === 'string' ? { runId: v.runId } : {}),
      ...(source ? { source } : {}),
    };
  } catch {
    return null;
  }
}

function tsMs(ts: string): number {
  return Math.round(Number(ts) * 1000);
}
