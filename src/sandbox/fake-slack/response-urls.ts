import { randomBytes } from 'node:crypto';
import { validateBlocks } from './blocks.ts';
import type { SlackStore } from './store.ts';
import type { ApiResponse, Clock } from './types.ts';

// response_url (reference/slack.md §5): usable up to 5 times within 30 minutes. Each minted URL
// remembers where its command or action came from, so a response lands in the right channel, for
// the right person, and `replace_original` / `delete_original` know which message is meant.

export interface ResponseTarget {
  channel: string;
  user: string;
  /** The message the action was clicked on (channel message or ephemeral), if any. */
  messageTs?: string | undefined;
}

export interface ResponseUrlLimits {
  maxUses: number;
  ttlMs: number;
}

export const DEFAULT_RESPONSE_URL_LIMITS: ResponseUrlLimits = { maxUses: 5, ttlMs: 30 * 60 * 1000 };

export type ResponseUrlCheck = { ok: true; target: ResponseTarget } | { ok: false; error: string };

export class ResponseUrlBook {
  readonly #clock: Clock;
  readonly #limits: ResponseUrlLimits;
  readonly #entries = new Map<string, { target: ResponseTarget; at: number; uses: number }>();

  constructor(clock: Clock, limits: ResponseUrlLimits = DEFAULT_RESPONSE_URL_LIMITS) {
    this.#clock = clock;
    this.#limits = limits;
  }

  /** A new opaque id for a response_url. */
  mint(target: ResponseTarget): string {
    const id = randomBytes(12).toString('hex');
    this.#entries.set(id, { target: { ...target }, at: this.#clock(), uses: 0 });
    return id;
  }

  use(id: string): ResponseUrlCheck {
    const entry = this.#entries.get(id);
    if (!entry) return { ok: false, error: 'invalid_url' };
    if (this.#clock() - entry.at > this.#limits.ttlMs) return { ok: false, error: 'expired_url' };
    if (entry.uses >= this.#limits.maxUses) return { ok: false, error: 'used_url' };
    entry.uses += 1;
    return { ok: true, target: entry.target };
  }
}

/** What a response_url POST may carry (Bolt's `respond()` sends it as JSON). */
export interface ResponsePayload {
  text?: unknown;
  blocks?: unknown;
  attachments?: unknown;
  response_type?: unknown;
  replace_original?: unknown;
  delete_original?: unknown;
  thread_ts?: unknown;
}

const truthy = (v: unknown): boolean => v === true || v === 'true' || v === 1 || v === '1';

/**
 * Carries out one response: delete or replace the original message (ephemeral or in the channel),
 * else post a new ephemeral (the default) or, with `response_type: 'in_channel'`, a channel message.
 */
export function applyResponse(
  store: SlackStore,
  response: ResponseTarget,
  payload: ResponsePayload,
): ApiResponse {
  const channel = store.resolveChannel(response.channel);
  if (!channel.ok) return { ok: false, error: channel.error };
  const target = { ...response, channel: channel.value.id };
  const original = target.messageTs;
  if (truthy(payload.delete_original)) {
    if (original === undefined) return { ok: false, error: 'message_not_found' };
    const removed = store.ephemeral(target.channel, original)
      ? store.deleteEphemeral(target.channel, original)
      : store.deleteMessage(target.channel, original);
    return removed.ok ? { ok: true } : { ok: false, error: removed.error };
  }

  const text = typeof payload.text === 'string' ? payload.text : undefined;
  let blocks: unknown[] | undefined;
  if (payload.blocks !== undefined) {
    if (!Array.isArray(payload.blocks)) return { ok: false, error: 'invalid_blocks_format' };
    const problems = validateBlocks(payload.blocks);
    if (problems.length > 0)
      return { ok: false, error: 'invalid_blocks', response_metadata: { messages: problems } };
    blocks = payload.blocks;
  }
  const attachments = Array.isArray(payload.attachments) ? payload.attachments : undefined;
  if (!text && !blocks && !attachments) return { ok: false, error: 'no_text' };
  const threadTs =
    typeof payload.thread_ts === 'string' && payload.thread_ts !== '' ? payload.thread_ts : undefined;

  if (truthy(payload.replace_original) && original !== undefined) {
    // A replacement is a whole new message: what it leaves out is gone.
    const patch = { text: text ?? '', blocks: blocks ?? [], attachments: attachments ?? [] };
    if (store.ephemeral(target.channel, original)) {
      const replaced = store.replaceEphemeral(target.channel, original, patch);
      return replaced.ok ? { ok: true } : { ok: false, error: replaced.error };
    }
    const message = store.message(target.channel, original);
    if (!message) return { ok: false, error: 'message_not_found' };
    if (message.user !== store.bot.userId) return { ok: false, error: 'cant_update_message' };
    const updated = store.updateMessage(target.channel, original, patch, store.bot.userId);
    return updated.ok ? { ok: true } : { ok: false, error: updated.error };
  }

  if (payload.response_type === 'in_channel') {
    const posted = store.postMessage({
      channel: target.channel,
      text: text ?? '',
      blocks,
      attachments,
      thread_ts: threadTs,
      via_response_url: true,
    });
    return posted.ok ? { ok: true } : { ok: false, error: posted.error };
  }
  const posted = store.postEphemeral({
    channel: target.channel,
    user: target.user,
    text: text ?? '',
    blocks,
    attachments,
    thread_ts: threadTs,
  });
  return posted.ok ? { ok: true } : { ok: false, error: posted.error };
}
