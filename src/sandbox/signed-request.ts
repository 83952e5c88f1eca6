import { randomBytes } from 'node:crypto';
import { slackSignature } from '../slack/signature.ts';

// Requests as Slack sends them to an app (reference/slack.md §3, §9): slash commands as form
// fields, interactivity as `payload=<JSON>`, events as JSON; each signed with
// `v0=` + hex HMAC-SHA256(signing secret, `v0:${timestamp}:${raw body}`). The sandbox console and
// the end-to-end tests drive Ferry's real Bolt receiver with these.

// A type alias (not an interface) so it passes as a plain header record to fetch and friends.
export type SlackSignatureHeaders = {
  'x-slack-request-timestamp': string;
  'x-slack-signature': string;
};

/** Signs a raw body the way Slack does. `timestamp` is in seconds (default: now). */
export function signRequest(
  body: string,
  secret: string,
  timestamp: number = Math.floor(Date.now() / 1000),
): SlackSignatureHeaders {
  const ts = String(Math.floor(timestamp));
  return { 'x-slack-request-timestamp': ts, 'x-slack-signature': slackSignature(secret, ts, body) };
}

export interface SendOptions {
  /** Adds `x-slack-retry-num` (and `x-slack-retry-reason`), as on Slack's redeliveries of events. */
  retryNum?: number;
  /** Default `http_timeout`. */
  retryReason?: string;
  /** Request timestamp in seconds (default now); an old one tests the 5-minute window. */
  timestamp?: number;
  /** Sent instead of the computed signature, to test rejection. */
  signature?: string;
  /** Path appended to `baseUrl` (default `/slack/events`, Bolt's endpoint). */
  path?: string;
  /** Default 10 s. */
  timeoutMs?: number;
}

export interface SignedResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined when it is not JSON (an empty ack, say). */
  json: unknown;
}

export interface SlashCommand {
  command: string;
  text: string;
  user_id: string;
  user_name: string;
  channel_id: string;
  channel_name?: string;
  team_id: string;
  team_domain?: string;
  response_url: string;
  trigger_id: string;
  api_app_id?: string;
  /** The legacy verification token (Bolt ignores it). */
  token?: string;
}

const FORM = 'application/x-www-form-urlencoded';
const DEFAULT_APP_ID = 'A0FERRYAPP';
const LEGACY_TOKEN = 'fake-verification-token';

/** Where a request goes: `baseUrl` + `opts.path` (default `/slack/events`), unless baseUrl already has a path. */
function targetUrl(baseUrl: string, path: string | undefined): string {
  const base = baseUrl.replace(/\/+$/, '');
  if (path !== undefined) return `${base}${path.startsWith('/') ? path : `/${path}`}`;
  return new URL(base).pathname.length > 1 ? base : `${base}/slack/events`;
}

/** Sends a raw body to the app, signed with `secret`, and reads the whole answer. */
export async function sendSigned(
  baseUrl: string,
  secret: string,
  body: string,
  contentType: string,
  opts: SendOptions = {},
): Promise<SignedResponse> {
  const signed = signRequest(body, secret, opts.timestamp);
  const headers: Record<string, string> = {
    'content-type': contentType,
    'x-slack-request-timestamp': signed['x-slack-request-timestamp'],
    'x-slack-signature': opts.signature ?? signed['x-slack-signature'],
  };
  if (opts.retryNum !== undefined) {
    headers['x-slack-retry-num'] = String(opts.retryNum);
    headers['x-slack-retry-reason'] = opts.retryReason ?? 'http_timeout';
  }
  const response = await fetch(targetUrl(baseUrl, opts.path), {
    method: 'POST',
    headers,
    body,
    signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** The form body of a slash command, fields in the order Slack sends them. */
export function slashCommandBody(cmd: SlashCommand): string {
  return new URLSearchParams({
    token: cmd.token ?? LEGACY_TOKEN,
    team_id: cmd.team_id,
    team_domain: cmd.team_domain ?? 'ferry-sandbox',
    channel_id: cmd.channel_id,
    channel_name: cmd.channel_name ?? cmd.channel_id.toLowerCase(),
    user_id: cmd.user_id,
    user_name: cmd.user_name,
    command: cmd.command,
    text: cmd.text,
    api_app_id: cmd.api_app_id ?? DEFAULT_APP_ID,
    is_enterprise_install: 'false',
    response_url: cmd.response_url,
    trigger_id: cmd.trigger_id,
  }).toString();
}

export function sendSlashCommand(
  baseUrl: string,
  secret: string,
  cmd: SlashCommand,
  opts: SendOptions = {},
): Promise<SignedResponse> {
  return sendSigned(baseUrl, secret, slashCommandBody(cmd), FORM, opts);
}

/** Any interactivity payload (block_actions, message_action, view_submission…) as `payload=<JSON>`. */
export function sendInteraction(
  baseUrl: string,
  secret: string,
  payload: object,
  opts: SendOptions = {},
): Promise<SignedResponse> {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  return sendSigned(baseUrl, secret, body, FORM, opts);
}

export function sendBlockAction(
  baseUrl: string,
  secret: string,
  payload: BlockActionPayload | object,
  opts: SendOptions = {},
): Promise<SignedResponse> {
  return sendInteraction(baseUrl, secret, payload, opts);
}

/** An Events API envelope, sent as JSON. */
export function sendEvent(
  baseUrl: string,
  secret: string,
  envelope: object,
  opts: SendOptions = {},
): Promise<SignedResponse> {
  return sendSigned(baseUrl, secret, JSON.stringify(envelope), 'application/json', opts);
}

// ---- payload builders ------------------------------------------------------------------------------

export interface PayloadUser {
  id: string;
  username?: string;
  name?: string;
  team_id?: string;
}

export interface PayloadChannel {
  id: string;
  name?: string;
}

export interface BlockActionInput {
  user: PayloadUser | string;
  channel: PayloadChannel | string;
  message: { ts: string; blocks?: unknown[]; text?: string; thread_ts?: string; [key: string]: unknown };
  action: { action_id: string; block_id?: string; value?: string; type?: string; text?: string };
  response_url: string;
  trigger_id?: string;
  team?: { id: string; domain?: string };
  api_app_id?: string;
  /** The button was on an ephemeral message (container.is_ephemeral). */
  is_ephemeral?: boolean;
}

export interface BlockAction {
  action_id: string;
  block_id: string;
  value?: string;
  type: string;
  action_ts: string;
  text: { type: 'plain_text'; text: string; emoji: boolean };
  style?: string;
}

export interface BlockActionPayload {
  type: 'block_actions';
  user: { id: string; username: string; name: string; team_id: string };
  api_app_id: string;
  token: string;
  container: {
    type: 'message';
    message_ts: string;
    channel_id: string;
    is_ephemeral: boolean;
    thread_ts?: string;
  };
  trigger_id: string;
  team: { id: string; domain: string };
  enterprise: null;
  is_enterprise_install: false;
  channel: { id: string; name: string };
  message: Record<string, unknown>;
  state: { values: Record<string, unknown> };
  response_url: string;
  actions: BlockAction[];
}

/** A trigger_id shaped like Slack's ("1234567890.1234567890.0123abcd…"). */
export function newTriggerId(): string {
  return `${Math.floor(Date.now() / 1000)}.${randomBytes(4).readUInt32BE()}.${randomBytes(16).toString('hex')}`;
}

function actionTs(): string {
  const micros = BigInt(Date.now()) * 1000n + BigInt(randomBytes(2).readUInt16BE() % 1000);
  const s = micros.toString();
  return `${s.slice(0, -6)}.${s.slice(-6)}`;
}

function normalizeUser(user: PayloadUser | string, teamId: string): BlockActionPayload['user'] {
  const u = typeof user === 'string' ? { id: user } : user;
  const name = u.username ?? u.name ?? u.id.toLowerCase();
  return { id: u.id, username: name, name: u.name ?? name, team_id: u.team_id ?? teamId };
}

function normalizeChannel(channel: PayloadChannel | string): { id: string; name: string } {
  const c = typeof channel === 'string' ? { id: channel } : channel;
  return { id: c.id, name: c.name ?? c.id.toLowerCase() };
}

/** Finds the clicked element in the message's blocks, for its block_id, text and style. */
function findElement(
  blocks: unknown[] | undefined,
  actionId: string,
  blockId: string | undefined,
): { blockId: string; element: Record<string, unknown> } | undefined {
  for (const block of blocks ?? []) {
    if (typeof block !== 'object' || block === null) continue;
    const b = block as Record<string, unknown>;
    if (blockId !== undefined && b.block_id !== blockId) continue;
    const elements = [...(Array.isArray(b.elements) ? (b.elements as unknown[]) : []), b.accessory].filter(
      (e): e is Record<string, unknown> => typeof e === 'object' && e !== null,
    );
    const element = elements.find((e) => e.action_id === actionId);
    if (element) return { blockId: typeof b.block_id === 'string' ? b.block_id : '', element };
  }
  return undefined;
}

/**
 * A realistic `block_actions` payload for a button click on `message`. The action's block_id,
 * label and style come from the message's blocks when the button is there.
 */
export function buildBlockActionPayload(input: BlockActionInput): BlockActionPayload {
  const team = { id: input.team?.id ?? 'T0FERRY', domain: input.team?.domain ?? 'ferry-sandbox' };
  const channel = normalizeChannel(input.channel);
  const found = findElement(input.message.blocks, input.action.action_id, input.action.block_id);
  const label = found?.element.text;
  const labelText =
    input.action.text ??
    (typeof label === 'object' && label !== null && typeof (label as { text?: unknown }).text === 'string'
      ? (label as { text: string }).text
      : input.action.action_id);
  const value =
    input.action.value ?? (typeof found?.element.value === 'string' ? found.element.value : undefined);
  const style = typeof found?.element.style === 'string' ? found.element.style : undefined;
  const action: BlockAction = {
    action_id: input.action.action_id,
    block_id: input.action.block_id ?? found?.blockId ?? '',
    ...(value !== undefined ? { value } : {}),
    type: input.action.type ?? (typeof found?.element.type === 'string' ? found.element.type : 'button'),
    action_ts: actionTs(),
    text: { type: 'plain_text', text: labelText, emoji: true },
    ...(style ? { style } : {}),
  };
  const isEphemeral = input.is_ephemeral === true;
  return {
    type: 'block_actions',
    user: normalizeUser(input.user, team.id),
    api_app_id: input.api_app_id ?? DEFAULT_APP_ID,
    token: LEGACY_TOKEN,
    container: {
      type: 'message',
      message_ts: input.message.ts,
      channel_id: channel.id,
      is_ephemeral: isEphemeral,
      ...(input.message.thread_ts ? { thread_ts: input.message.thread_ts } : {}),
    },
    trigger_id: input.trigger_id ?? newTriggerId(),
    team,
    enterprise: null,
    is_enterprise_install: false,
    channel,
    message: { type: 'message', text: '', ...input.message },
    state: { values: {} },
    response_url: input.response_url,
    actions: [action],
  };
}

export interface MessageShortcutInput {
  callback_id: string;
  user: PayloadUser | string;
  channel: PayloadChannel | string;
  message: { ts: string; text?: string; user?: string; thread_ts?: string; [key: string]: unknown };
  response_url: string;
  trigger_id?: string;
  team?: { id: string; domain?: string };
}

/** A `message_action` payload (a message shortcut such as "Pin to timeline"). */
export function buildMessageShortcutPayload(input: MessageShortcutInput): Record<string, unknown> {
  const team = { id: input.team?.id ?? 'T0FERRY', domain: input.team?.domain ?? 'ferry-sandbox' };
  return {
    type: 'message_action',
    token: LEGACY_TOKEN,
    action_ts: actionTs(),
    team,
    user: normalizeUser(input.user, team.id),
    channel: normalizeChannel(input.channel),
    is_enterprise_install: false,
    enterprise: null,
    callback_id: input.callback_id,
    trigger_id: input.trigger_id ?? newTriggerId(),
    response_url: input.response_url,
    message_ts: input.message.ts,
    message: { type: 'message', text: '', ...input.message },
  };
}

export interface ViewSubmissionInput {
  user: PayloadUser | string;
  view: {
    id: string;
    callback_id: string;
    private_metadata?: string;
    /** `state.values`: block_id -> action_id -> element value, e.g. `{ notes: { input: { type: 'plain_text_input', value: 'x' } } }`. */
    values?: Record<string, Record<string, unknown>>;
    blocks?: unknown[];
    hash?: string;
  };
  trigger_id?: string;
  team?: { id: string; domain?: string };
  api_app_id?: string;
}

/** A `view_submission` payload for a modal. */
export function buildViewSubmissionPayload(input: ViewSubmissionInput): Record<string, unknown> {
  const team = { id: input.team?.id ?? 'T0FERRY', domain: input.team?.domain ?? 'ferry-sandbox' };
  const appId = input.api_app_id ?? DEFAULT_APP_ID;
  return {
    type: 'view_submission',
    team,
    user: normalizeUser(input.user, team.id),
    api_app_id: appId,
    token: LEGACY_TOKEN,
    trigger_id: input.trigger_id ?? newTriggerId(),
    view: {
      id: input.view.id,
      team_id: team.id,
      type: 'modal',
      blocks: input.view.blocks ?? [],
      private_metadata: input.view.private_metadata ?? '',
      callback_id: input.view.callback_id,
      state: { values: input.view.values ?? {} },
      hash: input.view.hash ?? '',
      app_id: appId,
      root_view_id: input.view.id,
      previous_view_id: null,
    },
    response_urls: [],
    is_enterprise_install: false,
    enterprise: null,
  };
}

export interface EventEnvelopeInput {
  event: Record<string, unknown>;
  team_id?: string;
  api_app_id?: string;
  event_id?: string;
  event_time?: number;
}

/** An Events API `event_callback` envelope around `event`. */
export function buildEventEnvelope(input: EventEnvelopeInput): Record<string, unknown> {
  const teamId = input.team_id ?? 'T0FERRY';
  return {
    token: LEGACY_TOKEN,
    team_id: teamId,
    api_app_id: input.api_app_id ?? DEFAULT_APP_ID,
    event: input.event,
    type: 'event_callback',
    event_id: input.event_id ?? `Ev${randomBytes(5).toString('hex').toUpperCase()}`,
    event_time: input.event_time ?? Math.floor(Date.now() / 1000),
    authorizations: [
      {
        enterprise_id: null,
        team_id: teamId,
        user_id: 'U0FERRYBOT',
        is_bot: true,
        is_enterprise_install: false,
      },
    ],
    is_ext_shared_channel: false,
  };
}
