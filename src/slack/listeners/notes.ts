import type { App, BlockAction, ButtonAction, MessageShortcut, ViewSubmitAction } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import { toFerryError } from '../../errors.ts';
import type { RunsDeps } from '../../runs/deps.ts';
import { showRun } from '../../runs/lookup.ts';
import {
  addNote,
  runForMessage,
  runsToNoteIn,
  type NoteMessage,
  type NoteOutcome,
} from '../../runs/notes.ts';
import { ActionId, CallbackId, parseButtonValue } from '../action-ids.ts';
import { isFirstDelivery } from '../deliveries.ts';
import type { Permalinks } from '../permalinks.ts';
import { dayTimeOf, user } from '../views/format.ts';
import {
  NOTE_BLOCK,
  NOTE_INPUT,
  readNoteModalState,
  renderNoteModal,
  RUN_BLOCK,
  RUN_INPUT,
  type NoteModalState,
} from '../views/note-modal.ts';
import { failureReply } from './failures.ts';

// Notes from every door but the slash command: the status message's Add note button (a modal), the
// message shortcut "Add to migration timeline", and a 📌 reaction. Each acks first, then records.

export interface NoteDeps {
  runs: RunsDeps;
  log: Logger;
  permalinks: Permalinks;
}

/** The reaction that makes a message a note. */
export const PIN_REACTION = 'pushpin';

export function registerNotes(app: App, deps: NoteDeps): void {
  // The status message's Add note: a modal for the run the button names.
  app.action<BlockAction<ButtonAction>>(ActionId.addNote, async ({ ack, body, action, client, context }) => {
    await ack();
    // The modal must open within 3 s of the click: no waiting behind other requests' replies.
    if (!(await isFirstDelivery(context, { withoutTurn: true }))) return;
    const target = parseButtonValue(action.value);
    // Read defensively, as the other buttons are: a signed payload need not hold what Slack sends.
    const container = body.container as { channel_id?: unknown } | undefined;
    const channel = body.channel?.id ?? container?.channel_id;
    if (!target || typeof channel !== 'string') return;
    try {
      const run = await showRun(deps.runs, target.runId);
      await client.views.open({
        trigger_id: body.trigger_id,
        view: renderNoteModal(
          { channel, runId: target.runId },
          { describeRun: `${run.state.service} ${run.state.environment}` },
        ),
      });
    } catch (error) {
      await tell(
        client,
        deps.log,
        channel,
        body.user.id,
        failureReply(error, deps.log, 'opening the note form'),
      );
    }
  });

  // The modal's submission: the note, in the run named or picked.
  app.view<ViewSubmitAction>(CallbackId.noteModal, async ({ ack, body, view, client, context }) => {
    const state = readNoteModalState(view.private_metadata);
    const text = view.state.values[NOTE_BLOCK]?.[NOTE_INPUT]?.value?.trim() ?? '';
    const picked = view.state.values[RUN_BLOCK]?.[RUN_INPUT]?.selected_option?.value ?? undefined;
    const runId = state?.runId ?? picked;
    if (!state || !text || !runId) {
      await ack({
        response_action: 'errors',
        errors: !text
          ? { [NOTE_BLOCK]: 'Write the note.' }
          : { [RUN_BLOCK]: 'Choose the run the note is for.' },
      });
      return;
    }
    await ack();
    if (!(await isFirstDelivery(context))) return;
    const who = body.user.id;
    try {
      const source = state.source ? await noteMessage(deps, state.source) : undefined;
      const outcome = await addNote(deps.runs, {
        user: who,
        channel: state.channel,
        text,
        runId,
        ...(source ? { source } : {}),
      });
      await tell(client, deps.log, state.channel, who, outcomeText(outcome));
    } catch (error) {
      await tell(client, deps.log, state.channel, who, failureReply(error, deps.log, 'adding your note'));
    }
  });

  // "Add to migration timeline" on any message: the channel's run, or the person picks one.
  app.shortcut<MessageShortcut>(
    CallbackId.addToTimeline,
    async ({ ack, shortcut, client, respond, context }) => {
      await ack();
      // It may open a modal (the person picks the run), which Slack allows within 3 s of the trigger.
      if (!(await isFirstDelivery(context, { withoutTurn: true }))) return;
      const channel = shortcut.channel.id;
      const who = shortcut.user.id;
      const say = async (text: string) => {
        try {
          await respond({ response_type: 'ephemeral', replace_original: false, text });
        } catch (error) {
          deps.log.warn({ err: error }, 'could not answer a message shortcut');
        }
      };
      const message = shortcut.message as MessageShortcut['message'] & {
        thread_ts?: string;
        bot_id?: string;
      };
      if (fromFerry(message, context)) {
        await say('That is one of Ferry’s own messages: what it says is in the timeline already.');
        return;
      }
      const quoted = {
        channel,
        ts: message.ts,
        ...(message.thread_ts && message.thread_ts !== message.ts ? { threadTs: message.thread_ts } : {}),
        author: message.user ?? message.bot_id ?? 'unknown',
      };
      const text = messageText(message.text);
      try {
        let runId: string;
        try {
          runId = await runForMessage(deps.runs, quoted);
        } catch (error) {
          const code = toFerryError(error).code;
          if (code !== 'run_ambiguous' && code !== 'run_not_found') throw error;
          // No single active run here: the person chooses, in a modal opened with this shortcut's trigger.
          const runs = await runsToNoteIn(deps.runs, channel);
          if (runs.length === 0) {
            await say(
              'There is no run in this channel to add the message to. Start one with `/migrate start`.',
            );
            return;
          }
          const state: NoteModalState = { channel, source: quoted };
          await client.views.open({
            trigger_id: shortcut.trigger_id,
            view: renderNoteModal(state, { runs, text }),
          });
          return;
        }
        const outcome = await addNote(deps.runs, {
          user: who,
          channel,
          text,
          runId,
          source: await noteMessage(deps, quoted),
        });
        await say(outcomeText(outcome));
      } catch (error) {
        await say(failureReply(error, deps.log, 'adding the message to the timeline'));
      }
    },
  );

  // 📌 on a message in a run's thread (that run) or in the channel (its only active run).
  app.event('reaction_added', async ({ event, client, context }) => {
    if (event.reaction !== PIN_REACTION || event.item.type !== 'message') return;
    const { channel, ts } = event.item;
    const who = event.user;
    try {
      const found = await client.reactions.get({ channel, timestamp: ts, full: true });
      const message = found.message;
      // Slack's type for the message leaves out thread_ts, which a reply in a thread carries.
      const thread = (message as { thread_ts?: unknown } | undefined)?.thread_ts;
      const threadTs = typeof thread === 'string' ? thread : undefined;
      if (!message || fromFerry(message, context)) return;
      const quoted = {
        channel,
        ts,
        ...(threadTs && threadTs !== ts ? { threadTs } : {}),
        author: message.user ?? event.item_user ?? message.bot_id ?? 'unknown',
      };
      const outcome = await addNote(deps.runs, {
        user: who,
        channel,
        text: messageText(message.text),
        source: await noteMessage(deps, quoted),
      });
      await tell(client, deps.log, channel, who, outcomeText(outcome));
    } catch (error) {
      const ferry = toFerryError(error);
      // A 📌 in a channel with no run is someone else's pin: Ferry keeps out of it.
      if (ferry.code === 'run_not_found') {
        deps.log.info({ channel, ts }, 'a 📌 in a channel with no active run: not a note');
        return;
      }
      const why =
        ferry.code === 'run_ambiguous'
          ? `📌 was not added to a timeline: ${ferry.message} Pin it in the run's thread, or use the message shortcut *Add to migration timeline* to choose the run.`
          : failureReply(error, deps.log, 'adding the pinned message to the timeline');
      await tell(client, deps.log, channel, who, why);
    }
  });
}

/** The message a note quotes, with its permalink (a message Slack gives none for is noted without). */
async function noteMessage(deps: NoteDeps, quoted: NoteModalState['source'] & object): Promise<NoteMessage> {
  const link = await deps.permalinks.of(quoted.channel, quoted.ts);
  return { ...quoted, ...(link ? { link } : {}) };
}

/**
 * A message's text as the plain text a note holds (the views escape it on the way out, as they do a
 * typed note): Slack's own escapes decoded, so "A &amp; B" is not shown as "A &amp;amp; B"; links as
 * their label and address; broadcasts (`<!here>`) and user groups as words, so a note repeated in
 * the thread never pings a channel or a team again; people and channels kept as mentions.
 */
export function messageText(text: string | undefined): string {
  const plain = (text ?? '')
    .replace(/<([^<>]*)>/g, (_whole, inner: string) => {
      const [target = '', label] = inner.split('|', 2);
      if (/^[@#][UWC][A-Z0-9]+$/.test(target)) return `<${target}>`;
      if (target.startsWith('!date^')) return label ?? '';
      if (target.startsWith('!')) return `@${label?.replace(/^@/, '') ?? target.slice(1)}`;
      if (target.startsWith('mailto:')) return label ?? target.slice('mailto:'.length);
      return label && label !== target.replace(/^[a-z]+:\/\//, '') ? `${label} (${target})` : target;
    })
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .trim();
  return plain || '(a message with no text: see the link)';
}

/** Ferry's own messages (its status message, replies) are the timeline already. */
function fromFerry(
  message: { user?: string; bot_id?: string },
  context: { botUserId?: string; botId?: string },
): boolean {
  return (
    (message.user !== undefined && message.user === context.botUserId) ||
    (message.bot_id !== undefined && message.bot_id === context.botId)
  );
}

function outcomeText(outcome: NoteOutcome): string {
  if (outcome.added) return `📝 Added to ${outcome.runId}'s timeline; it shows in the run's thread.`;
  const { already } = outcome;
  return `📝 That message is already a note on ${outcome.runId}'s timeline (added by ${user(already.addedBy)} ${dayTimeOf(already.addedAt)}): nothing was added twice.`;
}

/** Tells only the person who acted; a reply that cannot reach them is logged, not thrown. */
async function tell(
  client: WebClient,
  log: Logger,
  channel: string,
  who: string,
  text: string,
): Promise<void> {
  try {
    await client.chat.postEphemeral({ channel, user: who, text });
  } catch (error) {
    log.warn({ err: error }, 'could not tell the person who added a note');
  }
}
