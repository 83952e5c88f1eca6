import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { FakeSlack, type SlackMessage } from '../../src/sandbox/fake-slack.ts';
import { listenFake } from '../../src/sandbox/fakes/fake-http.ts';
import { FakeMaintenance } from '../../src/sandbox/fakes/maintenance.ts';
import {
  buildBlockActionPayload,
  buildEventEnvelope,
  newTriggerId,
  sendBlockAction,
  sendEvent,
  sendSlashCommand,
  type BlockActionPayload,
  type SendOptions,
  type SignedResponse,
  type SlashCommand,
} from '../../src/sandbox/signed-request.ts';

// A real Ferry process for a drill, driven only as Slack drives it: signed HTTP requests in, and
// what it posts read back from a fake Slack Web API. Ferry runs as a child process (`node
// src/main.ts`) so a crash, an unhandled rejection or a lost database is Ferry's alone and shows
// as it would in production; the fakes run in the drill's own process so their counters can be read.

export const ALICE = 'U01ALICE';
export const BOB = 'U02BOB';
export const CAROL = 'U04CAROL';
export const MALLORY = 'U03MALLORY';
export const CHANNEL = 'C0MIGRATIONS';

const NAMES: Record<string, string> = {
  [ALICE]: 'alice',
  [BOB]: 'bob',
  [CAROL]: 'carol',
  [MALLORY]: 'mallory',
};
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface DrillFerryOptions {
  /** Postgres for Ferry's tables; the drill gets a schema of its own, dropped at stop. */
  pgUrl: string;
  /** Plan YAML texts, one file each. `${MAINT_BASE}` and `${MAINT_TOKEN}` name the fake maintenance endpoint. */
  plans: string[];
  /** More of Ferry's environment (fake endpoints, a plan's variables). */
  env?: Record<string, string>;
  /** Slack's rate limits in the fake Web API (default off, so drills run fast). */
  rateLimits?: boolean | number;
  leaseSeconds?: number;
  /** A name for the schema and the log, e.g. "habits". */
  name: string;
}

export interface ClickOptions extends SendOptions {
  triggerId?: string;
}

export interface RecordedEphemeral {
  seq: number;
  user: string;
  text: string;
}

export interface DrillFerry {
  url: string;
  secret: string;
  schema: string;
  slack: FakeSlack;
  maintenance: FakeMaintenance;
  /** The maintenance endpoint applies each PUT to `app` at once but answers `ms` later (0: at once). */
  holdAnswers(app: string, ms: number): void;
  /** `/migrate <text>` from `user`, as Slack sends it. */
  command(user: string, text: string, opts?: ClickOptions): Promise<SignedResponse>;
  /** The slash command's form fields, to send again as Slack's retry would. */
  commandFields(user: string, text: string, triggerId?: string): SlashCommand;
  sendCommand(fields: SlashCommand, opts?: SendOptions): Promise<SignedResponse>;
  /** The block_actions payload of a click on `message`'s button, as Slack builds it. */
  clickPayload(user: string, message: SlackMessage, actionId: string, triggerId?: string): BlockActionPayload;
  sendClick(payload: BlockActionPayload, opts?: SendOptions): Promise<SignedResponse>;
  click(user: string, message: SlackMessage, actionId: string, opts?: ClickOptions): Promise<SignedResponse>;
  /** An Events API delivery (an `app_mention` in the channel) with its own event_id. */
  eventEnvelope(text: string): Record<string, unknown>;
  sendEvent(envelope: Record<string, unknown>, opts?: SendOptions): Promise<SignedResponse>;
  /** The run's status message as Slack shows it now. */
  statusMessage(runId: string): Promise<SlackMessage | undefined>;
  /** The run's thread replies, oldest first. */
  thread(runId: string): Promise<SlackMessage[]>;
  /** Every ephemeral reply `user` saw after `sinceSeq` (0: all), as they read it. */
  ephemerals(user: string, sinceSeq?: number): RecordedEphemeral[];
  /** The seq of the fake Slack's latest recorded call, to read only what comes after. */
  slackSeq(): number;
  query<T extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  count(sql: string, params?: unknown[]): Promise<number>;
  /** The only run of `service`, or the newest one. */
  latestRun(service: string): Promise<{ id: string; status: string } | undefined>;
  waitFor<T>(
    probe: () => T | undefined | false | Promise<T | undefined | false>,
    what: string,
    timeoutMs?: number,
  ): Promise<T>;
  /** Ferry's log lines (JSON) so far. */
  logs(): string[];
  /** Whether the Ferry process is still running. */
  alive(): boolean;
  stop(): Promise<void>;
}

/** Starts the fakes and a Ferry process in Slack mode (HTTP receiver) with a schema of its own. */
export async function startDrillFerry(options: DrillFerryOptions): Promise<DrillFerry> {
  const schema = `drill_${options.name.replace(/[^a-z0-9]/g, '_')}_${randomBytes(4).toString('hex')}`;
  const secret = randomBytes(16).toString('hex');
  const slack = new FakeSlack({
    rateLimits: options.rateLimits ?? false,
    users: Object.entries(NAMES).map(([id, name]) => ({ id, name, real_name: name })),
  });
  const slackServer = await slack.listen();
  const maintenance = new FakeMaintenance({ token: 'maint-secret' });
  const heldAnswers = new Map<string, number>();
  const maintenanceServer = await listenFake((req, res) => {
    // A change applied whose answer is slow to come back: the window in which Ferry has changed
    // the system but not yet recorded that it did.
    const app = decodeURIComponent((req.url ?? '').split('/').at(-1) ?? '');
    const holdMs = req.method === 'PUT' ? heldAnswers.get(app) : undefined;
    if (holdMs) {
      const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
      res.end = ((...args: unknown[]) => {
        setTimeout(() => end(...args), holdMs);
        return res;
      }) as typeof res.end;
    }
    return maintenance.handle(req, res);
  });
  const dir = await mkdtemp(path.join(tmpdir(), `ferry-drill-${options.name}-`));
  for (const [i, plan] of options.plans.entries()) await writeFile(path.join(dir, `plan-${i + 1}.yml`), plan);

  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    SLACK_BOT_TOKEN: 'xoxb-drill',
    SLACK_SIGNING_SECRET: secret,
    SLACK_API_URL: slackServer.apiUrl,
    DATABASE_URL: options.pgUrl,
    FERRY_DB_SCHEMA: schema,
    FERRY_PLANS: dir,
    FERRY_HOST: '127.0.0.1',
    PORT: '0',
    FERRY_LEASE_SECONDS: String(options.leaseSeconds ?? 30),
    FERRY_SHUTDOWN_GRACE_SECONDS: '0',
    FERRY_POLL_INTERVAL_MS: '50',
    FERRY_SLACK_MIN_EDIT_INTERVAL_MS: '0',
    FERRY_SLACK_EDITS_PER_MINUTE: '100000',
    FERRY_HTTP_TIMEOUT_MS: '5000',
    LOG_LEVEL: 'info',
    MAINT_BASE: `${maintenanceServer.url}${maintenance.prefix}`,
    MAINT_TOKEN: 'maint-secret',
    ...options.env,
  };
  const logLines: string[] = [];
  const child = spawn(process.execPath, [path.join(REPO, 'src/main.ts')], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const port = await waitForPort(child, logLines).catch(async (error: unknown) => {
    await stopChild(child);
    await slackServer.close();
    await maintenanceServer.close();
    await rm(dir, { recursive: true, force: true });
    throw error;
  });
  const url = `http://127.0.0.1:${port}`;
  const pool = new pg.Pool({ connectionString: options.pgUrl, options: `-c search_path=${schema}`, max: 2 });
  pool.on('error', () => undefined); // a drill that restarts Postgres sees its next query fail instead

  const fields = (user: string, text: string, triggerId?: string): SlashCommand => ({
    command: '/migrate',
    text,
    user_id: user,
    user_name: NAMES[user] ?? user,
    channel_id: CHANNEL,
    team_id: 'T0FERRY',
    response_url: slack.responseUrlFor({ channel: CHANNEL, user }),
    trigger_id: triggerId ?? newTriggerId(),
  });
  const payload = (user: string, message: SlackMessage, actionId: string, triggerId?: string) => {
    const button = findButton(message, actionId);
    return buildBlockActionPayload({
      user: { id: user, username: NAMES[user] ?? user, name: NAMES[user] ?? user, team_id: 'T0FERRY' },
      channel: message.channel,
      message: {
        ts: message.ts,
        blocks: message.blocks,
        text: message.text,
        ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}),
      },
      action: { action_id: actionId, block_id: button.blockId, value: button.value, text: button.text },
      response_url: slack.responseUrlFor({ channel: message.channel, user, messageTs: message.ts }),
      trigger_id: triggerId ?? newTriggerId(),
    });
  };
  const query = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) =>
    (await pool.query<T>(sql, params)).rows;
  const statusRef = async (runId: string) =>
    (
      await query<{ ts: string; channel: string }>(
        `select ts, channel from slack_messages where run_id = $1 and kind = 'status'`,
        [runId],
      )
    )[0];

  let stopped = false;
  const ferry: DrillFerry = {
    url,
    secret,
    schema,
    slack,
    maintenance,
    holdAnswers: (app, ms) => void (ms > 0 ? heldAnswers.set(app, ms) : heldAnswers.delete(app)),
    command: (user, text, opts = {}) =>
      sendSlashCommand(url, secret, fields(user, text, opts.triggerId), opts),
    commandFields: fields,
    sendCommand: (f, opts = {}) => sendSlashCommand(url, secret, f, opts),
    clickPayload: payload,
    sendClick: (p, opts = {}) => sendBlockAction(url, secret, p, opts),
    click: (user, message, actionId, opts = {}) =>
      sendBlockAction(url, secret, payload(user, message, actionId, opts.triggerId), opts),
    eventEnvelope: (text) =>
      buildEventEnvelope({
        event: {
          type: 'app_mention',
          user: ALICE,
          text: `<@U0FERRYBOT> ${text}`,
          ts: `${Math.floor(Date.now() / 1000)}.000100`,
          channel: CHANNEL,
          event_ts: `${Math.floor(Date.now() / 1000)}.000100`,
        },
      }),
    sendEvent: (envelope, opts = {}) => sendEvent(url, secret, envelope, opts),
    async statusMessage(runId) {
      const ref = await statusRef(runId);
      return ref ? slack.message(ref.channel, ref.ts) : undefined;
    },
    async thread(runId) {
      const ref = await statusRef(runId);
      return ref ? slack.thread(ref.channel, ref.ts).filter((m) => m.ts !== ref.ts) : [];
    },
    // chat.postEphemeral and response_url replies alike: what the person sees.
    ephemerals: (user, sinceSeq = 0) =>
      slack
        .changes(sinceSeq)
        .flatMap((c) =>
          (c.type === 'ephemeral_posted' || c.type === 'ephemeral_updated') && c.user === user
            ? [{ seq: c.seq, user, text: readable(c.message as unknown as SlackMessage) }]
            : [],
        ),
    slackSeq: () => Math.max(slack.calls.at(-1)?.seq ?? 0, slack.changes().at(-1)?.seq ?? 0),
    query,
    async count(sql, params = []) {
      const rows = await query<{ n: number | string }>(sql, params);
      return Number(rows[0]?.n ?? 0);
    },
    async latestRun(service) {
      const rows = await query<{ id: string; status: string }>(
        `select id, status from runs where service = $1 order by created_at desc, id desc limit 1`,
        [service],
      );
      return rows[0];
    },
    waitFor: (probe, what, timeoutMs = 20_000) => waitFor(probe, what, timeoutMs),
    logs: () => [...logLines],
    alive: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopChild(child);
      // FERRY_DRILL_LOG_DIR keeps each Ferry's log, to read what it did after a finding.
      const logDir = process.env.FERRY_DRILL_LOG_DIR;
      if (logDir) await writeFile(path.join(logDir, `${schema}.log`), `${logLines.join('\n')}\n`);
      await slackServer.close();
      await maintenanceServer.close();
      await pool.query(`drop schema if exists ${schema} cascade`).catch(() => undefined);
      await pool.end().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return ferry;
}

/** Reads the port from Ferry's "listening" log line; fails with its last words if it exits first. */
function waitForPort(child: ChildProcess, lines: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    let pending = '';
    let stderr = '';
    const timer = setTimeout(() => fail(new Error('Ferry did not start within 60 s')), 60_000);
    const fail = (error: Error) => {
      clearTimeout(timer);
      reject(error);
    };
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      const parts = pending.split('\n');
      pending = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        if (lines.length > 20_000) lines.splice(0, 10_000);
        const port = /"port":(\d+).*Ferry listening on port/.exec(line)?.[1];
        if (port) {
          clearTimeout(timer);
          resolve(Number(port));
        }
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    child.once('exit', (code, signal) =>
      fail(
        new Error(
          `Ferry exited (${signal ?? code}) before listening: ${stderr || lines.slice(-5).join('\n')}`,
        ),
      ),
    );
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

export async function waitFor<T>(
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  what: string,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `send` `times` times, `spacingMs` apart (a double click is two presses within 50 ms). */
export async function burst<T>(
  times: number,
  spacingMs: number,
  send: (i: number) => Promise<T>,
): Promise<T[]> {
  return Promise.all(Array.from({ length: times }, (_, i) => sleep(i * spacingMs).then(() => send(i))));
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
          value: typeof el.value === 'string' ? el.value : '',
          text: (el.text as { text?: string } | undefined)?.text ?? actionId,
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
  return texts.join('\n');
}

/** A copy of a message as it is now: what a person whose Slack has not refreshed still clicks on. */
export function snapshot(message: SlackMessage): SlackMessage {
  return structuredClone(message);
}

/** A health endpoint a check step reads, whose answer the drill sets (status and delay). */
export async function startHealthEndpoint(): Promise<{
  url: string;
  set(status: number, delayMs?: number): void;
  close(): Promise<void>;
}> {
  let status = 200;
  let delayMs = 0;
  const server = createServer((_req, res) => {
    const answer = status;
    setTimeout(() => {
      res.writeHead(answer, { 'content-type': 'application/json' }).end(`{"status":${answer}}`);
    }, delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/healthz`,
    set(next, delay = 0) {
      status = next;
      delayMs = delay;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
