import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, LogLevel } from '@slack/bolt';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeSlack, type ListeningFakeSlack } from '../../src/sandbox/fake-slack.ts';
import {
  buildBlockActionPayload,
  sendBlockAction,
  sendSlashCommand,
} from '../../src/sandbox/signed-request.ts';

// The whole loop the end-to-end tests rely on: a REAL Bolt app (HTTPReceiver, signature checks,
// WebClient, respond()) talking to the fake, driven by signed requests. Tests wait on the fake,
// not on the HTTP ack (slack.md §9 point 5).

const SECRET = 'bolt-test-secret';
const cleanup: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function startApp() {
  const fake = new FakeSlack({ rateLimits: false, users: [{ id: 'U01ALICE', name: 'alice' }] });
  const slack: ListeningFakeSlack = await fake.listen();
  cleanup.push(() => slack.close());
  const app = new App({
    token: 'xoxb-test',
    signingSecret: SECRET,
    logLevel: LogLevel.ERROR,
    clientOptions: { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 } },
  });
  app.command('/migrate', async ({ ack, respond, client, command }) => {
    await ack();
    await respond({ text: `Starting ${command.text}` });
    await client.chat.postMessage({
      channel: command.channel_id,
      text: 'Run r1 needs approval',
      blocks: [
        {
          type: 'actions',
          block_id: 'approval',
          elements: [
            {
              type: 'button',
              action_id: 'approve',
              text: { type: 'plain_text', text: 'Approve' },
              value: 'r1',
            },
          ],
        },
      ],
    });
  });
  app.action('approve', async ({ ack, respond, body }) => {
    await ack();
    await respond({ replace_original: true, text: `Approved by <@${body.user.id}>` });
  });
  const server = (await app.start({ port: 0, host: '127.0.0.1' })) as Server;
  cleanup.push(() => app.stop());
  const appUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { fake, appUrl };
}

describe('FakeSlack with a real Bolt app', () => {
  it('runs a slash command and a button click end to end through signed requests', async () => {
    const { fake, appUrl } = await startApp();
    const command = await sendSlashCommand(appUrl, SECRET, {
      command: '/migrate',
      text: 'start billing staging',
      user_id: 'U01ALICE',
      user_name: 'alice',
      channel_id: 'C0MIGRATIONS',
      team_id: 'T0FERRY',
      response_url: fake.responseUrlFor({ channel: 'C0MIGRATIONS', user: 'U01ALICE' }),
      trigger_id: fake.mintTriggerId('U01ALICE'),
    });
    expect(command.status).toBe(200);

    const ephemeral = await fake.waitFor(() => fake.ephemerals('U01ALICE', 'C0MIGRATIONS')[0]);
    expect(ephemeral.text).toBe('Starting start billing staging');
    const status = await fake.waitForMessage('C0MIGRATIONS', (m) => m.text === 'Run r1 needs approval');
    // Bolt checks its token with auth.test before the first request.
    expect(fake.callsTo('auth.test').length).toBeGreaterThan(0);

    const click = buildBlockActionPayload({
      user: { id: 'U02BOB', username: 'bob' },
      channel: 'C0MIGRATIONS',
      message: { ts: status.ts, text: status.text, blocks: status.blocks ?? [] },
      action: { action_id: 'approve' },
      response_url: fake.responseUrlFor({ channel: 'C0MIGRATIONS', user: 'U02BOB', messageTs: status.ts }),
    });
    expect((await sendBlockAction(appUrl, SECRET, click)).status).toBe(200);
    const approved = await fake.waitFor(() => {
      const m = fake.message('C0MIGRATIONS', status.ts);
      return m?.text.startsWith('Approved') ? m : undefined;
    });
    expect(approved.text).toBe('Approved by <@U02BOB>');
    expect(approved.blocks).toBeUndefined();
  });

  it('gets 401 from Bolt for a bad signature, and nothing reaches the fake', async () => {
    const { fake, appUrl } = await startApp();
    const callsBefore = fake.calls.length;
    const res = await sendSlashCommand(
      appUrl,
      SECRET,
      {
        command: '/migrate',
        text: 'start billing staging',
        user_id: 'U01ALICE',
        user_name: 'alice',
        channel_id: 'C0MIGRATIONS',
        team_id: 'T0FERRY',
        response_url: fake.responseUrlFor({ channel: 'C0MIGRATIONS', user: 'U01ALICE' }),
        trigger_id: 't',
      },
      { signature: 'v0=0000' },
    );
    expect(res.status).toBe(401);
    expect(fake.calls.slice(callsBefore).filter((c) => c.method !== 'auth.test')).toEqual([]);
  });
});
