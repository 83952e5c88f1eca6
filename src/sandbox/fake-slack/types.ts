// The data the fake Slack keeps and shows: what tests assert on and what the sandbox console
// renders. Field names follow Slack's own JSON so a message here reads like one from the Web API.

/** Milliseconds since the epoch; injected so tests can move time without sleeping. */
export type Clock = () => number;

/** Arguments of one Web API call after parsing (form fields, JSON body or query string). */
export type ApiArgs = Record<string, unknown>;

export interface SlackUser {
  id: string;
  name: string;
  real_name?: string;
  display_name?: string;
  email?: string;
  is_bot?: boolean;
  is_admin?: boolean;
  deleted?: boolean;
  tz?: string;
}

export interface SlackChannel {
  id: string;
  name: string;
  is_private?: boolean;
  is_im?: boolean;
  /** For a DM (`D…`): the user at the other end. */
  user?: string;
  topic?: string;
  purpose?: string;
}

export interface SlackReaction {
  name: string;
  users: string[];
  count: number;
}

export interface SlackFile {
  id: string;
  name: string;
  title: string;
  mimetype: string;
  filetype: string;
  size: number;
  created: number;
  user: string;
  alt_text?: string;
  /** Channels the file was shared to by `files.completeUploadExternal`. */
  channels: string[];
  /** The uploaded bytes; undefined until the upload POST arrives. */
  content: Buffer | undefined;
}

export interface SlackMessageMetadata {
  event_type: string;
  event_payload: Record<string, unknown>;
}

export interface SlackMessage {
  type: 'message';
  /** Unique and increasing within this fake, e.g. "1700000000.000100". */
  ts: string;
  channel: string;
  /** The author: the bot's user id for API posts, a person's for `addUserMessage`. */
  user: string;
  bot_id?: string;
  app_id?: string;
  team: string;
  text: string;
  blocks?: unknown[];
  attachments?: unknown[];
  metadata?: SlackMessageMetadata;
  /** Set on thread replies (the parent's ts) and on thread parents (their own ts). */
  thread_ts?: string;
  parent_user_id?: string;
  reply_count?: number;
  reply_users?: string[];
  latest_reply?: string;
  /** `thread_broadcast` for a reply also shown in the channel; `tombstone` for a deleted parent. */
  subtype?: 'thread_broadcast' | 'tombstone' | 'bot_message';
  edited?: { user: string; ts: string };
  reactions?: SlackReaction[];
  /** Channels where it is pinned (`pins.add`). */
  pinned_to?: string[];
  files?: SlackFile[];
  /** Whether a person posted it through `response_url` with `response_type: 'in_channel'`. */
  via_response_url?: boolean;
}

export interface EphemeralMessage {
  type: 'message';
  ts: string;
  channel: string;
  /** The only person who sees it. */
  visible_to: string;
  user: string;
  text: string;
  blocks?: unknown[];
  attachments?: unknown[];
  thread_ts?: string;
  /** True once a `response_url` replaced or deleted it. */
  deleted?: boolean;
}

export interface SlackView {
  id: string;
  team_id: string;
  /** `modal` or `home`. */
  type: string;
  title?: unknown;
  submit?: unknown;
  close?: unknown;
  blocks: unknown[];
  private_metadata: string;
  callback_id: string;
  external_id: string;
  hash: string;
  root_view_id: string;
  previous_view_id: string | null;
  app_id: string;
  bot_id: string;
  state: { values: Record<string, unknown> };
  clear_on_close: boolean;
  notify_on_close: boolean;
  /** Who sees it: the user the trigger belonged to (modal) or `user_id` (home). */
  user: string | undefined;
}

/** Every Web API call, response_url post and file upload, in arrival order. */
export interface RecordedCall {
  seq: number;
  /** The Web API method, or `response_url` / `file_upload` for those two endpoints. */
  method: string;
  args: ApiArgs;
  token: string | undefined;
  /** The HTTP status answered; 0 when the connection was closed instead (`dropConnection`). */
  status: number;
  response: Record<string, unknown>;
  /** `Retry-After` seconds when the call was rate limited. */
  retryAfter?: number;
  at: number;
}

/** What changed, for live views (the console streams these) and `waitFor`. */
export type FakeSlackChange =
  | { type: 'message_posted'; channel: string; message: SlackMessage }
  | { type: 'message_updated'; channel: string; message: SlackMessage; previous: SlackMessage }
  | { type: 'message_deleted'; channel: string; ts: string; message: SlackMessage }
  | { type: 'ephemeral_posted'; channel: string; user: string; message: EphemeralMessage }
  | { type: 'ephemeral_updated'; channel: string; user: string; message: EphemeralMessage }
  | { type: 'ephemeral_deleted'; channel: string; user: string; message: EphemeralMessage }
  | { type: 'reaction_added'; channel: string; ts: string; name: string; user: string }
  | { type: 'reaction_removed'; channel: string; ts: string; name: string; user: string }
  | { type: 'pin_added'; channel: string; ts: string }
  | { type: 'pin_removed'; channel: string; ts: string }
  | { type: 'view_opened'; view: SlackView }
  | { type: 'view_updated'; view: SlackView }
  | { type: 'view_published'; view: SlackView }
  | { type: 'file_uploaded'; file: SlackFile }
  | { type: 'channel_created'; channel: SlackChannel };

/** A change as emitted: numbered so a stream can resume after its last seen event. */
export type FakeSlackEvent = FakeSlackChange & { seq: number; at: number };

/** A Web API answer before it goes on the wire. */
export type ApiResponse =
  | ({ ok: true } & Record<string, unknown>)
  | { ok: false; error: string; response_metadata?: { messages: string[] }; [key: string]: unknown };
