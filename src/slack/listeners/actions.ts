import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import { act, goOnDespiteIncidents, type PersonEvent } from '../../runs/act.ts';
import type { RunsDeps } from '../../runs/deps.ts';
import { handOverAfterAck } from '../deliveries.ts';
import { ActionId, parseButtonValue, type ActionName, type ButtonTarget } from '../action-ids.ts';
import { mrkdwn } from '../views/format.ts';
import { renderOffer, type Reply } from '../views/replies.ts';
import { failureReply } from './failures.ts';

export interface ActionDeps {
  runs: RunsDeps;
  log: Logger;
}

/**
 * Buttons: ack first, then let the engine decide on the locked run. A double click or a second
 * replica racing on the same click finds the step already decided and changes nothing; whatever
 * refuses the click is told to the person who clicked, and to nobody else.
 */
export function registerActions(app: App, deps: ActionDeps): void {
  // One listener for every button that acts on a run, rather than one per action id: Bolt tries
  // each listener on every request, before the ack. Add note opens a modal instead (listeners/notes.ts).
  const byId = new Map<string, ActionName>();
  for (const name of Object.keys(ActionId) as ActionName[])
    if (name !== 'addNote') byId.set(ActionId[name], name);
  const actionIds = new RegExp(`^(?:${[...byId.keys()].map(escapeRegExp).join('|')})$`);
  app.action<BlockAction<ButtonAction>>(
    { action_id: actionIds },
    async ({ ack, body, action, client, context }) => {
      await ack();
      const name = byId.get(action.action_id);
      if (!name) return;
      // Read defensively: the payload is signed, but not every field of it is what Slack would send.
      // Only these are held while the work waits its turn, not the payload and the message it carries.
      const click: Click = {
        name,
        value: action.value,
        user: stringAt(body.user, 'id') ?? '',
        channel: stringAt(body.channel, 'id') ?? stringAt(body.container, 'channel_id'),
        threadTs: stringAt(body.message, 'thread_ts'),
      };
      await handOverAfterAck(context, () => handleClick(click, client, deps));
    },
  );
}

interface Click {
  name: ActionName;
  value: string | undefined;
  user: string;
  channel: string | undefined;
  threadTs: string | undefined;
}

async function handleClick(click: Click, client: WebClient, deps: ActionDeps): Promise<void> {
  const { name, user, channel, threadTs } = click;
  /** Only the person who clicked reads it; one that cannot reach them is logged, not thrown. */
  const tell = async (message: { text: string; blocks?: Reply['blocks'] }) => {
    if (!channel || !user) return;
    try {
      await client.chat.postEphemeral({
        channel,
        user,
        ...message,
        ...(threadTs ? { thread_ts: threadTs } : {}),
      });
    } catch (error) {
      deps.log.warn({ err: error, action: name }, 'could not tell the person who clicked');
    }
  };
  const target = parseButtonValue(click.value);
  const event = target ? toEvent(name, target) : null;
  if (!target || !event || !channel || !user) {
    await tell({ text: '⚠️ That button does not name a run and step Ferry knows.' });
    return;
  }
  try {
    const outcome =
      event.type === 'go_on'
        ? await goOnDespiteIncidents(deps.runs, { runId: target.runId, user, channel })
        : await act(deps.runs, { runId: target.runId, user, channel, event });
    for (const refusal of outcome.refusals) {
      const text = `🚫 ${mrkdwn(refusal.message)}`;
      // An expired request: the one who clicked gets a button to post a fresh one.
      await tell(refusal.offer ? renderOffer(text, target.runId, refusal.offer) : { text });
    }
  } catch (error) {
    await tell({ text: failureReply(error, deps.log, `handling your ${name} click on ${target.runId}`) });
  }
}

/** `value[key]` when `value` is an object holding a string there. */
function stringAt(value: unknown, key: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const found = (value as Record<string, unknown>)[key];
  return typeof found === 'string' ? found : undefined;
}

function toEvent(name: ActionName, target: ButtonTarget): PersonEvent | null {
  const shown = target.shownFor ? { shownFor: target.shownFor } : {};
  switch (name) {
    case 'rollback':
      return { type: 'rollback' };
    case 'abort':
      return { type: 'abort' };
    case 'goOn':
      return { type: 'go_on' };
    case 'addNote':
      return null;
    case 'askAgain':
      return target.stepId ? { type: 'ask_again', stepId: target.stepId, ...shown } : null;
    case 'looksGood':
      return target.stepId ? { type: 'looks_good', stepId: target.stepId, ...shown } : null;
    case 'approve':
    case 'reject':
    case 'retry':
    case 'skip':
    case 'done':
      return target.stepId ? { type: name, stepId: target.stepId, ...shown } : null;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
