import { WebClient, WebAPIPlatformError, WebAPIRateLimitedError } from '@slack/web-api';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FakeSlack,
  validateBlocks,
  type FakeSlackOptions,
  type ListeningFakeSlack,
} from '../../src/sandbox/fake-slack.ts';
import { RateLimiter, TokenBucket } from '../../src/sandbox/fake-slack/rate-limit.ts';

// Slack's limits as the fake enforces them: rate limits (429 + Retry-After, seen through the real
// WebClient and through raw HTTP) and Block Kit validation (invalid_blocks with Slack's messages).

const open: ListeningFakeSlack[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** A fake with an injected clock, and a WebClient that throws on 429 instead of waiting. */
async function start(options: FakeSlackOptions = {}) {
  const clock = { now: 1_700_000_000_000 };
  const fake = new FakeSlack({ clock: () => clock.now, ...options });
  const server = await fake.listen();
  open.push(server);
  const client = new WebClient('xoxb-test', {
    slackApiUrl: server.apiUrl,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
  });
  return { fake, server, client, clock };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e,
  );
}

const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });

describe('FakeSlack rate limits', () => {
  it('lets a short burst to one channel through, then answers 429 with Retry-After', async () => {
    const { fake, server, client, clock } = await start();
    for (let i = 0; i < 4; i += 1) await client.chat.postMessage({ channel: 'C1', text: `burst ${i}` });

    const error = await rejection(client.chat.postMessage({ channel: 'C1', text: 'one too many' }));
    expect(error).toBeInstanceOf(WebAPIRateLimitedError);
    expect((error as WebAPIRateLimitedError).retryAfter).toBe(1);

    const raw = await fetch(`${server.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Bearer xoxb-test' },
      body: new URLSearchParams({ channel: 'C1', text: 'raw' }).toString(),
    });
    expect(raw.status).toBe(429);
    expect(raw.headers.get('retry-after')).toBe('1');
    expect(await raw.json()).toEqual({ ok: false, error: 'ratelimited' });
    expect(fake.messages('C1')).toHaveLength(4);
    expect(fake.callsTo('chat.postMessage').at(-1)).toMatchObject({ status: 429, retryAfter: 1 });

    // The limit is per channel, and the bucket refills at about one message a second.
    expect((await client.chat.postMessage({ channel: 'C2', text: 'other channel' })).ok).toBe(true);
    clock.now += 1000;
    expect((await client.chat.postMessage({ channel: 'C1', text: 'after a second' })).ok).toBe(true);
    expect(
      await rejection(client.chat.postMessage({ channel: 'C1', text: 'again too soon' })),
    ).toBeInstanceOf(WebAPIRateLimitedError);
  });

  it('limits chat.update to Tier 3 across all channels (about 50 a minute)', async () => {
    const { client, clock } = await start();
    const a = await client.chat.postMessage({ channel: 'C1', text: 'a' });
    const b = await client.chat.postMessage({ channel: 'C2', text: 'b' });
    for (let i = 0; i < 50; i += 1) {
      const target = i % 2 === 0 ? { channel: 'C1', ts: a.ts! } : { channel: 'C2', ts: b.ts! };
      await client.chat.update({ ...target, text: `edit ${i}` });
    }
    const error = await rejection(client.chat.update({ channel: 'C2', ts: b.ts!, text: 'edit 51' }));
    expect(error).toBeInstanceOf(WebAPIRateLimitedError);
    // 50 per minute refills one edit every 1.2 s; Slack rounds Retry-After up to whole seconds.
    expect((error as WebAPIRateLimitedError).retryAfter).toBe(2);
    clock.now += 1200;
    expect((await client.chat.update({ channel: 'C1', ts: a.ts!, text: 'later' })).ok).toBe(true);
  });

  it('limits usergroups.users.list to Tier 2 (about 20 a minute)', async () => {
    const { client } = await start({ usergroups: { S0PLATFORM: ['U02BOB'] } });
    for (let i = 0; i < 20; i += 1) await client.usergroups.users.list({ usergroup: 'S0PLATFORM' });
    const error = await rejection(client.usergroups.users.list({ usergroup: 'S0PLATFORM' }));
    expect((error as WebAPIRateLimitedError).retryAfter).toBe(3);
  });

  it('turns limits off with rateLimits: false, and scales them with a number', async () => {
    const off = await start({ rateLimits: false });
    for (let i = 0; i < 20; i += 1) await off.client.chat.postMessage({ channel: 'C1', text: `m${i}` });
    expect(off.fake.messages('C1')).toHaveLength(20);

    const fast = await start({ rateLimits: 10 });
    for (let i = 0; i < 4; i += 1) await fast.client.chat.postMessage({ channel: 'C1', text: `m${i}` });
    expect(await rejection(fast.client.chat.postMessage({ channel: 'C1', text: 'over' }))).toBeInstanceOf(
      WebAPIRateLimitedError,
    );
    fast.clock.now += 100; // ten times the rate: a token every 100 ms
    expect((await fast.client.chat.postMessage({ channel: 'C1', text: 'refilled' })).ok).toBe(true);
  });

  it('computes Retry-After as whole seconds of at least 1', () => {
    const bucket = new TokenBucket({ perSecond: 0.1, burst: 1 }, 0);
    expect(bucket.take(0)).toEqual({ ok: true });
    expect(bucket.take(0)).toEqual({ ok: false, retryAfter: 10 });
    expect(bucket.take(9500)).toEqual({ ok: false, retryAfter: 1 });
    expect(bucket.take(10_000)).toEqual({ ok: true });

    const limiter = new RateLimiter(() => 0, {
      policies: { 'auth.test': { perSecond: 100, burst: 1, scope: 'workspace' } },
    });
    expect(limiter.take('auth.test', {})).toEqual({ ok: true });
    expect(limiter.take('auth.test', {})).toEqual({ ok: false, retryAfter: 1 });
  });
});

describe('FakeSlack Block Kit validation', () => {
  async function blocksError(blocks: unknown[]): Promise<WebAPIPlatformError> {
    const { client } = await start({ rateLimits: false });
    const error = await rejection(
      client.chat.postMessage({ channel: 'C1', text: 'fallback', blocks: blocks as never }),
    );
    expect(error).toBeInstanceOf(WebAPIPlatformError);
    return error as WebAPIPlatformError;
  }

  it('rejects 51 blocks with invalid_blocks and explains why, as Slack does', async () => {
    const error = await blocksError(Array.from({ length: 51 }, (_, i) => section(`b${i}`)));
    expect(error.data.error).toBe('invalid_blocks');
    expect(error.data.response_metadata?.messages).toEqual([
      '[ERROR] no more than 50 items allowed [json-pointer:/blocks]',
    ]);
  });

  it('accepts exactly 50 blocks', async () => {
    const { client } = await start({ rateLimits: false });
    const blocks = Array.from({ length: 50 }, (_, i) => section(`b${i}`));
    expect((await client.chat.postMessage({ channel: 'C1', text: 'x', blocks })).ok).toBe(true);
  });

  it('rejects a 3001-character section text and accepts 3000', async () => {
    const error = await blocksError([section('x'.repeat(3001))]);
    expect(error.data.error).toBe('invalid_blocks');
    expect(error.data.response_metadata?.messages).toEqual([
      '[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]',
    ]);
    expect(validateBlocks([section('x'.repeat(3000))])).toEqual([]);
  });

  it('rejects chat.update with invalid blocks too', async () => {
    const { client } = await start({ rateLimits: false });
    const msg = await client.chat.postMessage({ channel: 'C1', text: 'x' });
    const error = await rejection(
      client.chat.update({
        channel: 'C1',
        ts: msg.ts!,
        text: 'x',
        blocks: [section('y'.repeat(3001))] as never,
      }),
    );
    expect((error as WebAPIPlatformError).data.error).toBe('invalid_blocks');
  });

  it('answers no_text when neither text nor blocks are given', async () => {
    const { client } = await start({ rateLimits: false });
    const error = await rejection(client.apiCall('chat.postMessage', { channel: 'C1' }));
    expect((error as WebAPIPlatformError).data.error).toBe('no_text');
  });

  it('enforces header, actions, button and action_id limits', () => {
    const button = (action_id: string, text = 'Go', value = 'v') => ({
      type: 'button',
      action_id,
      text: { type: 'plain_text', text },
      value,
    });
    expect(validateBlocks([{ type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } }])).toEqual(
      ['[ERROR] must be less than 151 characters [json-pointer:/blocks/0/text/text]'],
    );
    expect(validateBlocks([{ type: 'header', text: { type: 'mrkdwn', text: 'h' } }])).toEqual([
      '[ERROR] must be one of plain_text [json-pointer:/blocks/0/text/type]',
    ]);
    const many = Array.from({ length: 26 }, (_, i) => button(`a${i}`));
    expect(validateBlocks([{ type: 'actions', elements: many }])).toEqual([
      '[ERROR] no more than 25 items allowed [json-pointer:/blocks/0/elements]',
    ]);
    expect(validateBlocks([{ type: 'actions', elements: many.slice(0, 25) }])).toEqual([]);
    expect(validateBlocks([{ type: 'actions', elements: [button('a', 'b'.repeat(76))] }])).toEqual([
      '[ERROR] must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]',
    ]);
    expect(validateBlocks([{ type: 'actions', elements: [button('a', 'Go', 'v'.repeat(2001))] }])).toEqual([
      '[ERROR] must be less than 2001 characters [json-pointer:/blocks/0/elements/0/value]',
    ]);
    expect(validateBlocks([{ type: 'actions', elements: [button('approve'), button('approve')] }])).toEqual([
      "[ERROR] duplicate action_id 'approve' in the same block [json-pointer:/blocks/0/elements/1/action_id]",
    ]);
    // The same action_id in two different blocks is allowed.
    expect(
      validateBlocks([
        { type: 'actions', elements: [button('approve')] },
        { type: 'actions', elements: [button('approve')] },
      ]),
    ).toEqual([]);
  });

  it('catches duplicate block_ids, unknown block types and empty sections', () => {
    expect(
      validateBlocks([
        { ...section('a'), block_id: 'x' },
        { ...section('b'), block_id: 'x' },
      ]),
    ).toEqual(["[ERROR] duplicate block_id 'x' [json-pointer:/blocks/1/block_id]"]);
    expect(validateBlocks([{ type: 'sectoin' }])).toEqual([
      '[ERROR] unsupported type: sectoin [json-pointer:/blocks/0/type]',
    ]);
    expect(validateBlocks([{ type: 'section' }])).toEqual([
      '[ERROR] must provide either text or fields [json-pointer:/blocks/0]',
    ]);
  });

  it('allows 100 blocks in a modal but not 101', () => {
    const blocks = Array.from({ length: 101 }, (_, i) => section(`b${i}`));
    expect(validateBlocks(blocks.slice(0, 100), 'modal')).toEqual([]);
    expect(validateBlocks(blocks, 'modal')).toEqual([
      '[ERROR] no more than 100 items allowed [json-pointer:/blocks]',
    ]);
  });
});
