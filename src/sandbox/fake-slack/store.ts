import type {
  Clock,
  EphemeralMessage,
  FakeSlackChange,
  SlackChannel,
  SlackFile,
  SlackMessage,
  SlackMessageMetadata,
  SlackReaction,
  SlackUser,
  SlackView,
} from './types.ts';

// The workspace the fake Slack holds: channels, messages, threads, ephemerals, reactions, views,
// files, users and user groups. Plain state with Slack's rules; no HTTP here. Messages are
// immutable values: an edit stores a new object, so earlier snapshots (and `previous` in a change
// event) stay as they were.

export type StoreResult<T> = { ok: true; value: T } | { ok: false; error: string };

const ok = <T>(value: T): StoreResult<T> => ({ ok: true, value });
const fail = <T>(error: string): StoreResult<T> => ({ ok: false, error });

export interface TeamInfo {
  id: string;
  name: string;
  domain: string;
}

export interface BotInfo {
  userId: string;
  botId: string;
  appId: string;
  name: string;
}

export interface StoreOptions {
  clock: Clock;
  team: TeamInfo;
  bot: BotInfo;
  users: SlackUser[];
  usergroups: Record<string, string[]>;
  channels: SlackChannel[];
  /** When true, only configured channels exist (`channel_not_found` otherwise). */
  strictChannels: boolean;
  onChange: (change: FakeSlackChange) => void;
}

export interface PostInput {
  channel: string;
  /** Author; the bot unless given. */
  user?: string;
  text: string;
  blocks?: unknown[] | undefined;
  attachments?: unknown[] | undefined;
  metadata?: SlackMessageMetadata | undefined;
  thread_ts?: string | undefined;
  reply_broadcast?: boolean | undefined;
  files?: SlackFile[] | undefined;
  via_response_url?: boolean;
}

export interface MessagePatch {
  text?: string | undefined;
  blocks?: unknown[] | undefined;
  attachments?: unknown[] | undefined;
  metadata?: SlackMessageMetadata | undefined;
}

export interface HistoryQuery {
  latest?: string | undefined;
  oldest?: string | undefined;
  inclusive?: boolean;
  limit?: number;
}

export const TS_PATTERN = /^\d{1,12}\.\d{6}$/;

interface ChannelState {
  info: SlackChannel;
  /** Every message, replies included, in ts order (Map keeps insertion order and ts increase). */
  messages: Map<string, SlackMessage>;
  ephemerals: EphemeralMessage[];
}

/** Compares Slack timestamps numerically ("1700000000.000100"). */
export function compareTs(a: string, b: string): number {
  const [as = '0', af = ''] = a.split('.');
  const [bs = '0', bf = ''] = b.split('.');
  const seconds = Number(as) - Number(bs);
  if (seconds !== 0) return Math.sign(seconds);
  return Math.sign(Number(af.padEnd(6, '0')) - Number(bf.padEnd(6, '0')));
}

export class SlackStore {
  readonly team: TeamInfo;
  readonly bot: BotInfo;
  readonly strictChannels: boolean;
  readonly #clock: Clock;
  readonly #emit: (change: FakeSlackChange) => void;
  readonly #users = new Map<string, SlackUser>();
  readonly #usergroups = new Map<string, string[]>();
  readonly #channels = new Map<string, ChannelState>();
  readonly #views = new Map<string, SlackView>();
  readonly #homeViews = new Map<string, string>();
  readonly #files = new Map<string, SlackFile>();
  #lastTsMicros = 0n;
  #idCounter = 0;

  constructor(options: StoreOptions) {
    this.#clock = options.clock;
    this.#emit = options.onChange;
    this.team = options.team;
    this.bot = options.bot;
    this.strictChannels = options.strictChannels;
    this.#users.set(options.bot.userId, { id: options.bot.userId, name: options.bot.name, is_bot: true });
    for (const user of options.users) this.#users.set(user.id, { ...user });
    for (const [id, members] of Object.entries(options.usergroups)) this.#usergroups.set(id, [...members]);
    for (const channel of options.channels) this.#channels.set(channel.id, this.#newChannel({ ...channel }));
  }

  /** A new message ts: microseconds since the epoch, strictly increasing within this store. */
  nextTs(): string {
    let micros = BigInt(Math.floor(this.#clock())) * 1000n;
    if (micros <= this.#lastTsMicros) micros = this.#lastTsMicros + 100n;
    this.#lastTsMicros = micros;
    const text = micros.toString().padStart(7, '0');
    return `${text.slice(0, -6)}.${text.slice(-6)}`;
  }

  /** A Slack-looking id such as "V0A1B2C3D4" with the given prefix, unique in this store. */
  nextId(prefix: string): string {
    this.#idCounter += 1;
    return `${prefix}0${this.#idCounter.toString(36).toUpperCase().padStart(8, '0')}`;
  }

  // ---- directory -------------------------------------------------------------------------------

  users(): SlackUser[] {
    return [...this.#users.values()];
  }

  user(id: string): SlackUser | undefined {
    return this.#users.get(id);
  }

  addUser(user: SlackUser): void {
    this.#users.set(user.id, { ...user });
  }

  usergroups(): Array<{ id: string; users: string[] }> {
    return [...this.#usergroups].map(([id, users]) => ({ id, users: [...users] }));
  }

  usergroupMembers(id: string): string[] | undefined {
    const members = this.#usergroups.get(id);
    return members ? [...members] : undefined;
  }

  setUsergroup(id: string, members: string[]): void {
    this.#usergroups.set(id, [...members]);
  }

  // ---- channels --------------------------------------------------------------------------------

  channels(): SlackChannel[] {
    return [...this.#channels.values()].map((c) => c.info);
  }

  channel(id: string): SlackChannel | undefined {
    return this.#channels.get(id)?.info;
  }

  addChannel(channel: SlackChannel): SlackChannel {
    const existing = this.#channels.get(channel.id);
    if (existing) return existing.info;
    const state = this.#newChannel({ ...channel });
    this.#channels.set(channel.id, state);
    this.#emit({ type: 'channel_created', channel: state.info });
    return state.info;
  }

  /**
   * Finds the channel an API call names: an id, a `#name`, or a user id (the bot's DM with that
   * user, as Slack does). Unless strict, unknown `C…`/`G…`/`D…` ids are created on first use.
   */
  resolveChannel(ref: string): StoreResult<SlackChannel> {
    const known = this.#channels.get(ref);
    if (known) return ok(known.info);
    const name = ref.replace(/^#/, '');
    for (const state of this.#channels.values()) {
      if (state.info.name === name && !state.info.is_im) return ok(state.info);
    }
    if (/^[UW][A-Z0-9]+$/.test(ref)) {
      if (!this.#users.has(ref) && this.strictChannels) return fail('channel_not_found');
      const id = `D${ref.slice(1)}`;
      return ok(this.addChannel({ id, name: id, is_im: true, user: ref }));
    }
    if (!this.strictChannels && /^[CGD][A-Z0-9]+$/.test(ref)) {
      return ok(this.addChannel({ id: ref, name: ref.toLowerCase(), is_private: ref.startsWith('G') }));
    }
    return fail('channel_not_found');
  }

  // ---- messages --------------------------------------------------------------------------------

  /** What the channel shows: top-level messages and broadcast replies, oldest first. */
  messages(channel: string): SlackMessage[] {
    const state = this.#channels.get(channel);
    if (!state) return [];
    return [...state.messages.values()].filter(isChannelLevel);
  }

  /** Every message in the channel, thread replies included, oldest first. */
  allMessages(channel: string): SlackMessage[] {
    const state = this.#channels.get(channel);
    return state ? [...state.messages.values()] : [];
  }

  /** A thread: its parent then its replies, oldest first; empty if `ts` is no message. */
  thread(channel: string, ts: string): SlackMessage[] {
    const state = this.#channels.get(channel);
    const parent = state?.messages.get(ts);
    if (!state || !parent) return [];
    const root = parent.thread_ts ?? parent.ts;
    return [...state.messages.values()].filter((m) => m.ts === root || m.thread_ts === root);
  }

  message(channel: string, ts: string): SlackMessage | undefined {
    return this.#channels.get(channel)?.messages.get(ts);
  }

  postMessage(input: PostInput): StoreResult<SlackMessage> {
    const state = this.#channels.get(input.channel);
    if (!state) return fail('channel_not_found');
    const author = input.user ?? this.bot.userId;
    const isBot = author === this.bot.userId;
    const ts = this.nextTs();
    const message: SlackMessage = {
      type: 'message',
      ts,
      channel: state.info.id,
      user: author,
      ...(isBot ? { bot_id: this.bot.botId, app_id: this.bot.appId } : {}),
      team: this.team.id,
      text: input.text,
      ...(input.blocks ? { blocks: input.blocks } : {}),
      ...(input.attachments ? { attachments: input.attachments } : {}),
      ...(input.metadata ? { metadata: input.metadata } : {}),
      ...(input.files ? { files: input.files } : {}),
      ...(input.via_response_url ? { via_response_url: true } : {}),
    };
    if (input.thread_ts !== undefined) {
      const parent = state.messages.get(input.thread_ts);
      // A reply to a reply joins the parent's thread. A thread_ts that names no message is accepted
      // by Slack, and the reply is never seen: keep it, unreachable from the channel, as Slack does.
      const root = parent?.thread_ts ?? input.thread_ts;
      message.thread_ts = root;
      const rootMessage = state.messages.get(root);
      if (rootMessage) message.parent_user_id = rootMessage.user;
      if (input.reply_broadcast) message.subtype = 'thread_broadcast';
      state.messages.set(ts, message);
      if (rootMessage) this.#refreshThread(state, root);
    } else {
      state.messages.set(ts, message);
    }
    this.#emit({ type: 'message_posted', channel: state.info.id, message });
    return ok(message);
  }

  /** Edits a message in place (same ts). Undefined fields keep their value; `blocks: []` clears them. */
  updateMessage(
    channel: string,
    ts: string,
    patch: MessagePatch,
    editor?: string,
  ): StoreResult<SlackMessage> {
    const state = this.#channels.get(channel);
    const previous = state?.messages.get(ts);
    if (!state || !previous || previous.subtype === 'tombstone') return fail('message_not_found');
    const next: SlackMessage = {
      ...previous,
      ...(patch.text !== undefined ? { text: patch.text } : {}),
      ...(patch.attachments !== undefined ? { attachments: patch.attachments } : {}),
      ...(patch.metadata !== undefined ? { metadata: patch.metadata } : {}),
      edited: { user: editor ?? previous.user, ts: this.nextTs() },
    };
    if (patch.blocks !== undefined) {
      if (patch.blocks.length === 0) delete next.blocks;
      else next.blocks = patch.blocks;
    }
    if (next.attachments?.length === 0) delete next.attachments;
    state.messages.set(ts, next);
    this.#emit({ type: 'message_updated', channel, message: next, previous });
    return ok(next);
  }

  /** Deletes a message; a thread parent with replies leaves a tombstone, as in Slack. */
  deleteMessage(channel: string, ts: string): StoreResult<SlackMessage> {
    const state = this.#channels.get(channel);
    const message = state?.messages.get(ts);
    if (!state || !message || message.subtype === 'tombstone') return fail('message_not_found');
    const isParent = message.thread_ts === message.ts && (message.reply_count ?? 0) > 0;
    if (isParent) {
      const {
        blocks: _b,
        attachments: _a,
        metadata: _m,
        files: _f,
        reactions: _r,
        edited: _e,
        ...rest
      } = message;
      state.messages.set(ts, { ...rest, subtype: 'tombstone', text: 'This message was deleted.' });
    } else {
      state.messages.delete(ts);
      if (message.thread_ts !== undefined && message.thread_ts !== ts) {
        this.#refreshThread(state, message.thread_ts);
      }
    }
    this.#emit({ type: 'message_deleted', channel, ts, message });
    return ok(message);
  }

  /** A message typed by a person (tests and the console use it for reactions and threads). */
  addUserMessage(
    channel: string,
    user: string,
    text: string,
    options: { thread_ts?: string } = {},
  ): StoreResult<SlackMessage> {
    const resolved = this.resolveChannel(channel);
    if (!resolved.ok) return resolved;
    return this.postMessage({ channel: resolved.value.id, user, text, thread_ts: options.thread_ts });
  }

  /** conversations.history: channel-level messages within the range, newest first. */
  history(channel: string, query: HistoryQuery): { messages: SlackMessage[]; hasMore: boolean } {
    return pageOf(this.messages(channel).reverse(), query);
  }

  /** conversations.replies: the thread `ts` belongs to, within the range, oldest first. */
  replies(
    channel: string,
    ts: string,
    query: HistoryQuery,
  ): { messages: SlackMessage[]; hasMore: boolean } | undefined {
    const thread = this.thread(channel, ts);
    if (thread.length === 0) return undefined;
    return pageOf(thread, query);
  }

  pin(channel: string, ts: string): StoreResult<SlackMessage> {
    const state = this.#channels.get(channel);
    const message = state?.messages.get(ts);
    if (!state || !message || message.subtype === 'tombstone') return fail('message_not_found');
    if (message.pinned_to?.includes(channel)) return fail('already_pinned');
    const next: SlackMessage = { ...message, pinned_to: [...(message.pinned_to ?? []), channel] };
    state.messages.set(ts, next);
    this.#emit({ type: 'pin_added', channel, ts });
    return ok(next);
  }

  unpin(channel: string, ts: string): StoreResult<SlackMessage> {
    const state = this.#channels.get(channel);
    const message = state?.messages.get(ts);
    if (!state || !message) return fail('message_not_found');
    if (!message.pinned_to?.includes(channel)) return fail('no_pin');
    const next: SlackMessage = { ...message, pinned_to: message.pinned_to.filter((c) => c !== channel) };
    if (next.pinned_to?.length === 0) delete next.pinned_to;
    state.messages.set(ts, next);
    this.#emit({ type: 'pin_removed', channel, ts });
    return ok(next);
  }

  // ---- ephemerals ------------------------------------------------------------------------------

  /** Ephemeral messages still showing, filtered by viewer and channel; oldest first. */
  ephemerals(filter: { user?: string; channel?: string } = {}): EphemeralMessage[] {
    const out: EphemeralMessage[] = [];
    for (const state of this.#channels.values()) {
      if (filter.channel !== undefined && state.info.id !== filter.channel) continue;
      for (const m of state.ephemerals) {
        if (m.deleted) continue;
        if (filter.user !== undefined && m.visible_to !== filter.user) continue;
        out.push(m);
      }
    }
    return out.sort((a, b) => compareTs(a.ts, b.ts));
  }

  ephemeral(channel: string, ts: string): EphemeralMessage | undefined {
    return this.#channels.get(channel)?.ephemerals.find((m) => m.ts === ts && !m.deleted);
  }

  postEphemeral(input: {
    channel: string;
    user: string;
    text: string;
    blocks?: unknown[] | undefined;
    attachments?: unknown[] | undefined;
    thread_ts?: string | undefined;
  }): StoreResult<EphemeralMessage> {
    const state = this.#channels.get(input.channel);
    if (!state) return fail('channel_not_found');
    const message: EphemeralMessage = {
      type: 'message',
      ts: this.nextTs(),
      channel: state.info.id,
      visible_to: input.user,
      user: this.bot.userId,
      text: input.text,
      ...(input.blocks ? { blocks: input.blocks } : {}),
      ...(input.attachments ? { attachments: input.attachments } : {}),
      ...(input.thread_ts !== undefined ? { thread_ts: input.thread_ts } : {}),
    };
    state.ephemerals.push(message);
    this.#emit({ type: 'ephemeral_posted', channel: state.info.id, user: input.user, message });
    return ok(message);
  }

  replaceEphemeral(channel: string, ts: string, patch: MessagePatch): StoreResult<EphemeralMessage> {
    const state = this.#channels.get(channel);
    const index = state?.ephemerals.findIndex((m) => m.ts === ts && !m.deleted) ?? -1;
    const previous = state?.ephemerals[index];
    if (!state || !previous) return fail('message_not_found');
    const next: EphemeralMessage = {
      ...previous,
      ...(patch.text !== undefined ? { text: patch.text } : {}),
      ...(patch.blocks !== undefined ? { blocks: patch.blocks } : {}),
      ...(patch.attachments !== undefined ? { attachments: patch.attachments } : {}),
    };
    if (next.blocks?.length === 0) delete next.blocks;
    if (next.attachments?.length === 0) delete next.attachments;
    state.ephemerals[index] = next;
    this.#emit({ type: 'ephemeral_updated', channel, user: next.visible_to, message: next });
    return ok(next);
  }

  deleteEphemeral(channel: string, ts: string): StoreResult<EphemeralMessage> {
    const state = this.#channels.get(channel);
    const index = state?.ephemerals.findIndex((m) => m.ts === ts && !m.deleted) ?? -1;
    const previous = state?.ephemerals[index];
    if (!state || !previous) return fail('message_not_found');
    const next = { ...previous, deleted: true };
    state.ephemerals[index] = next;
    this.#emit({ type: 'ephemeral_deleted', channel, user: next.visible_to, message: next });
    return ok(next);
  }

  // ---- reactions -------------------------------------------------------------------------------

  addReaction(channel: string, ts: string, name: string, user: string): StoreResult<SlackMessage> {
    const state = this.#channels.get(channel);
    const message = state?.messages.get(ts);
    if (!state || !message || message.subtype === 'tombstone') return fail('message_not_found');
    const reactions: SlackReaction[] = (message.reactions ?? []).map((r) => ({ ...r, users: [...r.users] }));
    const existing = reactions.find((r) => r.name === name);
    if (existing?.users.includes(user)) return fail('already_reacted');
    if (existing) {
      existing.users.push(user);
      existing.count += 1;
    } else {
      reactions.push({ name, users: [user], count: 1 });
    }
    const next = { ...message, reactions };
    state.messages.set(ts, next);
    this.#emit({ type: 'reaction_added', channel, ts, name, user });
    return ok(next);
  }

  removeReaction(channel: string, ts: string, name: string, user: string): StoreResult<SlackMessage> {
    const state = this.#channels.get(channel);
    const message = state?.messages.get(ts);
    if (!state || !message) return fail('message_not_found');
    const existing = message.reactions?.find((r) => r.name === name);
    if (!existing?.users.includes(user)) return fail('no_reaction');
    const reactions = (message.reactions ?? [])
      .map((r) =>
        r.name === name ? { name, users: r.users.filter((u) => u !== user), count: r.count - 1 } : r,
      )
      .filter((r) => r.count > 0);
    const next: SlackMessage = { ...message, reactions };
    if (reactions.length === 0) delete next.reactions;
    state.messages.set(ts, next);
    this.#emit({ type: 'reaction_removed', channel, ts, name, user });
    return ok(next);
  }

  // ---- views -----------------------------------------------------------------------------------

  views(): SlackView[] {
    return [...this.#views.values()];
  }

  view(id: string): SlackView | undefined {
    return this.#views.get(id);
  }

  viewByExternalId(externalId: string): SlackView | undefined {
    for (const view of this.#views.values()) if (view.external_id === externalId) return view;
    return undefined;
  }

  /** The Home tab last published for a user. */
  homeView(user: string): SlackView | undefined {
    const id = this.#homeViews.get(user);
    return id === undefined ? undefined : this.#views.get(id);
  }

  openView(spec: Record<string, unknown>, user: string | undefined): SlackView {
    const view = this.#buildView(spec, undefined, user);
    this.#views.set(view.id, view);
    this.#emit({ type: 'view_opened', view });
    return view;
  }

  updateView(id: string, spec: Record<string, unknown>): StoreResult<SlackView> {
    const previous = this.#views.get(id);
    if (!previous) return fail('not_found');
    const view = this.#buildView(spec, previous, previous.user);
    this.#views.set(id, view);
    this.#emit({ type: 'view_updated', view });
    return ok(view);
  }

  publishView(user: string, spec: Record<string, unknown>): SlackView {
    const previousId = this.#homeViews.get(user);
    const previous = previousId === undefined ? undefined : this.#views.get(previousId);
    const view = this.#buildView(spec, previous, user);
    this.#views.set(view.id, view);
    this.#homeViews.set(user, view.id);
    this.#emit({ type: 'view_published', view });
    return view;
  }

  // ---- files -----------------------------------------------------------------------------------

  files(): SlackFile[] {
    return [...this.#files.values()];
  }

  file(id: string): SlackFile | undefined {
    return this.#files.get(id);
  }

  createFile(input: { filename: string; length: number; alt_text?: string | undefined }): SlackFile {
    const file: SlackFile = {
      id: this.nextId('F'),
      name: input.filename,
      title: input.filename,
      mimetype: mimetypeOf(input.filename),
      filetype: input.filename.includes('.') ? (input.filename.split('.').pop() ?? 'text') : 'text',
      size: input.length,
      created: Math.floor(this.#clock() / 1000),
      user: this.bot.userId,
      ...(input.alt_text !== undefined ? { alt_text: input.alt_text } : {}),
      channels: [],
      content: undefined,
    };
    this.#files.set(file.id, file);
    return file;
  }

  storeFileContent(id: string, content: Buffer): StoreResult<SlackFile> {
    const file = this.#files.get(id);
    if (!file) return fail('file_not_found');
    const next = { ...file, content, size: content.length };
    this.#files.set(id, next);
    return ok(next);
  }

  /** Finishes an upload: titles it and shares it to `channel` (as one message) when given. */
  completeFiles(
    files: Array<{ id: string; title?: string | undefined }>,
    share?: {
      channel: string;
      thread_ts?: string | undefined;
      initial_comment?: string | undefined;
      blocks?: unknown[];
    },
  ): StoreResult<SlackFile[]> {
    const done: SlackFile[] = [];
    for (const { id, title } of files) {
      const file = this.#files.get(id);
      if (!file) return fail('file_not_found');
      if (file.content === undefined) return fail('file_upload_not_found');
      done.push({ ...file, ...(title ? { title } : {}) });
    }
    const shared = done.map((f) =>
      share ? { ...f, channels: [...new Set([...f.channels, share.channel])] } : f,
    );
    for (const f of shared) {
      this.#files.set(f.id, f);
      this.#emit({ type: 'file_uploaded', file: f });
    }
    if (share) {
      const posted = this.postMessage({
        channel: share.channel,
        text: share.initial_comment ?? '',
        thread_ts: share.thread_ts,
        blocks: share.blocks,
        files: shared,
      });
      if (!posted.ok) return fail(posted.error);
    }
    return ok(shared);
  }

  // ---- internals -------------------------------------------------------------------------------

  #newChannel(info: SlackChannel): ChannelState {
    return { info, messages: new Map(), ephemerals: [] };
  }

  #refreshThread(state: ChannelState, root: string): void {
    const parent = state.messages.get(root);
    if (!parent) return;
    const replies = [...state.messages.values()].filter((m) => m.thread_ts === root && m.ts !== root);
    const next: SlackMessage = { ...parent };
    if (replies.length === 0) {
      delete next.reply_count;
      delete next.reply_users;
      delete next.latest_reply;
      if (parent.subtype !== 'tombstone') delete next.thread_ts;
    } else {
      next.thread_ts = root;
      next.reply_count = replies.length;
      next.reply_users = [...new Set(replies.map((r) => r.user))];
      next.latest_reply = replies.at(-1)?.ts ?? root;
    }
    state.messages.set(root, next);
  }

  #buildView(
    spec: Record<string, unknown>,
    previous: SlackView | undefined,
    user: string | undefined,
  ): SlackView {
    const id = previous?.id ?? this.nextId('V');
    const str = (v: unknown, fallback: string): string => (typeof v === 'string' ? v : fallback);
    return {
      id,
      team_id: this.team.id,
      type: str(spec.type, previous?.type ?? 'modal'),
      title: spec.title ?? previous?.title,
      submit: spec.submit,
      close: spec.close,
      blocks: Array.isArray(spec.blocks) ? spec.blocks : [],
      private_metadata: str(spec.private_metadata, ''),
      callback_id: str(spec.callback_id, ''),
      external_id: str(spec.external_id, previous?.external_id ?? ''),
      hash: `${Math.floor(this.#clock() / 1000)}.${this.nextId('h').slice(2)}`,
      root_view_id: previous?.root_view_id ?? id,
      previous_view_id: null,
      app_id: this.bot.appId,
      bot_id: this.bot.botId,
      state: { values: {} },
      clear_on_close: spec.clear_on_close === true,
      notify_on_close: spec.notify_on_close === true,
      user,
    };
  }
}

function inRange(ts: string, query: HistoryQuery): boolean {
  const inclusive = query.inclusive === true;
  if (query.oldest !== undefined) {
    const c = compareTs(ts, query.oldest);
    if (c < 0 || (c === 0 && !inclusive)) return false;
  }
  if (query.latest !== undefined) {
    const c = compareTs(ts, query.latest);
    if (c > 0 || (c === 0 && !inclusive)) return false;
  }
  return true;
}

function pageOf(
  messages: SlackMessage[],
  query: HistoryQuery,
): { messages: SlackMessage[]; hasMore: boolean } {
  const matching = messages.filter((m) => inRange(m.ts, query));
  const limit = query.limit ?? matching.length;
  return { messages: matching.slice(0, limit), hasMore: matching.length > limit };
}

function isChannelLevel(m: SlackMessage): boolean {
  return m.thread_ts === undefined || m.thread_ts === m.ts || m.subtype === 'thread_broadcast';
}

function mimetypeOf(filename: string): string {
  const ext = filename.split('.').pop()?.toLowerCase();
  switch (ext) {
    case 'md':
      return 'text/markdown';
    case 'json':
      return 'application/json';
    case 'csv':
      return 'text/csv';
    case 'png':
      return 'image/png';
    case 'pdf':
      return 'application/pdf';
    case 'html':
      return 'text/html';
    default:
      return 'text/plain';
  }
}
