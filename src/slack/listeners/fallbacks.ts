import type { App } from '@slack/bolt';
import type { Logger } from 'pino';
import { ActionId, CallbackId } from '../action-ids.ts';
import { isFirstDelivery } from '../deliveries.ts';

// Requests no listener of Ferry's would answer: a slash command that is not /migrate (the app
// configured with more), a button from an older release, a view or shortcut Ferry does not offer, a
// payload of no known shape. Each is acknowledged at once with a line saying so, rather than left
// to Bolt's 3 s timeout and a 404 the person reads as "Ferry is down".

const knownActions: ReadonlySet<string> = new Set(Object.values(ActionId));

type Body = {
  type?: unknown;
  command?: unknown;
  actions?: unknown;
  callback_id?: unknown;
  view?: { callback_id?: unknown };
};

/** Why Ferry has no listener for this request, or null when one of its listeners will answer it. */
function unanswered(body: Body): string | null {
  if (typeof body.command === 'string') {
    return body.command === '/migrate' ? null : `Ferry answers \`/migrate\` only, not \`${body.command}\`.`;
  }
  if (body.type === 'block_actions') {
    const actions = Array.isArray(body.actions) ? (body.actions as Array<{ action_id?: unknown }>) : [];
    const known = actions.some((a) => typeof a?.action_id === 'string' && knownActions.has(a.action_id));
    return known ? null : 'That button is not one this Ferry knows (a message from an older release?).';
  }
  if (body.type === 'event_callback' || body.type === 'url_verification' || body.type === 'ssl_check')
    return null;
  if (body.type === 'message_action')
    return body.callback_id === CallbackId.addToTimeline
      ? null
      : 'That shortcut is not one this Ferry offers (an app configured for an older release?).';
  if (body.type === 'view_submission')
    return typeof body.view === 'object' && body.view?.callback_id === CallbackId.noteModal
      ? null
      : 'Ferry does not know that form.';
  return 'Ferry does not handle this kind of request.';
}

/** A global middleware: answers what no listener will, and lets everything else through. */
export function answerTheUnknown(app: App, log: Logger): void {
  app.use(async (args) => {
    const body = args.body as Body;
    const why = unanswered(body);
    if (!why) {
      await args.next();
      return;
    }
    log.info(
      { type: body.type, command: body.command },
      'a Slack request no listener handles was acknowledged',
    );
    if ('ack' in args && typeof args.ack === 'function') {
      // Only a slash command's ack shows text to the person; the others just stop Slack waiting.
      const ack = args.ack as (response?: unknown) => Promise<void>;
      await (typeof body.command === 'string'
        ? ack({ response_type: 'ephemeral', text: `⚠️ ${why}` })
        : ack());
    }
    if (!(await isFirstDelivery(args.context))) return;
    // Whoever clicked a button Ferry does not know is told so, as a click on a known one would be.
    const { user, channel } = body as { user?: { id?: unknown }; channel?: { id?: unknown } };
    if (body.type === 'block_actions' && typeof user?.id === 'string' && typeof channel?.id === 'string') {
      await args.client.chat
        .postEphemeral({ channel: channel.id, user: user.id, text: `⚠️ ${why}` })
        .catch((error: unknown) => log.warn({ err: error }, 'could not tell the person who clicked'));
    }
  });
}
