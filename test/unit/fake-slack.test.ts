import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebClient, WebAPIPlatformError, WebAPIRateLimitedError } from '@slack/web-api';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FakeSlack,
  type FakeSlackEvent,
  type FakeSlackOptions,
  type ListeningFakeSlack,
} from '../../src/sandbox/fake-slack.ts';

// The fake through the REAL @slack/web-api WebClient, so the wire format (form bodies with
// JSON-encoded blocks, Bearer token, uploadV2's three steps) is the one Ferry will send.

const open: ListeningFakeSlack[] = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function start(options: FakeSlackOptions = {}) {
  const fake = new FakeSlack({ rateLimits: false, ...options });
  const server = await fake.listen();
  open.push(server);
  const client = new WebClient('xoxb-test', { slackApiUrl: server.apiUrl, retryConfig: { retries: 0 } });
  return { fake, server, client };
}

async function platformError(promise: Promise<unknown>): Promise<WebAPIPlatformError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WebAPIPlatformError);
  return error as WebAPIPlatformError;
}

const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });

describe('FakeSlack Web API through WebClient', () => {
  it('answers auth.test with the bot identity Bolt needs', async () => {
    const { client } = await start({ bot: { userId: 'U0BOT', botId: 'B0BOT' }, team: { id: 'T0TEAM' } });
    const res = await client.auth.test();
    expect(res).toMatchObject({ ok: true, user_id: 'U0BOT', bot_id: 'B0BOT', team_id: 'T0TEAM' });
    expect(res.url).toMatch(/^https:\/\/.+\.slack\.com\/$/);
  });

  it('rejects a missing token with not_authed and a wrong one with invalid_auth', async () => {
    const { server } = await start({ token: 'xoxb-right' });
    const noToken = await fetch(`${server.apiUrl}auth.test`, { method: 'POST' });
    expect(noToken.status).toBe(200);
    expect(await noToken.json()).toEqual({ ok: false, error: 'not_authed' });
    const wrong = new WebClient('xoxb-wrong', { slackApiUrl: server.apiUrl, retryConfig: { retries: 0 } });
    expect((await platformError(wrong.auth.test())).data.error).toBe('invalid_auth');
    const right = new WebClient('xoxb-right', { slackApiUrl: server.apiUrl, retryConfig: { retries: 0 } });
    expect((await right.auth.test()).ok).toBe(true);
  });

  it('answers an unknown method with unknown_method', async () => {
    const { client } = await start();
    expect((await platformError(client.apiCall('chat.teleport', {}))).data.error).toBe('unknown_method');
  });

  it('posts, threads, broadcasts and updates messages with unique increasing ts', async () => {
    const { fake, client } = await start();
    const blocks = [section('*Migration r1* started')];
    const parent = await client.chat.postMessage({
      channel: 'C0MIGRATIONS',
      text: 'Migration r1 started',
      blocks,
      metadata: { event_type: 'ferry_run', event_payload: { run: 'r1' } },
    });
    expect(parent).toMatchObject({ ok: true, channel: 'C0MIGRATIONS' });
    expect(parent.ts).toMatch(/^\d+\.\d{6}$/);
    expect(parent.message?.blocks).toEqual(blocks);

    const reply = await client.chat.postMessage({
      channel: 'C0MIGRATIONS',
      text: 'step 1 ok',
      thread_ts: parent.ts!,
    });
    const broadcast = await client.chat.postMessage({
      channel: 'C0MIGRATIONS',
      text: 'needs approval',
      thread_ts: parent.ts!,
      reply_broadcast: true,
    });
    expect(Number(reply.ts)).toBeGreaterThan(Number(parent.ts));
    expect(Number(broadcast.ts)).toBeGreaterThan(Number(reply.ts));

    expect(fake.messages('C0MIGRATIONS').map((m) => m.text)).toEqual([
      'Migration r1 started',
      'needs approval',
    ]);
    expect(fake.thread('C0MIGRATIONS', parent.ts!).map((m) => m.text)).toEqual([
      'Migration r1 started',
      'step 1 ok',
      'needs approval',
    ]);
    const parentNow = fake.message('C0MIGRATIONS', parent.ts!)!;
    expect(parentNow).toMatchObject({ reply_count: 2, latest_reply: broadcast.ts, thread_ts: parent.ts });
    expect(parentNow.metadata).toEqual({ event_type: 'ferry_run', event_payload: { run: 'r1' } });

    const updated = await client.chat.update({
      channel: 'C0MIGRATIONS',
      ts: parent.ts!,
      text: 'Migration r1 done',
      blocks: [section('*Migration r1* done')],
    });
    expect(updated).toMatchObject({ ok: true, ts: parent.ts, text: 'Migration r1 done' });
    const edited = fake.message('C0MIGRATIONS', parent.ts!)!;
    expect(edited.text).toBe('Migration r1 done');
    expect(edited.blocks).toEqual([section('*Migration r1* done')]);
    expect(edited.reply_count).toBe(2);

    // Omitted blocks keep the old ones; [] clears them (slack.md §7).
    await client.chat.update({ channel: 'C0MIGRATIONS', ts: parent.ts!, text: 'text only' });
    expect(fake.message('C0MIGRATIONS', parent.ts!)!.blocks).toEqual([section('*Migration r1* done')]);
    await client.chat.update({ channel: 'C0MIGRATIONS', ts: parent.ts!, text: 'cleared', blocks: [] });
    expect(fake.message('C0MIGRATIONS', parent.ts!)!.blocks).toBeUndefined();
  });

  it('refuses chat.update without a known message and without content', async () => {
    const { client } = await start();
    const posted = await client.chat.postMessage({ channel: 'C1', text: 'x' });
    expect(
      (await platformError(client.chat.update({ channel: 'C1', ts: '1.000000', text: 'y' }))).data.error,
    ).toBe('message_not_found');
    expect(
      (await platformError(client.apiCall('chat.update', { channel: 'C1', ts: posted.ts }))).data.error,
    ).toBe('no_text');
  });

  it('shows an ephemeral message only to its user and cannot update it with chat.update', async () => {
    const { fake, client } = await start();
    const res = await client.chat.postEphemeral({ channel: 'C1', user: 'U01ALICE', text: 'only you' });
    expect(res.message_ts).toMatch(/^\d+\.\d{6}$/);
    expect(fake.ephemerals('U01ALICE').map((m) => m.text)).toEqual(['only you']);
    expect(fake.ephemerals('U02BOB')).toEqual([]);
    expect(fake.messages('C1')).toEqual([]);
    expect(
      (await platformError(client.chat.update({ channel: 'C1', ts: res.message_ts!, text: 'edit' }))).data
        .error,
    ).toBe('message_not_found');
  });

  it('deletes messages and leaves a tombstone for a thread parent with replies', async () => {
    const { fake, client } = await start();
    const lone = await client.chat.postMessage({ channel: 'C1', text: 'lone' });
    const parent = await client.chat.postMessage({ channel: 'C1', text: 'parent' });
    await client.chat.postMessage({ channel: 'C1', text: 'reply', thread_ts: parent.ts! });
    expect(await client.chat.delete({ channel: 'C1', ts: lone.ts! })).toMatchObject({
      ok: true,
      ts: lone.ts,
    });
    await client.chat.delete({ channel: 'C1', ts: parent.ts! });
    expect(fake.messages('C1').map((m) => m.subtype)).toEqual(['tombstone']);
    expect((await platformError(client.chat.delete({ channel: 'C1', ts: lone.ts! }))).data.error).toBe(
      'message_not_found',
    );
  });

  it('lists user group members and users, with Slack errors for unknown ids', async () => {
    const { client } = await start({
      users: [{ id: 'U01ALICE', name: 'alice', real_name: 'Alice' }],
      usergroups: { S0PLATFORM: ['U02BOB', 'U03CAROL'] },
    });
    expect((await client.usergroups.users.list({ usergroup: 'S0PLATFORM' })).users).toEqual([
      'U02BOB',
      'U03CAROL',
    ]);
    expect((await platformError(client.usergroups.users.list({ usergroup: 'S0NOPE' }))).data.error).toBe(
      'no_such_subteam',
    );
    const alice = await client.users.info({ user: 'U01ALICE' });
    expect(alice.user).toMatchObject({ id: 'U01ALICE', name: 'alice', real_name: 'Alice' });
    expect((await platformError(client.users.info({ user: 'U09NOBODY' }))).data.error).toBe('user_not_found');
  });

  it('stores a files.uploadV2 upload and shares it in the thread', async () => {
    const { fake, client } = await start();
    const parent = await client.chat.postMessage({ channel: 'C1', text: 'run r1' });
    const res = await client.files.uploadV2({
      channel_id: 'C1',
      thread_ts: parent.ts!,
      content: '# Report\nall good',
      filename: 'report.md',
      title: 'Run report',
      initial_comment: 'Report attached',
    });
    expect(res.ok).toBe(true);
    const [file] = fake.files();
    expect(file).toMatchObject({
      name: 'report.md',
      title: 'Run report',
      mimetype: 'text/markdown',
      channels: ['C1'],
    });
    expect(file!.content?.toString()).toBe('# Report\nall good');
    const reply = fake.thread('C1', parent.ts!)[1]!;
    expect(reply.text).toBe('Report attached');
    expect(reply.files?.map((f) => f.id)).toEqual([file!.id]);
    expect(fake.calls.map((c) => c.method)).toEqual([
      'chat.postMessage',
      'files.getUploadURLExternal',
      'file_upload',
      'files.completeUploadExternal',
    ]);
  });

  it('pages conversations.history with latest, oldest, inclusive and limit, newest first', async () => {
    const { client } = await start();
    const ts: string[] = [];
    for (const text of ['a', 'b', 'c', 'd'])
      ts.push((await client.chat.postMessage({ channel: 'C1', text })).ts!);
    const all = await client.conversations.history({ channel: 'C1' });
    expect(all.messages?.map((m) => m.text)).toEqual(['d', 'c', 'b', 'a']);

    const one = await client.conversations.history({
      channel: 'C1',
      latest: ts[1],
      inclusive: true,
      limit: 1,
    });
    expect(one.messages?.map((m) => m.text)).toEqual(['b']);
    expect(one.has_more).toBe(true);

    const between = await client.conversations.history({ channel: 'C1', oldest: ts[0], latest: ts[3] });
    expect(between.messages?.map((m) => m.text)).toEqual(['c', 'b']);

    const page1 = await client.conversations.history({ channel: 'C1', limit: 3 });
    expect(page1.messages?.map((m) => m.text)).toEqual(['d', 'c', 'b']);
    const page2 = await client.conversations.history({
      channel: 'C1',
      limit: 3,
      cursor: page1.response_metadata!.next_cursor!,
    });
    expect(page2.messages?.map((m) => m.text)).toEqual(['a']);
    expect(page2.has_more).toBe(false);
  });

  it('answers conversations.replies for a thread and thread_not_found otherwise', async () => {
    const { client } = await start();
    const parent = await client.chat.postMessage({ channel: 'C1', text: 'p' });
    const r1 = await client.chat.postMessage({ channel: 'C1', text: 'r1', thread_ts: parent.ts! });
    await client.chat.postMessage({ channel: 'C1', text: 'r2', thread_ts: parent.ts! });
    const thread = await client.conversations.replies({ channel: 'C1', ts: parent.ts! });
    expect(thread.messages?.map((m) => m.text)).toEqual(['p', 'r1', 'r2']);
    const exact = await client.conversations.replies({
      channel: 'C1',
      ts: parent.ts!,
      oldest: r1.ts!,
      latest: r1.ts!,
      inclusive: true,
    });
    expect(exact.messages?.map((m) => m.text)).toEqual(['r1']);
    expect(
      (await platformError(client.conversations.replies({ channel: 'C1', ts: '1.000000' }))).data.error,
    ).toBe('thread_not_found');
  });

  it('knows configured channels and refuses others when strict', async () => {
    const { client } = await start({ channels: [{ id: 'C0MIG', name: 'migrations' }], strictChannels: true });
    expect((await client.conversations.info({ channel: 'C0MIG' })).channel).toMatchObject({
      id: 'C0MIG',
      name: 'migrations',
      is_channel: true,
    });
    expect((await client.chat.postMessage({ channel: '#migrations', text: 'by name' })).channel).toBe(
      'C0MIG',
    );
    expect((await platformError(client.chat.postMessage({ channel: 'C0OTHER', text: 'x' }))).data.error).toBe(
      'channel_not_found',
    );
  });

  it('adds, reads and removes reactions, refusing a second identical one', async () => {
    const { fake, client } = await start();
    const msg = await client.chat.postMessage({ channel: 'C1', text: 'x' });
    await client.reactions.add({ channel: 'C1', timestamp: msg.ts!, name: 'white_check_mark' });
    expect(
      (
        await platformError(
          client.reactions.add({ channel: 'C1', timestamp: msg.ts!, name: 'white_check_mark' }),
        )
      ).data.error,
    ).toBe('already_reacted');
    const got = await client.reactions.get({ channel: 'C1', timestamp: msg.ts! });
    expect(got.message?.reactions).toEqual([{ name: 'white_check_mark', users: ['U0FERRYBOT'], count: 1 }]);
    await client.reactions.remove({ channel: 'C1', timestamp: msg.ts!, name: 'white_check_mark' });
    expect(fake.message('C1', msg.ts!)!.reactions).toBeUndefined();
  });

  it('opens a modal once per trigger, refusing a reused or expired one', async () => {
    let now = 1_700_000_000_000;
    const { fake, client } = await start({ clock: () => now });
    const view = {
      type: 'modal' as const,
      title: { type: 'plain_text' as const, text: 'Notes' },
      blocks: [],
    };
    expect((await platformError(client.apiCall('views.open', { view }))).data.error).toBe(
      'invalid_arguments',
    );
    const trigger = fake.mintTriggerId('U01ALICE');
    const opened = await client.views.open({ trigger_id: trigger, view });
    expect(opened.view?.id).toMatch(/^V/);
    expect(fake.views()[0]).toMatchObject({ user: 'U01ALICE', type: 'modal' });
    expect((await platformError(client.views.open({ trigger_id: trigger, view }))).data.error).toBe(
      'exchanged_trigger_id',
    );
    const late = fake.mintTriggerId('U01ALICE');
    now += 3001;
    expect((await platformError(client.views.open({ trigger_id: late, view }))).data.error).toBe(
      'expired_trigger_id',
    );

    const updated = await client.views.update({
      view_id: opened.view!.id!,
      view: { ...view, title: { type: 'plain_text', text: 'Notes 2' } },
    });
    expect(updated.view?.title).toEqual({ type: 'plain_text', text: 'Notes 2' });
    expect(
      (await platformError(client.views.update({ view_id: opened.view!.id!, hash: 'stale', view }))).data
        .error,
    ).toBe('hash_conflict');
  });

  it('publishes a Home tab per user', async () => {
    const { fake, client } = await start();
    await client.views.publish({ user_id: 'U01ALICE', view: { type: 'home', blocks: [section('runs')] } });
    expect(fake.store.homeView('U01ALICE')?.blocks).toEqual([section('runs')]);
    expect(
      (
        await platformError(
          client.views.publish({ user_id: 'U01ALICE', view: { type: 'modal', blocks: [] } as never }),
        )
      ).data.error,
    ).toBe('invalid_arguments');
  });

  it('accepts JSON bodies as well as form bodies', async () => {
    const { fake, server } = await start();
    const res = await fetch(`${server.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', authorization: 'Bearer xoxb-json' },
      body: JSON.stringify({ channel: 'C1', text: 'json', blocks: [section('json')] }),
    });
    expect(await res.json()).toMatchObject({ ok: true, channel: 'C1' });
    expect(fake.messages('C1')[0]?.blocks).toEqual([section('json')]);
    expect(fake.calls[0]).toMatchObject({ method: 'chat.postMessage', token: 'xoxb-json', status: 200 });
  });
});

describe('FakeSlack test controls', () => {
  it('records every call in order with parsed args, response and status', async () => {
    const { fake, client } = await start();
    await client.chat.postMessage({ channel: 'C1', text: 'hi', blocks: [section('hi')] });
    await client.usergroups.users.list({ usergroup: 'S0NOPE' }).catch(() => undefined);
    expect(fake.calls).toHaveLength(2);
    expect(fake.calls[0]).toMatchObject({
      seq: expect.any(Number),
      method: 'chat.postMessage',
      args: { channel: 'C1', text: 'hi', blocks: [section('hi')] },
      token: 'xoxb-test',
      status: 200,
      response: { ok: true },
    });
    expect(fake.calls[1]).toMatchObject({
      method: 'usergroups.users.list',
      response: { ok: false, error: 'no_such_subteam' },
    });
    expect(fake.callsTo('chat.postMessage')).toHaveLength(1);
  });

  it('injects a platform error, an HTTP error and a rate limit with failNext', async () => {
    const { fake, server, client } = await start();
    fake.failNext('chat.postMessage', { error: 'channel_is_archived' });
    expect((await platformError(client.chat.postMessage({ channel: 'C1', text: 'x' }))).data.error).toBe(
      'channel_is_archived',
    );

    fake.failNext('chat.update', { retryAfter: 7 });
    const rejecting = new WebClient('xoxb-test', {
      slackApiUrl: server.apiUrl,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
    });
    const limited = await rejecting.chat
      .update({ channel: 'C1', ts: '1.000000', text: 'x' })
      .catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(WebAPIRateLimitedError);
    expect((limited as WebAPIRateLimitedError).retryAfter).toBe(7);

    fake.failNext('auth.test', { status: 503 });
    const raw = await fetch(`${server.apiUrl}auth.test`, {
      method: 'POST',
      headers: { authorization: 'Bearer xoxb-t' },
    });
    expect(raw.status).toBe(503);

    // Each failure is used once: the next call goes through.
    expect((await client.chat.postMessage({ channel: 'C1', text: 'x' })).ok).toBe(true);
  });

  it('waitFor resolves when a later call satisfies the predicate', async () => {
    const { fake, client } = await start();
    const waiting = fake.waitForMessage('C1', (m) => m.text === 'second');
    await client.chat.postMessage({ channel: 'C1', text: 'first' });
    await client.chat.postMessage({ channel: 'C1', text: 'second' });
    expect((await waiting).text).toBe('second');
    const call = await fake.waitForCall('chat.postMessage', (c) => c.args.text === 'first');
    expect(call.seq).toBeLessThan(fake.calls.at(-1)!.seq);
  });

  it('waitFor rejects after its timeout and names the calls it saw', async () => {
    const { fake, client } = await start();
    await client.chat.postMessage({ channel: 'C1', text: 'only' });
    await expect(fake.waitFor(() => fake.messages('C1').length > 1, { timeoutMs: 50 })).rejects.toThrow(
      /timed out after 50 ms.*chat\.postMessage -> 200 ok/,
    );
  });

  it('announces every posted, updated, deleted and ephemeral message as a numbered change', async () => {
    const { fake, client } = await start();
    const events: FakeSlackEvent[] = [];
    fake.on('change', (e) => events.push(e));
    const posted = await client.chat.postMessage({ channel: 'C1', text: 'a' });
    await client.chat.update({ channel: 'C1', ts: posted.ts!, text: 'b' });
    await client.chat.postEphemeral({ channel: 'C1', user: 'U01ALICE', text: 'e' });
    await client.chat.delete({ channel: 'C1', ts: posted.ts! });
    expect(events.map((e) => e.type)).toEqual([
      'channel_created',
      'message_posted',
      'message_updated',
      'ephemeral_posted',
      'message_deleted',
    ]);
    const update = events[2];
    expect(update?.type === 'message_updated' && [update.previous.text, update.message.text]).toEqual([
      'a',
      'b',
    ]);
    expect(fake.changes(events[2]!.seq).map((e) => e.type)).toEqual(['ephemeral_posted', 'message_deleted']);
  });

  it('mounts next to other routes: handle() leaves foreign paths alone', async () => {
    const fake = new FakeSlack({ rateLimits: false, pathPrefix: '/slack-fake' });
    const server = createServer((req, res) => {
      void fake.handle(req, res).then((handled) => {
        if (!handled) res.writeHead(200, { 'content-type': 'text/plain' }).end('host route');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      fake.setBaseUrl(base);
      expect(await (await fetch(`${base}/api/auth.test`, { method: 'POST' })).text()).toBe('host route');
      expect(await (await fetch(`${base}/slack-fake/api/runs`, { method: 'POST' })).text()).toBe(
        'host route',
      );
      const client = new WebClient('xoxb-test', { slackApiUrl: fake.apiUrl!, retryConfig: { retries: 0 } });
      expect((await client.auth.test()).ok).toBe(true);
      expect(fake.responseUrlFor({ channel: 'C1', user: 'U1' })).toMatch(
        new RegExp(`^${base}/slack-fake/response-url/[0-9a-f]+$`),
      );
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('FakeSlack response_url', () => {
  // Bolt's respond(): POST JSON to response_url, throw RespondError on non-2xx (slack.md §9 point 4).
  const respond = (url: string, body: object) =>
    fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('posts an ephemeral by default and an in_channel message on request', async () => {
    const { fake } = await start();
    const url = fake.responseUrlFor({ channel: 'C1', user: 'U01ALICE' });
    expect((await respond(url, { text: 'Starting…' })).status).toBe(200);
    expect(fake.ephemerals('U01ALICE', 'C1').map((m) => m.text)).toEqual(['Starting…']);
    await respond(url, { response_type: 'in_channel', text: 'Everyone sees this' });
    expect(fake.messages('C1').map((m) => m.text)).toEqual(['Everyone sees this']);
    expect(fake.callsTo('response_url')).toHaveLength(2);
  });

  it('replaces the original ephemeral with replace_original and deletes it with delete_original', async () => {
    const { fake, client } = await start();
    const eph = await client.chat.postEphemeral({
      channel: 'C1',
      user: 'U01ALICE',
      text: 'Confirm?',
      blocks: [section('Confirm?')],
    });
    const url = fake.responseUrlFor({ channel: 'C1', user: 'U01ALICE', messageTs: eph.message_ts! });
    await respond(url, { replace_original: true, text: 'Confirmed' });
    const [replaced] = fake.ephemerals('U01ALICE');
    expect(replaced).toMatchObject({ ts: eph.message_ts, text: 'Confirmed' });
    expect(replaced?.blocks).toBeUndefined();
    await respond(url, { delete_original: true });
    expect(fake.ephemerals('U01ALICE')).toEqual([]);
  });

  it('replaces the original channel message in place', async () => {
    const { fake, client } = await start();
    const msg = await client.chat.postMessage({
      channel: 'C1',
      text: 'Approve?',
      blocks: [section('Approve?')],
    });
    const url = fake.responseUrlFor({ channel: 'C1', user: 'U02BOB', messageTs: msg.ts! });
    const res = await respond(url, {
      replace_original: 'true',
      text: 'Approved by Bob',
      blocks: [section('Approved')],
    });
    expect(res.status).toBe(200);
    expect(fake.message('C1', msg.ts!)).toMatchObject({
      text: 'Approved by Bob',
      blocks: [section('Approved')],
    });
  });

  it('refuses a response_url used more than five times or after 30 minutes', async () => {
    let now = 1_700_000_000_000;
    const { fake } = await start({ clock: () => now });
    const url = fake.responseUrlFor({ channel: 'C1', user: 'U1' });
    for (let i = 0; i < 5; i += 1) expect((await respond(url, { text: `r${i}` })).status).toBe(200);
    const sixth = await respond(url, { text: 'r5' });
    expect(sixth.status).toBe(404);
    expect(await sixth.json()).toEqual({ ok: false, error: 'used_url' });
    const old = fake.responseUrlFor({ channel: 'C1', user: 'U1' });
    now += 30 * 60 * 1000 + 1;
    expect(await (await respond(old, { text: 'late' })).json()).toEqual({ ok: false, error: 'expired_url' });
  });

  it('validates blocks sent to a response_url', async () => {
    const { fake } = await start();
    const url = fake.responseUrlFor({ channel: 'C1', user: 'U1' });
    const res = await respond(url, { text: 'x', blocks: [section('x'.repeat(3001))] });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ ok: false, error: 'invalid_blocks' });
  });
});
