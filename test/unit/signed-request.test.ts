import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { verifySlackRequest } from '@slack/bolt';
import { afterEach, describe, expect, it } from 'vitest';
import {
  buildBlockActionPayload,
  buildEventEnvelope,
  sendBlockAction,
  sendEvent,
  sendSlashCommand,
  signRequest,
} from '../../src/sandbox/signed-request.ts';

// Requests exactly as Slack signs and sends them, checked with Bolt's own verifier.

const SECRET = 'test-signing-secret';

interface Captured {
  method: string | undefined;
  url: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
});

/** A server that records each request and answers 200 with an empty body, like a Bolt ack. */
async function captureServer(): Promise<{ url: string; requests: Captured[] }> {
  const requests: Captured[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      res.writeHead(200).end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

function verify(req: Captured, secret = SECRET, body = req.body): void {
  verifySlackRequest({
    signingSecret: secret,
    body,
    headers: {
      'x-slack-signature': String(req.headers['x-slack-signature']),
      'x-slack-request-timestamp': Number(req.headers['x-slack-request-timestamp']),
    },
  });
}

const command = {
  command: '/migrate',
  text: 'start billing staging',
  user_id: 'U01ALICE',
  user_name: 'alice',
  channel_id: 'C0MIGRATIONS',
  channel_name: 'migrations',
  team_id: 'T0FERRY',
  response_url: 'http://127.0.0.1:1/response-url/abc',
  trigger_id: '1.2.3',
};

describe('signRequest', () => {
  it("matches Slack's documented example signature", () => {
    const body =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    expect(signRequest(body, '8f742231b10e8888abcd99yyyzzz85a5', 1531420618)).toEqual({
      'x-slack-request-timestamp': '1531420618',
      'x-slack-signature': 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
    });
  });

  it("passes Bolt's verifySlackRequest, and a tampered body or wrong secret fails it", () => {
    const body = 'payload=%7B%22type%22%3A%22block_actions%22%7D';
    const headers = signRequest(body, SECRET);
    const request = { method: 'POST', url: '/slack/events', headers, body };
    expect(() => verify(request)).not.toThrow();
    expect(() => verify(request, SECRET, body.replace('block_actions', 'view_submission'))).toThrow(
      /signature mismatch/,
    );
    expect(() => verify(request, 'another-secret')).toThrow(/signature mismatch/);
  });

  it('produces a signature Bolt rejects as stale when the timestamp is over five minutes old', () => {
    const body = 'x=1';
    const headers = signRequest(body, SECRET, Math.floor(Date.now() / 1000) - 301);
    expect(() => verify({ method: 'POST', url: '/', headers, body })).toThrow(/stale/);
  });
});

describe('senders', () => {
  it('sends a slash command as a signed form to /slack/events with the exact content type', async () => {
    const { url, requests } = await captureServer();
    const res = await sendSlashCommand(url, SECRET, command);
    expect(res.status).toBe(200);
    const [req] = requests;
    expect(req).toMatchObject({ method: 'POST', url: '/slack/events' });
    expect(req!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req!.headers['x-slack-retry-num']).toBeUndefined();
    expect(() => verify(req!)).not.toThrow();
    const fields = Object.fromEntries(new URLSearchParams(req!.body));
    expect(fields).toMatchObject({
      command: '/migrate',
      text: 'start billing staging',
      user_id: 'U01ALICE',
      user_name: 'alice',
      channel_id: 'C0MIGRATIONS',
      channel_name: 'migrations',
      team_id: 'T0FERRY',
      response_url: command.response_url,
      trigger_id: '1.2.3',
    });
  });

  it('adds the retry headers, a chosen timestamp and a forged signature when asked', async () => {
    const { url, requests } = await captureServer();
    await sendSlashCommand(url, SECRET, command, {
      retryNum: 2,
      timestamp: 1_700_000_000,
      signature: 'v0=forged',
    });
    const [req] = requests;
    expect(req!.headers['x-slack-retry-num']).toBe('2');
    expect(req!.headers['x-slack-retry-reason']).toBe('http_timeout');
    expect(req!.headers['x-slack-request-timestamp']).toBe('1700000000');
    expect(req!.headers['x-slack-signature']).toBe('v0=forged');
  });

  it('sends a block action as payload=<JSON> and an event as signed JSON', async () => {
    const { url, requests } = await captureServer();
    const payload = buildBlockActionPayload({
      user: { id: 'U02BOB', username: 'bob' },
      channel: { id: 'C0MIGRATIONS', name: 'migrations' },
      message: { ts: '1700000000.000100', text: 'Approve?' },
      action: { action_id: 'approve', block_id: 'b1', value: 'r1' },
      response_url: 'http://127.0.0.1:1/response-url/x',
    });
    await sendBlockAction(url, SECRET, payload);
    const envelope = buildEventEnvelope({
      event: {
        type: 'reaction_added',
        user: 'U01ALICE',
        reaction: 'pushpin',
        item: { type: 'message', channel: 'C1', ts: '1.000100' },
      },
    });
    await sendEvent(`${url}/custom/path`, SECRET, envelope);

    const [action, event] = requests;
    expect(action!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(() => verify(action!)).not.toThrow();
    const sent = JSON.parse(new URLSearchParams(action!.body).get('payload')!);
    expect(sent).toEqual(payload);

    expect(event!.url).toBe('/custom/path');
    expect(event!.headers['content-type']).toBe('application/json');
    expect(() => verify(event!)).not.toThrow();
    expect(JSON.parse(event!.body)).toMatchObject({
      type: 'event_callback',
      event: { type: 'reaction_added' },
    });
  });
});

describe('buildBlockActionPayload', () => {
  it('builds a realistic block_actions payload from the clicked message', () => {
    const blocks = [
      { type: 'section', block_id: 'summary', text: { type: 'mrkdwn', text: 'Run r1' } },
      {
        type: 'actions',
        block_id: 'approval:r1',
        elements: [
          {
            type: 'button',
            action_id: 'approve',
            text: { type: 'plain_text', text: 'Approve' },
            value: 'r1',
            style: 'primary',
          },
        ],
      },
    ];
    const payload = buildBlockActionPayload({
      user: { id: 'U02BOB', username: 'bob', name: 'Bob' },
      channel: { id: 'C0MIGRATIONS', name: 'migrations' },
      message: { ts: '1700000000.000100', blocks, text: 'Run r1' },
      action: { action_id: 'approve' },
      response_url: 'http://127.0.0.1:1/response-url/x',
      trigger_id: '9.9.9',
    });
    expect(payload).toMatchObject({
      type: 'block_actions',
      user: { id: 'U02BOB', username: 'bob', name: 'Bob', team_id: 'T0FERRY' },
      api_app_id: expect.any(String),
      token: expect.any(String),
      container: {
        type: 'message',
        message_ts: '1700000000.000100',
        channel_id: 'C0MIGRATIONS',
        is_ephemeral: false,
      },
      trigger_id: '9.9.9',
      team: { id: 'T0FERRY' },
      channel: { id: 'C0MIGRATIONS', name: 'migrations' },
      message: { ts: '1700000000.000100', blocks, text: 'Run r1', type: 'message' },
      response_url: 'http://127.0.0.1:1/response-url/x',
    });
    expect(payload.actions).toEqual([
      {
        action_id: 'approve',
        block_id: 'approval:r1',
        value: 'r1',
        type: 'button',
        action_ts: expect.stringMatching(/^\d+\.\d{6}$/),
        text: { type: 'plain_text', text: 'Approve', emoji: true },
        style: 'primary',
      },
    ]);
  });
});
