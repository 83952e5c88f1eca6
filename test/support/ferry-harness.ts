import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import pino from 'pino';
import type { Clock } from '../../src/clock.ts';
import { loadConfig } from '../../src/config.ts';
import { startFerry, type RunningFerry } from '../../src/ferry.ts';
import { FakeSlack, type SlackMessage } from '../../src/sandbox/fake-slack.ts';
import { FakeMaintenance } from '../../src/sandbox/fakes/maintenance.ts';
import {
  buildBlockActionPayload,
  newTriggerId,
  sendBlockAction,
  sendSlashCommand,
  type SendOptions,
} from '../../src/sandbox/signed-request.ts';

// Drives Ferry as Slack does: signed HTTP requests in, a fake Slack Web API recording what it posts.
// Each harness has its own Postgres schema, so test files run in parallel.

export const ALICE = 'U01ALICE';
export const BOB = 'U02BOB';
export const CAROL = 'U04CAROL';
export const MALLORY = 'U03MALLORY';
export const CHANNEL = 'C0MIGRATIONS';
export const PG_URL = 'postgres://root@127.0.0.1:5432/test';

const names: Record<string, string> = {
  [ALICE]: 'alice',
  [BOB]: 'bob',
  [CAROL]: 'carol',
  [MALLORY]: 'mallory',
};

export interface Harness {
  ferry: RunningFerry;
  slack: FakeSlack;
  maintenance: FakeMaintenance;
  maintenanceUrl: string;
  schema: string;
  /** The signing secret, to send Slack's other requests (events, shortcuts, modal submissions). */
  secret: string;
  /** Ferry's warning and error lines (JSON), with `captureLog`. */
  logLines: string[];
  command(
    user: string,
    text: string,
    /** `responseUrl`: where Ferry's reply goes instead of the fake Slack's own response URL. */
    opts?: SendOptions & { triggerId?: string; channel?: string; responseUrl?: string },
  ): Promise<{ status: number; text: string }>;
  click(
    user: string,
    message: SlackMessage,
    actionId: string,
    opts?: SendOptions & { triggerId?: string },
  ): Promise<{ status: number }>;
  statusMessage(runId?: string): SlackMessage | undefined;
  thread(): SlackMessage[];
  waitFor<T>(
    probe: () => T | undefined | false | Promise<T | undefined | false>,
    what: string,
    timeoutMs?: number,
  ): Promise<T>;
  responses(user: string): string[];
  /** Sends a command and waits for the reply to it that matches (never an earlier reply). */
  ask(user: string, command: string, reply: string | RegExp): Promise<string>;
  stop(): Promise<void>;
}

export interface HarnessOptions {
  /** The plan YAML, or several plans (one file each); `${MAINT_URL}` and the like are resolved from `env`. */
  plan: string | string[];
  env?: Record<string, string>;
  leaseSeconds?: number;
  /** Slack's rate limits in the fake Web API; off by default so tests run fast. */
  rateLimits?: boolean;
  /** Channels that exist; any other gets channel_not_found. Default: any channel id works. */
  channels?: string[];
  /** Keep Ferry's warnings and errors in `harness.logLines`, to assert that nothing went wrong. */
  captureLog?: boolean;
  /** Ferry's clock (approval expiry, reminders, soak gates): a `TestClock` lets a test move time on. */
  clock?: Clock;
}

/** Real time plus an offset a test moves on: leases and timeouts keep working, the calendar jumps. */
export class TestClock implements Clock {
  private offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  advance(ms: number): void {
    this.offset += ms;
  }
}

export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const schema = `e2e_${randomBytes(5).toString('hex')}`;
  const secret = randomBytes(16).toString('hex');
  const slack = new FakeSlack({
    rateLimits: options.rateLimits ?? false,
    users: Object.entries(names).map(([id, name]) => ({
      id,
      name,
      real_name: name[0]!.toUpperCase() + name.slice(1),
    })),
    usergroups: { S0PLATFORM: [CAROL] },
    ...(options.channels
      ? { strictChannels: true, channels: options.channels.map((id) => ({ id, name: id.toLowerCase() })) }
      : {}),
  });
  const slackServer = await slack.listen();
  const maintenance = new FakeMaintenance({ token: 'maint-secret' });
  const maintenanceServer = await maintenance.listen();
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-e2e-'));
  const plans = Array.isArray(options.plan) ? options.plan : [options.plan];
  for (const [i, plan] of plans.entries()) await writeFile(path.join(dir, `plan-${i + 1}.yml`), plan);

  const config = loadConfig({
    SLACK_BOT_TOKEN: 'xoxb-e2e',
    SLACK_SIGNING_SECRET: secret,
    SLACK_API_URL: slackServer.apiUrl,
    DATABASE_URL: PG_URL,
    FERRY_DB_SCHEMA: schema,
    FERRY_PLANS: dir,
    PORT: '0',
    FERRY_LEASE_SECONDS: String(options.leaseSeconds ?? 30),
    FERRY_SHUTDOWN_GRACE_SECONDS: '0',
    FERRY_POLL_INTERVAL_MS: '20',
    FERRY_SLACK_MIN_EDIT_INTERVAL_MS: '0',
    FERRY_SLACK_EDITS_PER_MINUTE: '100000',
    FERRY_HTTP_TIMEOUT_MS: '10000',
    LOG_LEVEL: 'silent',
    MAINT_URL: `${maintenanceServer.url}${maintenance.pathFor('billing')}`,
    MAINT_TOKEN: 'maint-secret',
    ...options.env,
  });
  // FERRY_TEST_LOG=debug prints Ferry's log; FERRY_TEST_LOG_DIR keeps one file per harness instead.
  const logDir = process.env.FERRY_TEST_LOG_DIR;
  const logLines: string[] = [];
  const log = options.captureLog
    ? pino({ level: 'warn' }, { write: (line: string) => void logLines.push(line) })
    : logDir
      ? pino(
          { level: process.env.FERRY_TEST_LOG_LEVEL ?? 'info' },
          pino.destination({ dest: path.join(logDir, `${schema}.log`), sync: true }),
        )
      : pino({ level: process.env.FERRY_TEST_LOG ?? 'silent' });
  const ferry = await startFerry(config, {
    log,
    host: '127.0.0.1',
    ...(options.clock ? { clock: options.clock } : {}),
  });

  const responseUrls: Array<{ user: string; url: string }> = [];
  const harness: Harness = {
    ferry,
    slack,
    maintenance,
    maintenanceUrl: maintenanceServer.url,
    schema,
    secret,
    logLines,
    async command(user, text, opts = {}) {
      const channel = opts.channel ?? CHANNEL;
      const responseUrl = opts.responseUrl ?? slack.responseUrlFor({ channel, user });
      responseUrls.push({ user, url: responseUrl });
      const res = await sendSlashCommand(
        ferry.url,
        secret,
        {
          command: '/migrate',
          text,
          user_id: user,
          user_name: names[user] ?? user,
          channel_id: channel,
          team_id: 'T0FERRY',
          response_url: responseUrl,
          trigger_id: opts.triggerId ?? newTriggerId(),
        },
        opts,
      );
      return { status: res.status, text: res.text };
    },
    async click(user, message, actionId, opts = {}) {
      const action = findButton(message, actionId);
      const payload = buildBlockActionPayload({
        user: { id: user, username: names[user] ?? user, name: names[user] ?? user, team_id: 'T0FERRY' },
        channel: CHANNEL,
        message: {
          ts: message.ts,
          blocks: message.blocks,
          text: message.text,
          ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}),
        },
        action: { action_id: actionId, block_id: action.blockId, value: action.value, text: action.text },
        response_url: slack.responseUrlFor({ channel: CHANNEL, user, messageTs: message.ts }),
        ...(opts.triggerId ? { trigger_id: opts.triggerId } : {}),
      });
      const res = await sendBlockAction(ferry.url, secret, payload, opts);
      return { status: res.status };
    },
    statusMessage(runId) {
      return slack
        .messages(CHANNEL)
        .filter(
          (m) => (!m.thread_ts || m.thread_ts === m.ts) && (!runId || (m.text ?? '').includes(`${runId}:`)),
        )
        .at(-1);
    },
    thread() {
      const status = harness.statusMessage();
      return status ? slack.thread(CHANNEL, status.ts).filter((m) => m.ts !== status.ts) : [];
    },
    async waitFor(probe, what, timeoutMs = 40_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await probe();
        if (value !== undefined && value !== false) return value;
        if (Date.now() > deadline) {
          // What Slack holds, to tell a message Ferry never posted from one the test did not find.
          const seen = slack
            .messages(CHANNEL)
            .map((m) => `${m.ts} thread=${m.thread_ts ?? '-'} ${(m.text ?? '').slice(0, 80)}`)
            .join('\n  ');
          throw new Error(`timed out waiting for ${what}; #migrations holds:\n  ${seen}`);
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    responses(user) {
      // What the person reads: each ephemeral's text and its blocks.
      return slack.ephemerals(user).map((e) => readable(e as unknown as SlackMessage));
    },
    async ask(user, command, reply) {
      const before = harness.responses(user).length;
      await harness.command(user, command);
      const matches = (t: string) => (typeof reply === 'string' ? t.includes(reply) : reply.test(t));
      return harness.waitFor(
        () => harness.responses(user).slice(before).find(matches),
        `"${String(reply)}" to ${user}`,
      );
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
  return harness;
}

export function findButton(
  message: SlackMessage,
  actionId: string,
): { blockId: string; value: string; text: string } {
  for (const block of (message.blocks ?? []) as Array<{
    type: string;
    block_id?: string;
    elements?: Array<Record<string, unknown>>;
  }>) {
    if (block.type !== 'actions') continue;
    for (const el of block.elements ?? []) {
      if (el.action_id === actionId) {
        return {
          blockId: block.block_id ?? '',
          value: el.value as string,
          text: (el.text as { text: string }).text,
        };
      }
    }
  }
  throw new Error(`no ${actionId} button on message "${message.text}"`);
}

export function hasButton(message: SlackMessage | undefined, actionId: string): boolean {
  if (!message) return false;
  try {
    findButton(message, actionId);
    return true;
  } catch {
    return false;
  }
}

/** Everything a person reads in a message: its text and every text inside its blocks. */
export function readable(message: SlackMessage | undefined): string {
  if (!message) return '';
  const texts: string[] = [message.text ?? ''];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      for (const [k, v] of Object.entries(node)) {
        if (k === 'text' && typeof v === 'string') texts.push(v);
        else walk(v);
      }
    }
  };
  walk(message.blocks);
  // As Slack displays it: date tokens as their (UTC) fallback text, mrkdwn's escapes decoded.
  return texts
    .join('\n')
    .replace(/<!date\^[^|>]*\|([^>]*)>/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
