import { validateBlocks, type BlockSurface } from './blocks.ts';
import { TS_PATTERN, type SlackStore } from './store.ts';
import type { TriggerBook } from './triggers.ts';
import type {
  ApiArgs,
  ApiResponse,
  SlackFile,
  SlackMessage,
  SlackMessageMetadata,
  SlackView,
} from './types.ts';
import { argBool, argInt, argString } from './wire.ts';

// The Web API methods the fake answers, with Slack's argument rules and error codes
// (reference/slack.md §5–§7, §10). Each handler is a pure function of the arguments and the store;
// authentication, rate limits and recording happen before and after, in FakeSlack.

export interface MethodContext {
  args: ApiArgs;
  store: SlackStore;
  triggers: TriggerBook;
  /** Where the client should POST a file's bytes (files.getUploadURLExternal). */
  uploadUrlFor(fileId: string): string;
  /** A new single-use Socket Mode link (apps.connections.open). */
  socketUrl(): string;
}

export type MethodHandler = (ctx: MethodContext) => ApiResponse;

/** Slack truncates above 40,000 characters and rejects longer text with `msg_too_long`. */
const MAX_TEXT = 40_000;
const MAX_VIEW_BYTES = 250_000;

const fail = (error: string, messages?: string[]): ApiResponse =>
  messages && messages.length > 0
    ? { ok: false, error, response_metadata: { messages } }
    : { ok: false, error };

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

type Checked<T> = { ok: true; value: T } | { ok: false; response: ApiResponse };

/** `blocks` (or `attachments`) as Slack reads them: absent, a valid array, or an error answer. */
function readBlocks(args: ApiArgs, surface: BlockSurface = 'message'): Checked<unknown[] | undefined> {
  const raw = args.blocks;
  if (raw === undefined || raw === '') return { ok: true, value: undefined };
  if (!Array.isArray(raw)) {
    return {
      ok: false,
      response: fail('invalid_blocks_format', ['[ERROR] must be a JSON array [json-pointer:/blocks]']),
    };
  }
  const problems = validateBlocks(raw, surface);
  if (problems.length > 0) return { ok: false, response: fail('invalid_blocks', problems) };
  return { ok: true, value: raw };
}

function readAttachments(args: ApiArgs): Checked<unknown[] | undefined> {
  const raw = args.attachments;
  if (raw === undefined || raw === '') return { ok: true, value: undefined };
  if (!Array.isArray(raw)) return { ok: false, response: fail('invalid_attachments') };
  return { ok: true, value: raw };
}

function readMetadata(args: ApiArgs): Checked<SlackMessageMetadata | undefined> {
  const raw = args.metadata;
  if (raw === undefined || raw === '') return { ok: true, value: undefined };
  if (!isObject(raw)) return { ok: false, response: fail('invalid_metadata_format') };
  if (typeof raw.event_type !== 'string' || !isObject(raw.event_payload)) {
    return {
      ok: false,
      response: fail('invalid_metadata_schema', [
        '[ERROR] metadata needs event_type (string) and event_payload (object)',
      ]),
    };
  }
  return { ok: true, value: { event_type: raw.event_type, event_payload: raw.event_payload } };
}

function readThreadTs(args: ApiArgs): Checked<string | undefined> {
  const raw = argString(args, 'thread_ts');
  if (raw === undefined || raw === '') return { ok: true, value: undefined };
  if (!TS_PATTERN.test(raw)) {
    return { ok: false, response: fail('invalid_thread_ts', [`[ERROR] ${raw} is not a valid thread_ts`]) };
  }
  return { ok: true, value: raw };
}

/** What Slack returns as `message`: the stored message without the fake's own bookkeeping. */
export function publicMessage(message: SlackMessage): Record<string, unknown> {
  const { channel: _channel, via_response_url: _via, pinned_to, files, ...rest } = message;
  return {
    ...rest,
    ...(pinned_to ? { pinned_to } : {}),
    ...(files ? { files: files.map(publicFile) } : {}),
  };
}

export function publicFile(file: SlackFile): Record<string, unknown> {
  const { content: _content, ...rest } = file;
  return rest;
}

function publicView(view: SlackView): Record<string, unknown> {
  const { user: _user, ...rest } = view;
  return rest;
}

function channelInfo(store: SlackStore, id: string): Record<string, unknown> {
  const channel = store.channel(id);
  const isIm = channel?.is_im === true;
  return {
    id,
    name: channel?.name ?? id.toLowerCase(),
    is_channel: !isIm && channel?.is_private !== true,
    is_group: !isIm && channel?.is_private === true,
    is_im: isIm,
    is_private: isIm || channel?.is_private === true,
    is_archived: false,
    is_member: true,
    created: 1_600_000_000,
    ...(channel?.user ? { user: channel.user } : {}),
    topic: { value: channel?.topic ?? '', creator: '', last_set: 0 },
    purpose: { value: channel?.purpose ?? '', creator: '', last_set: 0 },
  };
}

function resolveChannel(ctx: MethodContext, key = 'channel'): Checked<string> {
  const ref = argString(ctx.args, key);
  if (ref === undefined || ref === '') return { ok: false, response: fail('channel_not_found') };
  const resolved = ctx.store.resolveChannel(ref);
  if (!resolved.ok) return { ok: false, response: fail(resolved.error) };
  return { ok: true, value: resolved.value.id };
}

/** Cursor for conversations.history / replies: the ts the next page continues from. */
function encodeCursor(ts: string): string {
  return Buffer.from(`next_ts:${ts}`).toString('base64');
}

function decodeCursor(cursor: string | undefined): string | undefined {
  if (!cursor) return undefined;
  const text = Buffer.from(cursor, 'base64').toString('utf8');
  return text.startsWith('next_ts:') ? text.slice('next_ts:'.length) : undefined;
}

function checkView(spec: unknown, surface: 'modal' | 'home'): Checked<Record<string, unknown>> {
  if (!isObject(spec)) {
    return { ok: false, response: fail('invalid_arguments', ['[ERROR] missing required field: view']) };
  }
  if (JSON.stringify(spec).length > MAX_VIEW_BYTES) return { ok: false, response: fail('view_too_large') };
  const problems: string[] = [];
  if (spec.type !== surface) problems.push(`[ERROR] must be ${surface} [json-pointer:/view/type]`);
  if (surface === 'modal') {
    const title = spec.title;
    if (!isObject(title) || typeof title.text !== 'string') {
      problems.push('[ERROR] missing required field: title [json-pointer:/view/title]');
    } else if (title.text.length > 24) {
      problems.push('[ERROR] must be less than 25 characters [json-pointer:/view/title/text]');
    }
    for (const key of ['submit', 'close'] as const) {
      const v = spec[key];
      if (isObject(v) && typeof v.text === 'string' && v.text.length > 24) {
        problems.push(`[ERROR] must be less than 25 characters [json-pointer:/view/${key}/text]`);
      }
    }
  }
  if (typeof spec.private_metadata === 'string' && spec.private_metadata.length > 3000) {
    problems.push('[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]');
  }
  if (typeof spec.callback_id === 'string' && spec.callback_id.length > 255) {
    problems.push('[ERROR] must be less than 256 characters [json-pointer:/view/callback_id]');
  }
  problems.push(
    ...validateBlocks(spec.blocks ?? [], surface).map((p) =>
      p.replace('[json-pointer:/', '[json-pointer:/view/'),
    ),
  );
  if (problems.length > 0) return { ok: false, response: fail('invalid_arguments', problems) };
  return { ok: true, value: spec };
}

// ---- chat --------------------------------------------------------------------------------------

const postMessage: MethodHandler = (ctx) => {
  const channel = resolveChannel(ctx);
  if (!channel.ok) return channel.response;
  const text = argString(ctx.args, 'text');
  const blocks = readBlocks(ctx.args);
  if (!blocks.ok) return blocks.response;
  const attachments = readAttachments(ctx.args);
  if (!attachments.ok) return attachments.response;
  if (!text && !blocks.value && !attachments.value) return fail('no_text');
  if (text && text.length > MAX_TEXT) return fail('msg_too_long');
  const metadata = readMetadata(ctx.args);
  if (!metadata.ok) return metadata.response;
  const thread = readThreadTs(ctx.args);
  if (!thread.ok) return thread.response;
  const posted = ctx.store.postMessage({
    channel: channel.value,
    text: text ?? '',
    blocks: blocks.value,
    attachments: attachments.value,
    metadata: metadata.value,
    thread_ts: thread.value,
    reply_broadcast: argBool(ctx.args, 'reply_broadcast'),
  });
  if (!posted.ok) return fail(posted.error);
  return { ok: true, channel: channel.value, ts: posted.value.ts, message: publicMessage(posted.value) };
};

const update: MethodHandler = (ctx) => {
  const channel = resolveChannel(ctx);
  if (!channel.ok) return channel.response;
  const ts = argString(ctx.args, 'ts');
  if (!ts) return fail('message_not_found');
  const existing = ctx.store.message(channel.value, ts);
  // Ephemeral messages are not in the channel: Slack answers message_not_found (use response_url).
  if (!existing || existing.subtype === 'tombstone') return fail('message_not_found');
  if (existing.user !== ctx.store.bot.userId) return fail('cant_update_message');
  const text = argString(ctx.args, 'text');
  const blocks = readBlocks(ctx.args);
  if (!blocks.ok) return blocks.response;
  const attachments = readAttachments(ctx.args);
  if (!attachments.ok) return attachments.response;
  if (text === undefined && blocks.value === undefined && attachments.value === undefined)
    return fail('no_text');
  if (text && text.length > MAX_TEXT) return fail('msg_too_long');
  const metadata = readMetadata(ctx.args);
  if (!metadata.ok) return metadata.response;
  const updated = ctx.store.updateMessage(
    channel.value,
    ts,
    { text, blocks: blocks.value, attachments: attachments.value, metadata: metadata.value },
    ctx.store.bot.userId,
  );
  if (!updated.ok) return fail(updated.error);
  return {
    ok: true,
    channel: channel.value,
    ts,
    text: updated.value.text,
    message: publicMessage(updated.value),
  };
};

const postEphemeral: MethodHandler = (ctx) => {
  const channel = resolveChannel(ctx);
  if (!channel.ok) return channel.response;
  const user = argString(ctx.args, 'user');
  if (!user || !/^[UW][A-Z0-9]+$/.test(user)) return fail('user_not_in_channel');
  const text = argString(ctx.args, 'text');
  const blocks = readBlocks(ctx.args);
  if (!blocks.ok) return blocks.response;
  const attachments = readAttachments(ctx.args);
  if (!attachments.ok) return attachments.response;
  if (!text && !blocks.value && !attachments.value) return fail('no_text');
  if (text && text.length > MAX_TEXT) return fail('msg_too_long');
  const thread = readThreadTs(ctx.args);
  if (!thread.ok) return thread.response;
  const posted = ctx.store.postEphemeral({
    channel: channel.value,
    user,
    text: text ?? '',
    blocks: blocks.value,
    attachments: attachments.value,
    thread_ts: thread.value,
  });
  if (!posted.ok) return fail(posted.error);
  return { ok: true, message_ts: posted.value.ts };
};

const chatDelete: MethodHandler = (ctx) => {
  const channel = resolveChannel(ctx);
  if (!channel.ok) return channel.response;
  const ts = argString(ctx.args, 'ts');
  const existing = ts === undefined ? undefined : ctx.store.message(channel.value, ts);
  if (!ts || !existing) return fail('message_not_found');
  if (existing.user !== ctx.store.bot.userId) return fail('cant_delete_message');
  const deleted = ctx.store.deleteMessage(channel.value, ts);
  if (!deleted.ok) return fail(deleted.error);
  return { ok: true, channel: channel.value, ts };
};

/** A message's permalink, in Slack's form: a reply's names its thread. */
const getPermalink: MethodHandler = (ctx) => {
  const channel = resolveChannel(ctx);
  if (!channel.ok) return channel.response;
  const ts = argString(ctx.args, 'message_ts');
  const message = ts ? ctx.store.message(channel.value, ts) : undefined;
  if (!ts || !message) return fail('message_not_found');
  const thread =
    message.thread_ts && message.thread_ts !== ts
      ? `?thread_ts=${message.thread_ts}&cid=${channel.value}`
      : '';
  return {
    ok: true,
    channel: channel.value,
    permalink: `https://${ctx.store.team.domain}.slack.com/archives/${channel.value}/p${ts.replace('.', '')}${thread}`,
  };
};

// ---- views -------------------------------------------------------------------------------------

const viewsOpen: MethodHandler = (ctx) => {
  const trigger = argString(ctx.args, 'trigger_id') ?? argString(ctx.args, 'interactivity_pointer');
  if (!trigger) return fail('invalid_arguments', ['[ERROR] missing required field: trigger_id']);
  const view = checkView(ctx.args.view, 'modal');
  if (!view.ok) return view.response;
  const used = ctx.triggers.use(trigger);
  if (!used.ok) return fail(used.error);
  const opened = ctx.store.openView(view.value, used.user);
  return { ok: true, view: publicView(opened) };
};

const viewsUpdate: MethodHandler = (ctx) => {
  const viewId = argString(ctx.args, 'view_id');
  const externalId = argString(ctx.args, 'external_id');
  if (!viewId && !externalId)
    return fail('invalid_arguments', ['[ERROR] view_id or external_id is required']);
  const existing = viewId ? ctx.store.view(viewId) : ctx.store.viewByExternalId(externalId ?? '');
  if (!existing) return fail('not_found');
  const hash = argString(ctx.args, 'hash');
  if (hash && hash !== existing.hash) return fail('hash_conflict');
  const view = checkView(ctx.args.view, existing.type === 'home' ? 'home' : 'modal');
  if (!view.ok) return view.response;
  const updated = ctx.store.updateView(existing.id, view.value);
  if (!updated.ok) return fail(updated.error);
  return { ok: true, view: publicView(updated.value) };
};

const viewsPublish: MethodHandler = (ctx) => {
  const user = argString(ctx.args, 'user_id');
  if (!user) return fail('invalid_arguments', ['[ERROR] missing required field: user_id']);
  if (ctx.store.users().length > 1 && !ctx.store.user(user)) return fail('user_not_found');
  const view = checkView(ctx.args.view, 'home');
  if (!view.ok) return view.response;
  const hash = argString(ctx.args, 'hash');
  const current = ctx.store.homeView(user);
  if (hash && current && hash !== current.hash) return fail('hash_conflict');
  const published = ctx.store.publishView(user, view.value);
  return { ok: true, view: publicView(published) };
};

// ---- directory ---------------------------------------------------------------------------------

const usergroupsUsersList: MethodHandler = (ctx) => {
  const id = argString(ctx.args, 'usergroup');
  const members = id ? ctx.store.usergroupMembers(id) : undefined;
  if (!members) return fail('no_such_subteam');
  return { ok: true, users: members };
};

const usergroupsList: MethodHandler = (ctx) => {
  const includeUsers = argBool(ctx.args, 'include_users');
  return {
    ok: true,
    usergroups: ctx.store.usergroups().map((g) => ({
      id: g.id,
      team_id: ctx.store.team.id,
      is_usergroup: true,
      name: g.id,
      handle: g.id.toLowerCase(),
      user_count: g.users.length,
      ...(includeUsers ? { users: g.users } : {}),
    })),
  };
};

const usersInfo: MethodHandler = (ctx) => {
  const id = argString(ctx.args, 'user');
  const user = id ? ctx.store.user(id) : undefined;
  if (!user) return fail('user_not_found');
  const realName = user.real_name ?? user.name;
  return {
    ok: true,
    user: {
      id: user.id,
      team_id: ctx.store.team.id,
      name: user.name,
      real_name: realName,
      deleted: user.deleted === true,
      is_bot: user.is_bot === true,
      is_admin: user.is_admin === true,
      tz: user.tz ?? 'Europe/London',
      profile: {
        real_name: realName,
        display_name: user.display_name ?? user.name,
        ...(user.email ? { email: user.email } : {}),
      },
    },
  };
};

// ---- conversations -----------------------------------------------------------------------------

function historyQuery(args: ApiArgs, defaultLimit: number, direction: 'newest_first' | 'oldest_first') {
  const limit = Math.min(Math.max(argInt(args, 'limit') ?? defaultLimit, 1), 999);
  const cursorTs = decodeCursor(argString(args, 'cursor'));
  let latest = argString(args, 'latest');
  let oldest = argString(args, 'oldest');
  let inclusive = argBool(args, 'inclusive');
  if (cursorTs !== undefined) {
    // The next page continues after the last message of the previous one, exclusively.
    if (direction === 'newest_first') latest = cursorTs;
    else oldest = cursorTs;
    inclusive = false;
  }
  return { limit, latest: latest || undefined, oldest: oldest || undefined, inclusive };
}

/**
 * A page of conversations.history or replies. As Slack does, messages carry their `metadata` only
 * when the call asked for it with `include_all_metadata`.
 */
function pageResponse(args: ApiArgs, messages: SlackMessage[], hasMore: boolean): ApiResponse {
  const last = messages.at(-1);
  const withMetadata = argBool(args, 'include_all_metadata');
  return {
    ok: true,
    messages: messages.map((m) => {
      const shown = publicMessage(m);
      if (!withMetadata) delete shown.metadata;
      return shown;
    }),
    has_more: hasMore,
    pin_count: 0,
    response_metadata: { next_cursor: hasMore && last ? encodeCursor(last.ts) : '' },
  };
}

const conversationsHistory: MethodHandler = (ctx) => {
  const channel = resolveChannel(ctx);
  if (!channel.ok) return channel.response;
  const page = ctx.store.history(channel.value, historyQuery(ctx.args, 100, 'newest_first'));
  return pageResponse(ctx.args, page.messages, page.hasMore);
};

const conversationsReplies: MethodHandler = (ctx) => {
  const channel = resolveChannel(ctx);
  if (!channel.ok) return channel.response;
  const ts = argString(ctx.args, 'ts');
  if (!ts) return fail('invalid_arguments', ['[ERROR] missing required field: ts']);
  const page = ctx.store.replies(channel.value, ts, historyQuery(ctx.args, 1000, 'oldest_first'));
  if (!page) return fail('thread_not_found');
  return pageResponse(ctx.args, page.messages, page.hasMore);
};

const conversationsInfo: MethodHandler = (ctx) => {
  const channel = resolveChannel(ctx);
  if (!channel.ok) return channel.response;
  return { ok: true, channel: channelInfo(ctx.store, channel.value) };
};

const conversationsOpen: MethodHandler = (ctx) => {
  const users = (argString(ctx.args, 'users') ?? '').split(',').filter(Boolean);
  const channelArg = argString(ctx.args, 'channel');
  if (channelArg) {
    const resolved = ctx.store.resolveChannel(channelArg);
    if (!resolved.ok) return fail(resolved.error);
    return { ok: true, channel: { id: resolved.value.id } };
  }
  if (users.length !== 1 || users[0] === undefined) return fail('users_list_not_supplied');
  const resolved = ctx.store.resolveChannel(users[0]);
  if (!resolved.ok) return fail('user_not_found');
  return { ok: true, channel: { id: resolved.value.id } };
};

// ---- reactions and pins ------------------------------------------------------------------------

function reactionTarget(ctx: MethodContext): Checked<{ channel: string; ts: string }> {
  const ref = argString(ctx.args, 'channel');
  const ts = argString(ctx.args, 'timestamp');
  if (!ref || !ts) return { ok: false, response: fail('no_item_specified') };
  const channel = resolveChannel(ctx);
  if (!channel.ok) return channel;
  return { ok: true, value: { channel: channel.value, ts } };
}

function reactionName(ctx: MethodContext): string | undefined {
  const name = argString(ctx.args, 'name')?.replace(/^:|:$/g, '');
  return name && /^[a-z0-9_+'-]+(::skin-tone-\d)?$/.test(name) ? name : undefined;
}

const reactionsAdd: MethodHandler = (ctx) => {
  const target = reactionTarget(ctx);
  if (!target.ok) return target.response;
  const name = reactionName(ctx);
  if (!name) return fail('invalid_name');
  const added = ctx.store.addReaction(target.value.channel, target.value.ts, name, ctx.store.bot.userId);
  return added.ok ? { ok: true } : fail(added.error);
};

const reactionsRemove: MethodHandler = (ctx) => {
  const target = reactionTarget(ctx);
  if (!target.ok) return target.response;
  const name = reactionName(ctx);
  if (!name) return fail('invalid_name');
  const removed = ctx.store.removeReaction(target.value.channel, target.value.ts, name, ctx.store.bot.userId);
  return removed.ok ? { ok: true } : fail(removed.error);
};

const reactionsGet: MethodHandler = (ctx) => {
  const target = reactionTarget(ctx);
  if (!target.ok) return target.response;
  const message = ctx.store.message(target.value.channel, target.value.ts);
  if (!message) return fail('message_not_found');
  return { ok: true, type: 'message', channel: target.value.channel, message: publicMessage(message) };
};

const pinsAdd: MethodHandler = (ctx) => {
  const target = reactionTarget(ctx);
  if (!target.ok) return target.response;
  const pinned = ctx.store.pin(target.value.channel, target.value.ts);
  return pinned.ok
    ? { ok: true }
    : fail(pinned.error === 'message_not_found' ? 'not_pinnable' : pinned.error);
};

const pinsRemove: MethodHandler = (ctx) => {
  const target = reactionTarget(ctx);
  if (!target.ok) return target.response;
  const unpinned = ctx.store.unpin(target.value.channel, target.value.ts);
  return unpinned.ok ? { ok: true } : fail(unpinned.error);
};

// ---- files (what WebClient.files.uploadV2 calls) -----------------------------------------------

const getUploadUrlExternal: MethodHandler = (ctx) => {
  const filename = argString(ctx.args, 'filename');
  const length = argInt(ctx.args, 'length');
  if (!filename) return fail('invalid_arguments', ['[ERROR] missing required field: filename']);
  if (length === undefined || length < 0)
    return fail('invalid_arguments', ['[ERROR] missing required field: length']);
  const file = ctx.store.createFile({
    filename,
    length,
    alt_text: argString(ctx.args, 'alt_txt') ?? argString(ctx.args, 'alt_text'),
  });
  return { ok: true, upload_url: ctx.uploadUrlFor(file.id), file_id: file.id };
};

const completeUploadExternal: MethodHandler = (ctx) => {
  const files = ctx.args.files;
  if (!Array.isArray(files) || files.length === 0) {
    return fail('invalid_arguments', ['[ERROR] missing required field: files']);
  }
  const entries: Array<{ id: string; title?: string }> = [];
  for (const f of files) {
    if (!isObject(f) || typeof f.id !== 'string')
      return fail('invalid_arguments', ['[ERROR] files[].id is required']);
    entries.push({ id: f.id, ...(typeof f.title === 'string' ? { title: f.title } : {}) });
  }
  const channelRef = argString(ctx.args, 'channel_id') ?? argString(ctx.args, 'channels')?.split(',')[0];
  let share: Parameters<SlackStore['completeFiles']>[1];
  if (channelRef) {
    const resolved = ctx.store.resolveChannel(channelRef);
    if (!resolved.ok) return fail(resolved.error);
    const thread = readThreadTs(ctx.args);
    if (!thread.ok) return thread.response;
    const blocks = readBlocks(ctx.args);
    if (!blocks.ok) return blocks.response;
    share = {
      channel: resolved.value.id,
      thread_ts: thread.value,
      initial_comment: argString(ctx.args, 'initial_comment'),
      ...(blocks.value ? { blocks: blocks.value } : {}),
    };
  }
  const done = ctx.store.completeFiles(entries, share);
  if (!done.ok) return fail(done.error);
  return { ok: true, files: done.value.map(publicFile) };
};

// ---- auth --------------------------------------------------------------------------------------

const authTest: MethodHandler = (ctx) => ({
  ok: true,
  url: `https://${ctx.store.team.domain}.slack.com/`,
  team: ctx.store.team.name,
  user: ctx.store.bot.name,
  team_id: ctx.store.team.id,
  user_id: ctx.store.bot.userId,
  bot_id: ctx.store.bot.botId,
  is_enterprise_install: false,
});

const apiTest: MethodHandler = (ctx) => ({ ok: true, args: ctx.args });

// ---- Socket Mode -------------------------------------------------------------------------------

const appsConnectionsOpen: MethodHandler = (ctx) => ({ ok: true, url: ctx.socketUrl() });

export const METHODS: Readonly<Record<string, MethodHandler>> = {
  'api.test': apiTest,
  'apps.connections.open': appsConnectionsOpen,
  'auth.test': authTest,
  'chat.postMessage': postMessage,
  'chat.update': update,
  'chat.postEphemeral': postEphemeral,
  'chat.delete': chatDelete,
  'chat.getPermalink': getPermalink,
  'views.open': viewsOpen,
  'views.update': viewsUpdate,
  'views.publish': viewsPublish,
  'usergroups.users.list': usergroupsUsersList,
  'usergroups.list': usergroupsList,
  'users.info': usersInfo,
  'conversations.history': conversationsHistory,
  'conversations.replies': conversationsReplies,
  'conversations.info': conversationsInfo,
  'conversations.open': conversationsOpen,
  'reactions.add': reactionsAdd,
  'reactions.get': reactionsGet,
  'reactions.remove': reactionsRemove,
  'pins.add': pinsAdd,
  'pins.remove': pinsRemove,
  'files.getUploadURLExternal': getUploadUrlExternal,
  'files.completeUploadExternal': completeUploadExternal,
};

/** Methods Slack answers without a token. */
export const UNAUTHENTICATED_METHODS = new Set(['api.test']);

/** Methods that take the app-level token (`xapp-`) and refuse a bot token. */
export const APP_TOKEN_METHODS = new Set(['apps.connections.open']);
