import { App, LogLevel } from '@slack/bolt';
import { WebClient } from '@slack/web-api';
import { WebSocket } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeSlack, type ListeningFakeSlack } from '../../src/sandbox/fake-slack.ts';
import { buildBlockActionPayload, newTriggerId } from '../../src/sandbox/signed-request.ts';

// The fake's Socket Mode against the client Bolt really uses (@slack/socket-mode): hello, envelopes
// acked by envelope_id, a reply in a command's ack, Slack's disconnect, a lost ack sent again.

const APP_TOKEN = 'xapp-1-A0FERRYAPP-test';
const cleanup: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function startFake(): Promise<{ fake: FakeSlack; slack: ListeningFakeSlack }> {
  const fake = new FakeSlack({ rateLimits: false, users: [{ id: 'U01ALICE', name: 'alice' }] });
  const slack = await fake.listen();
  cleanup.push(() => slack.close());
  return { fake, slack };
}

async function startApp(slack: ListeningFakeSlack) {
  const seen: string[] = [];
  const app = new App({
    token: 'xoxb-test',
    appToken: APP_TOKEN,
    socketMode: true,
    logLevel: LogLevel.ERROR,
    clientOptions: { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } },
  });
  app.command('/migrate', async ({ ack, command }) => {
    seen.push(`command ${command.text}`);
    await ack({ response_type: 'ephemeral', text: `Starting ${command.text}` });
  });
  app.action('approve', async ({ ack, body }) => {
    seen.push(`click ${body.user.id}`);
    await ack();
  });
  await app.start();
  cleanup.push(() => app.stop());
  return { app, seen };
}

function command(text: string): Record<string, string> {
  return {
    command: '/migrate',
    text,
    user_id: 'U01ALICE',
    user_name: 'alice',
    channel_id: 'C0MIGRATIONS',
    team_id: 'T0FERRY',
    api_app_id: 'A0FERRYAPP',
    response_url: 'https://hooks.slack.invalid/commands/1',
    trigger_id: newTriggerId(),
  };
}

function click(): Record<string, unknown> {
  return buildBlockActionPayload({
    user: { id: 'U01ALICE', username: 'alice', name: 'alice', team_id: 'T0FERRY' },
    channel: 'C0MIGRATIONS',
    message: { ts: '1700000000.000100', text: 'approve?' },
    action: { action_id: 'approve', block_id: 'b', value: 'r1', text: 'Approve' },
    response_url: 'https://hooks.slack.invalid/actions/1',
  }) as unknown as Record<string, unknown>;
}

describe('the fake Slack in Socket Mode', () => {
  it('opens a link for the app-level token, says hello, and takes acks by envelope_id', async () => {
    const { fake, slack } = await startFake();
    const { seen } = await startApp(slack);

    const open = fake.callsTo('apps.connections.open');
    expect(open).toHaveLength(1);
    expect(open[0]!.token).toBe(APP_TOKEN);
    expect(String(open[0]!.response.url)).toMatch(
      /^ws:\/\/127\.0\.0\.1:\d+\/link\/\?ticket=[0-9a-f]+&app_id=A0FERRYAPP$/,
    );
    expect(fake.socketMode.connections).toBe(1);

    const delivery = fake.socketMode.sendSlashCommand(command('start billing staging'));
    const ack = await delivery.acked;
    expect(ack.envelope_id).toBe(delivery.envelopeId);
    expect(seen).toEqual(['command start billing staging']);
    // A reply in a command's ack reaches the person who typed it, as Slack shows it.
    expect(fake.ephemerals('U01ALICE', 'C0MIGRATIONS').map((e) => e.text)).toEqual([
      'Starting start billing staging',
    ]);

    await fake.socketMode.sendInteraction(click()).acked;
    expect(seen).toEqual(['command start billing staging', 'click U01ALICE']);
    expect(fake.socketMode.unacked).toEqual([]);
  });

  it('refuses a bot token for apps.connections.open and a link URL used twice', async () => {
    const { slack } = await startFake();
    const bot = new WebClient('xoxb-test', { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } });
    await expect(bot.apps.connections.open()).rejects.toMatchObject({
      data: { error: 'not_allowed_token_type' },
    });
    const other = new WebClient('', {
      slackApiUrl: slack.apiUrl,
      retryConfig: { retries: 0 },
      headers: { Authorization: 'Bearer not-an-app-token' },
    });
    await expect(other.apps.connections.open()).rejects.toMatchObject({ data: { error: 'invalid_auth' } });

    const app = new WebClient('', {
      slackApiUrl: slack.apiUrl,
      retryConfig: { retries: 0 },
      headers: { Authorization: `Bearer ${APP_TOKEN}` },
    });
    const { url } = await app.apps.connections.open();
    const hello = await firstMessage(url!);
    expect(hello).toMatchObject({
      type: 'hello',
      num_connections: 1,
      connection_info: { app_id: 'A0FERRYAPP' },
    });
    await expect(firstMessage(url!)).rejects.toThrow(/401/);
  });

  it('asks the client to reconnect with disconnect, and sends later envelopes on the new link', async () => {
    const { fake, slack } = await startFake();
    const { seen } = await startApp(slack);
    const connects = () => fake.callsTo('socket_mode_connect').filter((c) => c.status === 101).length;
    expect(connects()).toBe(1);

    fake.socketMode.disconnect('refresh_requested');
    // Bolt's client closes the link and opens a new one (after its reconnect delay).
    await fake.waitFor(() => connects() === 2 && fake.socketMode.connections === 1, {
      timeoutMs: 20_000,
      description: 'a second connection',
    });
    expect(fake.callsTo('apps.connections.open')).toHaveLength(2);
    await fake.socketMode.sendSlashCommand(command('status')).acked;
    expect(seen).toEqual(['command status']);
  });

  it('sends an envelope whose ack was lost again on the next connection, marked as a retry', async () => {
    const { fake, slack } = await startFake();
    const { seen } = await startApp(slack);

    const delivery = fake.socketMode.sendInteraction(click(), { loseAck: true, retryUnacked: true });
    const ack = await delivery.acked;
    expect(ack.envelope_id).toBe(delivery.envelopeId);
    // The app saw the click twice: once before its ack was lost, once as the retry.
    expect(seen).toEqual(['click U01ALICE', 'click U01ALICE']);
    const sent = fake.callsTo('socket_mode_envelope').map((c) => c.args);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toMatchObject({ envelope_id: delivery.envelopeId, retry_attempt: 1 });
    expect(sent[0]!.link).not.toBe(sent[1]!.link);
    expect(fake.callsTo('socket_mode_ack').map((c) => c.args.lost ?? false)).toEqual([true, false]);
  });

  it('gives up on an unacked click when its connection closes, as Slack does not retry clicks', async () => {
    const { fake, slack } = await startFake();
    await startApp(slack);
    const delivery = fake.socketMode.sendInteraction(click(), { loseAck: true });
    await expect(delivery.acked).rejects.toThrow(/closed before envelope .* was acknowledged/);
  });
});

/** Opens a link URL with a plain WebSocket and resolves with the first message, or rejects with why not. */
function firstMessage(url: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('message', (data: Buffer) => {
      resolve(JSON.parse(data.toString('utf8')));
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => {
      reject(new Error(`upgrade answered ${res.statusCode}`));
      ws.terminate();
    });
    ws.once('error', reject);
  });
}
