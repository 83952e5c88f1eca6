import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startFerry, type RunningFerry } from '../../src/ferry.ts';
import { FakeSlack, type DeliverOptions, type SlackMessage } from '../../src/sandbox/fake-slack.ts';
import { FakeMaintenance } from '../../src/sandbox/fakes/maintenance.ts';
import { buildBlockActionPayload, newTriggerId } from '../../src/sandbox/signed-request.ts';
import { ActionId } from '../../src/slack/action-ids.ts';
import { ALICE, BOB, CHANNEL, findButton, hasButton, PG_URL, readable } from '../support/ferry-harness.ts';

// Ferry in Socket Mode, end to end: SLACK_APP_TOKEN set, the real Bolt SocketModeReceiver on a
// WebSocket the fake Slack serves, commands and clicks delivered as envelopes. Slack refreshes the
// link, drops it with an ack on the wire, or stops answering; nothing happens twice, and /readyz
// says when the bot is no longer listening.

const plan = `
service: billing
approvers: { users: [U02BOB] }
environments:
  staging:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
      - { id: cutover, kind: flag, action: on, approval: required,
          provider: { type: http, url: "\${MAINT_URL}-flag", token: "\${MAINT_TOKEN}" } }
      - { id: maintenance-off, kind: maintenance, action: off,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
`;

interface SocketFerry {
  ferry: RunningFerry;
  slack: FakeSlack;
  maintenance: FakeMaintenance;
  schema: string;
  logLines: string[];
  command(user: string, text: string): Promise<void>;
  click(user: string, message: SlackMessage, actionId: string, options?: DeliverOptions): Promise<void>;
  statusMessage(): SlackMessage | undefined;
  thread(): SlackMessage[];
  readyz(): Promise<{ status: number; body: { ok: boolean; database: string; slack_socket?: string } }>;
  metric(name: string): Promise<number | undefined>;
  connections(): number;
  stop(): Promise<void>;
}

async function startSocketFerry(env: Record<string, string> = {}): Promise<SocketFerry> {
  const schema = `e2e_socket_${randomBytes(5).toString('hex')}`;
  const slack = new FakeSlack({
    rateLimits: false,
    users: [
      { id: ALICE, name: 'alice' },
      { id: BOB, name: 'bob' },
    ],
  });
  const slackServer = await slack.listen();
  const maintenance = new FakeMaintenance({ token: 'maint-secret' });
  const maintenanceServer = await maintenance.listen();
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-socket-'));
  await writeFile(path.join(dir, 'billing.yml'), plan);
  const config = loadConfig({
    SLACK_BOT_TOKEN: 'xoxb-e2e',
    SLACK_APP_TOKEN: 'xapp-1-A0FERRYAPP-e2e',
    SLACK_API_URL: slackServer.apiUrl,
    DATABASE_URL: PG_URL,
    FERRY_DB_SCHEMA: schema,
    FERRY_PLANS: dir,
    PORT: '0',
    FERRY_SHUTDOWN_GRACE_SECONDS: '0',
    FERRY_POLL_INTERVAL_MS: '20',
    FERRY_SLACK_MIN_EDIT_INTERVAL_MS: '0',
    FERRY_SLACK_EDITS_PER_MINUTE: '100000',
    LOG_LEVEL: 'silent',
    MAINT_URL: `${maintenanceServer.url}${maintenance.pathFor('billing')}`,
    MAINT_TOKEN: 'maint-secret',
    ...env,
  });
  // Warnings and errors are kept: what Ferry said about the link is part of what is tested.
  const logLines: string[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
  const ferry = await startFerry(config, { log, host: '127.0.0.1' });
  const names: Record<string, string> = { [ALICE]: 'alice', [BOB]: 'bob' };

  const h: SocketFerry = {
    ferry,
    slack,
    maintenance,
    schema,
    logLines,
    async command(user, text) {
      await slack.socketMode.sendSlashCommand({
        command: '/migrate',
        text,
        user_id: user,
        user_name: names[user] ?? user,
        channel_id: CHANNEL,
        channel_name: 'migrations',
        team_id: 'T0FERRY',
        team_domain: 'ferry-sandbox',
        api_app_id: 'A0FERRYAPP',
        is_enterprise_install: 'false',
        response_url: slack.responseUrlFor({ channel: CHANNEL, user }),
        trigger_id: newTriggerId(),
      }).acked;
    },
    async click(user, message, actionId, options = {}) {
      const button = findButton(message, actionId);
      const payload = buildBlockActionPayload({
        user: { id: user, username: names[user] ?? user, name: names[user] ?? user, team_id: 'T0FERRY' },
        channel: CHANNEL,
        message: {
          ts: message.ts,
          blocks: message.blocks,
          text: message.text,
          ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}),
        },
        action: { action_id: actionId, block_id: button.blockId, value: button.value, text: button.text },
        response_url: slack.responseUrlFor({ channel: CHANNEL, user, messageTs: message.ts }),
      });
      await slack.socketMode.sendInteraction(payload as unknown as Record<string, unknown>, options).acked;
    },
    statusMessage() {
      return slack
        .messages(CHANNEL)
        .filter((m) => !m.thread_ts || m.thread_ts === m.ts)
        .at(-1);
    },
    thread() {
      const status = h.statusMessage();
      return status ? slack.thread(CHANNEL, status.ts).filter((m) => m.ts !== status.ts) : [];
    },
    async readyz() {
      const res = await fetch(`${ferry.url}/readyz`);
      return { status: res.status, body: (await res.json()) as never };
    },
    async metric(name) {
      const text = await (await fetch(`${ferry.url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      return line === undefined ? undefined : Number(line.slice(name.length + 1));
    },
    connections() {
      return slack.callsTo('socket_mode_connect').filter((c) => c.status === 101).length;
    },
    async stop() {
      await ferry.stop();
      await slackServer.close();
      await maintenanceServer.close();
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    },
  };
  return h;
}

async function until<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 40_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let h: SocketFerry | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
});

describe('Ferry in Socket Mode', () => {
  it('runs a plan with an approval through envelopes, across a refresh and a lost ack, acting once', async () => {
    h = await startSocketFerry();
    const harness = h;
    expect(harness.connections()).toBe(1);
    expect(await harness.readyz()).toEqual({
      status: 200,
      body: { ok: true, database: 'reachable', slack_socket: 'connected' },
    });

    await harness.command(ALICE, 'start billing staging');
    await until(
      () => harness.slack.ephemerals(ALICE).some((e) => (e.text ?? '').startsWith('Started r')),
      'the start to be confirmed to Alice',
    );
    const request = await until(
      () => harness.thread().find((m) => hasButton(m, ActionId.approve)),
      'the approval request',
    );
    expect(harness.maintenance.state('billing')).toEqual({ enabled: true, writes: 1 });

    // Slack refreshes the link mid-run: Ferry opens a new one and carries on.
    harness.slack.socketMode.disconnect('refresh_requested');
    await until(
      () => harness.connections() === 2 && harness.slack.socketMode.connections === 1,
      'the new link',
    );

    // Bob approves; Ferry records it and acks, but the link dies with the ack on the wire, so
    // Slack sends the same click again on the next link.
    await harness.click(BOB, request, ActionId.approve, { loseAck: true, retryUnacked: true });
    const sent = harness.slack.callsTo('socket_mode_envelope').filter((c) => c.args.type === 'interactive');
    expect(sent.map((c) => c.args.retry_attempt ?? 0)).toEqual([0, 1]);
    expect(harness.connections()).toBe(3);

    const done = await until(() => {
      const m = harness.statusMessage();
      return readable(m).includes('All 3 steps done') && m;
    }, 'the run to finish');
    expect(readable(done)).toContain('✅ `maintenance-off`');
    // One approval, one change: the repeated click was recognised as the same delivery.
    expect(harness.maintenance.state('billing-flag')).toEqual({ enabled: true, writes: 1 });
    expect(harness.maintenance.state('billing')).toEqual({ enabled: false, writes: 2 });
    expect(readable(harness.slack.message(CHANNEL, request.ts))).toContain('Approved by <@U02BOB>');
    expect(harness.slack.ephemerals(BOB)).toEqual([]);
    const db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
    try {
      const approvals = await db.query(
        `select step_id, decision, decided_by from ${harness.schema}.approvals`,
      );
      expect(approvals.rows).toEqual([{ step_id: 'cutover', decision: 'approved', decided_by: BOB }]);
    } finally {
      await db.end();
    }
    expect(harness.logLines.some((l) => l.includes('duplicate Slack delivery ignored'))).toBe(true);
    expect(harness.slack.socketMode.unacked).toEqual([]);

    expect(await harness.metric('ferry_slack_socket_connected')).toBe(1);
    expect(await harness.metric('ferry_slack_socket_reconnects_total')).toBe(2);
    const age = await harness.metric('ferry_slack_socket_last_envelope_age_seconds');
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(30);
  });

  it('turns /readyz not ready while the Socket Mode server stops answering, and ready again when it is back', async () => {
    h = await startSocketFerry({ FERRY_SOCKET_DOWN_READY_SECONDS: '1' });
    const harness = h;
    expect((await harness.readyz()).status).toBe(200);

    harness.slack.socketMode.stopAnswering();
    // The TCP connection stays open; only the client's heartbeat (a pong missing for 5 s) tells.
    const down = await until(
      async () => {
        const r = await harness.readyz();
        return r.status === 503 && r;
      },
      '/readyz to answer 503',
      30_000,
    );
    expect(down.body).toMatchObject({ ok: false, database: 'reachable' });
    expect(down.body.slack_socket).toMatch(
      /^down for \d+ s, longer than 1 s \(FERRY_SOCKET_DOWN_READY_SECONDS\): Slack cannot reach this process; restart it to open a new connection$/,
    );
    expect(await harness.metric('ferry_slack_socket_connected')).toBe(0);

    harness.slack.socketMode.resumeAnswering();
    const back = await until(
      async () => {
        const r = await harness.readyz();
        return r.status === 200 && r;
      },
      '/readyz to answer 200 again',
      60_000,
    );
    expect(back.body).toEqual({ ok: true, database: 'reachable', slack_socket: 'connected' });
    expect(harness.slack.socketMode.connections).toBe(1);
    expect(await harness.metric('ferry_slack_socket_reconnects_total')).toBe(1);

    // And it listens again: a command over the new link is answered.
    await harness.command(ALICE, 'help');
    expect(harness.slack.socketMode.unacked).toEqual([]);
  });

  it('keeps reconnecting through a Slack outage longer than the Web API client retries', async () => {
    h = await startSocketFerry();
    const harness = h;
    // Six 503s in a row: the WebClient's own five retries (about 15 s) run out, and the attempt fails.
    for (let i = 0; i < 6; i++) harness.slack.failNext('apps.connections.open', { status: 503 });
    harness.slack.socketMode.disconnect('refresh_requested');
    await until(() => harness.connections() === 2, 'the link to come back after the outage', 60_000);
    expect(harness.slack.callsTo('apps.connections.open').map((c) => c.status)).toEqual([
      200, 503, 503, 503, 503, 503, 503, 200,
    ]);
    const failed = harness.logLines.filter((l) =>
      l.includes('Socket Mode: reconnecting to Slack failed; trying again'),
    );
    expect(failed).toHaveLength(1);
    expect((await harness.readyz()).body.slack_socket).toBe('connected');
    await harness.command(ALICE, 'help');
  });
});
