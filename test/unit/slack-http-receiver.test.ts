import type { Server } from 'node:http';
import { App } from '@slack/bolt';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, listen } from '../../src/http/server.ts';
import { SlackHttpReceiver } from '../../src/slack/http-receiver.ts';
import { signRequest } from '../../src/sandbox/signed-request.ts';

// Ferry's receiver behind Ferry's HTTP server, with a real Bolt App: requests signed as Slack signs
// them (and some not), sent to 127.0.0.1, and what the listeners saw.

const SECRET = 'receiver-test-secret';
const FORM = 'application/x-www-form-urlencoded';

describe("Ferry's receiver for Slack's HTTP requests", () => {
  let server: Server;
  let url: string;
  const seen: Array<{ text: unknown; retryNum: unknown; retryReason: unknown }> = [];
  const acks: string[] = [];

  beforeAll(async () => {
    const log = pino({ level: 'silent' });
    const quiet = {
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: () => undefined,
      setLevel: () => undefined,
      getLevel: () => 'info' as never,
      setName: () => undefined,
    };
    const receiver = new SlackHttpReceiver({ signingSecret: SECRET, log });
    // The Web API is never called here; the ids spare Bolt its auth.test.
    const app = new App({
      token: 'xoxb-test',
      botId: 'B0TEST',
      botUserId: 'U0TEST',
      receiver,
      logger: quiet,
    });
    app.command('/migrate', async ({ command, ack, context }) => {
      if (command.text === 'throw') throw new Error('a listener that fails before its ack');
      if (command.text === 'silent') return; // never acknowledges
      if (command.text === 'twice') {
        await ack();
        await ack().catch((error: unknown) => acks.push((error as { code?: string }).code ?? 'no code'));
        return;
      }
      seen.push({ text: command.text, retryNum: context.retryNum, retryReason: context.retryReason });
      await ack({ response_type: 'ephemeral', text: `got ${command.text}` });
    });
    app.action(/.*/, async ({ ack }) => ack());
    server = createHttpServer({
      slack: () => receiver.handle,
      ready: () => Promise.resolve(true),
      metrics: undefined as never,
      routes: () => [],
    });
    url = `http://127.0.0.1:${await listen(server, 0, '127.0.0.1')}/slack/events`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const post = (
    body: string,
    options: { type?: string; headers?: Record<string, string>; timestamp?: number; sign?: boolean } = {},
  ) =>
    fetch(url, {
      method: 'POST',
      headers: {
        'content-type': options.type ?? FORM,
        ...(options.sign === false ? {} : signRequest(body, SECRET, options.timestamp)),
        ...options.headers,
      },
      body,
    });

  it('acknowledges a signed slash command with what its listener acks, and tells it of retries', async () => {
    seen.length = 0;
    const res = await post('command=%2Fmigrate&text=help', {
      headers: { 'x-slack-retry-num': '2', 'x-slack-retry-reason': 'http_timeout' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ response_type: 'ephemeral', text: 'got help' });
    expect(seen).toEqual([{ text: 'help', retryNum: 2, retryReason: 'http_timeout' }]);
  });

  it('answers 401 to a request unsigned, signed with another secret, or signed over five minutes from now, and runs no listener', async () => {
    seen.length = 0;
    const body = 'command=%2Fmigrate&text=forged';
    const now = Math.floor(Date.now() / 1000);
    const refused = [
      await post(body, { sign: false }),
      await post(body, { headers: signRequest(body, 'another-secret') }),
      await post(body, { headers: { 'x-slack-signature': 'v0=abc' } }),
      await post(body, { timestamp: now - 301 }),
      await post(body, { timestamp: now + 301 }),
      // Signed over another body: the signature covers every byte.
      await post(body, { headers: signRequest(`${body}x`, SECRET) }),
    ];
    expect(refused.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 401]);
    expect(seen).toEqual([]);
    // Within the window either way is fine: clocks differ a little.
    expect((await post(body, { timestamp: now - 200 })).status).toBe(200);
    expect((await post(body, { timestamp: now + 200 })).status).toBe(200);
  });

  it('answers 400 to a signed body that parses to no object Bolt could route, which would leave Bolt with an unhandled rejection or no answer', async () => {
    seen.length = 0;
    for (const [type, body] of [
      [FORM, 'payload=null'],
      [FORM, 'payload=5'],
      [FORM, 'payload=%7B%22type%22%3A'],
      ['application/json', 'null'],
      ['application/json', '"text"'],
      ['application/json', '[1]'],
      ['application/json', '{"type":'],
      [FORM, `payload=${encodeURIComponent('{"type":"block_actions"}')}`],
      ['application/json', '{"type":"event_callback"}'],
      [FORM, `payload=${encodeURIComponent('{"type":"rocket_launch"}')}`],
      [FORM, 'not=a&slack=form'],
    ] as const) {
      const res = await post(body, { type });
      expect(res.status, body).toBe(400);
      expect(await res.text()).toBe(
        'not a Slack request: the body must be a form or a JSON object of a kind Slack sends',
      );
    }
    expect(seen).toEqual([]);
  });

  it("answers Slack's unsigned ssl_check, and its url_verification with the challenge", async () => {
    const ssl = await post('ssl_check=1&token=x&command=%2Fmigrate&text=smuggled', { sign: false });
    expect(ssl.status).toBe(200);
    expect(await ssl.text()).toBe('');
    const verification = await post('{"type":"url_verification","challenge":"c-123"}', {
      type: 'application/json',
    });
    expect(await verification.json()).toEqual({ challenge: 'c-123' });
    expect(seen.map((s) => s.text)).not.toContain('smuggled');
  });

  it('answers 400 when processing fails before the ack, and acknowledges a click with an empty 200', async () => {
    const failed = await post('command=%2Fmigrate&text=throw');
    expect(failed.status).toBe(400);
    const click = await post(
      `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', user: { id: 'U1' }, actions: [{ action_id: 'x', type: 'button' }] }))}`,
    );
    expect(click.status).toBe(200);
    expect(await click.text()).toBe('');
  });

  it('answers 404 when no listener acknowledges within 3 s, as Bolt does, and refuses a second ack', async () => {
    const started = Date.now();
    const silent = await post('command=%2Fmigrate&text=silent');
    expect(silent.status).toBe(404);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_900);
    const twice = await post('command=%2Fmigrate&text=twice');
    expect(twice.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(acks).toEqual(['slack_bolt_receiver_ack_multiple_error']);
  });
});
