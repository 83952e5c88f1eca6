import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { loadConfig } from '../src/config.ts';
import { startFerry, type RunningFerry } from '../src/ferry.ts';
import { createLogger } from '../src/log.ts';
import { ferryCredentials, Redactor } from '../src/redact.ts';
import { FakeSlack, type SlackMessage } from '../src/sandbox/fake-slack.ts';
import { FakeHeroku } from '../src/sandbox/fakes/heroku.ts';
import {
  buildBlockActionPayload,
  newTriggerId,
  sendBlockAction,
  sendSlashCommand,
} from '../src/sandbox/signed-request.ts';
import { ActionId } from '../src/slack/action-ids.ts';
import type { Drill, DrillContext, DrillResult } from './types.ts';

// Secrets canary: Ferry runs a plan whose variables, and its own credentials, hold recognisable
// secrets, through every path that can carry one out: a maintenance endpoint that answers 500 and
// then 403 with the Authorization header it was sent in its body, a Redis URL whose password Redis
// refuses, a webhook URL, a secret of three characters, env-diff between config values that are
// themselves canaries, a Skip, a rollback, a dry run, `/migrate report` (uploaded files) and
// `/migrate status`. Then every byte that left for Slack (Web API bodies, uploads, response_url
// posts, the HTTP answers to Slack's requests), every log line (debug level), every row of every
// Ferry table in Postgres and the report are searched for each canary. `secret_leaks` counts the
// places where one appeared; each is a finding that names the place and the canary.

const CHANNEL = 'C0CANARY';
const ALICE = 'U01ALICE';
const TIME_BUDGET_MS = 40_000;

/** A short secret is found where the redactor would cut it: as a word of its own. */
const WORD = /^[\p{L}\p{N}\p{M}_*]$/u;

function contains(text: string, canary: string): boolean {
  if (Array.from(canary).length >= 4) return text.includes(canary);
  for (let i = text.indexOf(canary); i !== -1; i = text.indexOf(canary, i + 1)) {
    const before = Array.from(text.slice(0, i)).at(-1);
    const after = Array.from(text.slice(i + canary.length))[0];
    if ((before === undefined || !WORD.test(before)) && (after === undefined || !WORD.test(after)))
      return true;
  }
  return false;
}

interface Canaries {
  [what: string]: string;
}

function makeCanaries(): Canaries {
  const tag = randomBytes(4).toString('hex').toUpperCase();
  return {
    'the maintenance token (BILLING_ADMIN_TOKEN)': `CanaryAdminTok${tag}`,
    'the Redis password (in CACHE_REDIS_URL)': `CanaryRedisPw${tag}`,
    'the webhook token (in ALERTS_WEBHOOK_URL)': `CanaryHook${tag}`,
    'the 3-character secret (PIN_TOKEN)': 'Zq7',
    'the Slack bot token': `xoxb-canary-${tag.toLowerCase()}`,
    'the Slack signing secret': `CanarySigning${tag}`,
    'the Heroku API token': `CanaryHerokuTok${tag}`,
    'the DATABASE_URL password': `CanaryDbPw${tag}`,
    'a config value on Heroku (env-diff source)': `CanaryCfgOld${tag}`,
    'a config value in the target file (env-diff target)': `CanaryCfgNew${tag}`,
  };
}

// ---------------------------------------------------------------------------------------------------
// The systems around Ferry

interface Listening {
  url: string;
  close(): Promise<void>;
}

function listen(handler: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Promise<Listening> {
  const server = createServer((req, res) => {
    handler(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500);
      res.end(String(error));
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The service's own endpoints: the http maintenance protocol (GET/PUT `{"enabled": bool}` with a
 * Bearer token), which for `billing` answers 500 until told otherwise and for `billing-cutover`
 * always 403, each time echoing the Authorization header it got (as misbehaving proxies do); a
 * webhook and a health endpoint that answer 200.
 */
class LeakyService {
  failBilling = true;
  readonly authorizations: string[] = [];
  readonly answered = new Map<number, number>();
  readonly #state = new Map<string, boolean>();
  readonly #token: string;

  constructor(token: string) {
    this.#token = token;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://leaky');
    const body = (await readBody(req)).toString('utf8');
    const answer = (status: number, type: string, text: string) => {
      this.answered.set(status, (this.answered.get(status) ?? 0) + 1);
      res.writeHead(status, { 'Content-Type': type });
      res.end(text);
    };
    const maintenance = /^\/maintenance\/([a-z-]+)$/.exec(url.pathname);
    if (maintenance) {
      const app = maintenance[1]!;
      const auth = req.headers.authorization ?? '';
      this.authorizations.push(auth);
      if (auth !== `Bearer ${this.#token}`) return answer(401, 'application/json', '{"error":"bad token"}');
      if (app === 'billing' && this.failBilling) {
        return answer(
          500,
          'application/json',
          JSON.stringify({
            message: `upstream proxy failed; request was ${req.method} ${url.pathname} with Authorization: ${auth} and x-api-key: ${this.#token}`,
          }),
        );
      }
      if (app === 'billing-cutover') {
        return answer(
          403,
          'text/plain',
          `forbidden for token ${this.#token}\nrequest headers:\nauthorization: ${auth}\n`,
        );
      }
      if (req.method === 'PUT') {
        const enabled = (JSON.parse(body || '{}') as { enabled?: unknown }).enabled === true;
        this.#state.set(app, enabled);
      }
      return answer(200, 'application/json', JSON.stringify({ enabled: this.#state.get(app) ?? false }));
    }
    if (url.pathname.startsWith('/webhook/') || url.pathname === '/health')
      return answer(200, 'text/plain', 'ok');
    return answer(404, 'text/plain', 'not found');
  }
}

interface WireCall {
  path: string;
  contentType: string;
  body: Buffer;
}

/**
 * Stands between Ferry and the fake Slack and keeps every request body as it was sent: what Slack
 * would receive, byte for byte (the Authorization header, which carries the bot token to Slack
 * where it belongs, is not kept).
 */
async function recordingProxy(target: string, calls: WireCall[]): Promise<Listening> {
  const hopByHop = new Set(['host', 'content-length', 'connection', 'transfer-encoding', 'content-encoding']);
  return listen(async (req, res) => {
    const body = await readBody(req);
    calls.push({ path: req.url ?? '', contentType: String(req.headers['content-type'] ?? ''), body });
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!hopByHop.has(name) && value !== undefined)
        headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const method = req.method ?? 'POST';
    const upstream = await fetch(`${target}${req.url ?? ''}`, {
      method,
      headers,
      ...(method === 'GET' || method === 'HEAD' ? {} : { body: new Uint8Array(body) }),
    });
    const out: Record<string, string> = {};
    upstream.headers.forEach((value, name) => {
      if (!hopByHop.has(name)) out[name] = value;
    });
    res.writeHead(upstream.status, out);
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
}

// ---------------------------------------------------------------------------------------------------
// Slack, as a person uses it

function findButton(message: SlackMessage | undefined, actionId: string) {
  for (const block of (message?.blocks ?? []) as Array<{
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
  return undefined;
}

interface World {
  ferry: RunningFerry;
  /** Ferry's tables, read the way the search reads them: the drill needs no API of Ferry's but Slack. */
  db: pg.Pool;
  schema: string;
  slack: FakeSlack;
  secret: string;
  /** What Ferry answered to each request Slack sent it (acks are a path out too). */
  acks: string[];
  until<T>(probe: () => T | undefined | false | Promise<T | undefined | false>, what: string): Promise<T>;
}

async function command(world: World, text: string): Promise<void> {
  const res = await sendSlashCommand(world.ferry.url, world.secret, {
    command: '/migrate',
    text,
    user_id: ALICE,
    user_name: 'alice',
    channel_id: CHANNEL,
    team_id: 'T0FERRY',
    response_url: world.slack.responseUrlFor({ channel: CHANNEL, user: ALICE }),
    trigger_id: newTriggerId(),
  });
  world.acks.push(`/migrate ${text} -> ${res.status} ${res.text}`);
}

async function click(world: World, runId: string, actionId: string): Promise<void> {
  const message = await world.until(() => {
    const status = world.slack
      .messages(CHANNEL)
      .filter((m) => (!m.thread_ts || m.thread_ts === m.ts) && (m.text ?? '').includes(`${runId}:`))
      .at(-1);
    return findButton(status, actionId) ? status : undefined;
  }, `the ${actionId} button of ${runId}`);
  const button = findButton(message, actionId)!;
  const payload = buildBlockActionPayload({
    user: { id: ALICE, username: 'alice', name: 'alice', team_id: 'T0FERRY' },
    channel: CHANNEL,
    message: { ts: message.ts, blocks: message.blocks, text: message.text },
    action: { action_id: actionId, block_id: button.blockId, value: button.value, text: button.text },
    response_url: world.slack.responseUrlFor({ channel: CHANNEL, user: ALICE, messageTs: message.ts }),
  });
  const res = await sendBlockAction(world.ferry.url, world.secret, payload);
  world.acks.push(`${actionId} -> ${res.status} ${res.text}`);
}

/** The run's status and each step's, from Ferry's tables. */
async function runState(
  world: World,
  runId: string,
): Promise<{ status: string; steps: Map<string, string> }> {
  const run = await world.db.query<{ status: string }>(
    `select status from ${world.schema}.runs where id = $1`,
    [runId],
  );
  const steps = await world.db.query<{ step_id: string; status: string }>(
    `select step_id, status from ${world.schema}.steps where run_id = $1`,
    [runId],
  );
  return {
    status: run.rows[0]?.status ?? 'missing',
    steps: new Map(steps.rows.map((r) => [r.step_id, r.status])),
  };
}

async function timelineHas(world: World, runId: string, type: string, stepId: string): Promise<boolean> {
  const found = await world.db.query(
    `select 1 from ${world.schema}.timeline_events where run_id = $1 and type = $2 and step_id = $3`,
    [runId, type, stepId],
  );
  return (found.rowCount ?? 0) > 0;
}

// ---------------------------------------------------------------------------------------------------
// The drill

export const drill: Drill = {
  name: 'secrets canary: no secret in Slack, logs, the database, reports or files',
  async run(ctx: DrillContext): Promise<DrillResult> {
    const started = Date.now();
    const deadline = Math.min(ctx.deadline, started + TIME_BUDGET_MS);
    const canaries = makeCanaries();
    const c = (what: string) => canaries[what]!;
    const findings: string[] = [];
    const cleanup: Array<() => Promise<unknown>> = [];
    const schema = `drill_canary_${randomBytes(4).toString('hex')}`;
    const logLines: string[] = [];
    const wire: WireCall[] = [];
    let places = 0;
    let leaks = 0;

    try {
      // -- the world ------------------------------------------------------------------------------
      const leaky = new LeakyService(c('the maintenance token (BILLING_ADMIN_TOKEN)'));
      const service = await listen((req, res) => leaky.handle(req, res));
      cleanup.push(() => service.close());

      const slack = new FakeSlack({
        rateLimits: false,
        users: [{ id: ALICE, name: 'alice', real_name: 'Alice' }],
      });
      const slackServer = await slack.listen();
      cleanup.push(() => slackServer.close());
      const proxy = await recordingProxy(slackServer.url, wire);
      cleanup.push(() => proxy.close());
      slack.setBaseUrl(proxy.url); // upload and response URLs go through the proxy too

      const heroku = new FakeHeroku({ token: c('the Heroku API token') }).addApp('billing', {
        configVars: {
          STRIPE_SECRET_KEY: c('a config value on Heroku (env-diff source)'),
          DATABASE_URL: `postgres://app:${c('a config value on Heroku (env-diff source)')}@db-old.internal/billing`,
          RAILS_ENV: 'production',
          ONLY_ON_HEROKU: 'x',
        },
      });
      const herokuServer = await heroku.listen();
      cleanup.push(() => herokuServer.close());

      const dir = await mkdtemp(path.join(tmpdir(), 'ferry-canary-'));
      cleanup.push(() => rm(dir, { recursive: true, force: true }));
      const targetFile = path.join(dir, 'target.env');
      await writeFile(
        targetFile,
        [
          `STRIPE_SECRET_KEY=${c('a config value in the target file (env-diff target)')}`,
          `DATABASE_URL=postgres://app:${c('a config value in the target file (env-diff target)')}@db-new.internal/billing`,
          'RAILS_ENV=production',
        ].join('\n'),
      );
      const plansDir = path.join(dir, 'plans');
      await mkdir(plansDir);
      await writeFile(
        path.join(plansDir, 'billing.yml'),
        `
service: billing
channel: ${CHANNEL}
environments:
  staging:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on,
          provider: { type: http, url: "\${LEAKY_URL}/maintenance/billing", token: "\${BILLING_ADMIN_TOKEN}" } }
      - { id: config, kind: env-diff, source: { type: heroku, app: billing },
          target: { type: file, path: "${targetFile}" }, fail_on_missing: false }
      - { id: alerts, kind: check, checks: [ { http: { url: "\${ALERTS_WEBHOOK_URL}", expect_status: 200 } } ] }
      - { id: cache, kind: check, checks: [ { redis: { url: "\${CACHE_REDIS_URL}", samples: 2 } } ] }
      - { id: health, kind: check, checks: [ { http: { url: "\${LEAKY_URL}/health?pin=\${PIN_TOKEN}", expect_status: 200 } } ] }
      - { id: cutover, kind: flag, action: on,
          provider: { type: http, url: "\${LEAKY_URL}/maintenance/billing-cutover", token: "\${BILLING_ADMIN_TOKEN}" } }
`,
      );

      const redis = new URL(ctx.redisUrl);
      const db = new URL(ctx.pgUrl);
      db.password = c('the DATABASE_URL password'); // trust auth: accepted, never asked for
      const config = loadConfig({
        SLACK_BOT_TOKEN: c('the Slack bot token'),
        SLACK_SIGNING_SECRET: c('the Slack signing secret'),
        SLACK_API_URL: `${proxy.url}/api/`,
        DATABASE_URL: db.toString(),
        FERRY_DB_SCHEMA: schema,
        FERRY_PLANS: plansDir,
        PORT: '0',
        FERRY_SHUTDOWN_GRACE_SECONDS: '0',
        FERRY_POLL_INTERVAL_MS: '20',
        FERRY_HTTP_TIMEOUT_MS: '3000',
        FERRY_SLACK_MIN_EDIT_INTERVAL_MS: '0',
        FERRY_SLACK_EDITS_PER_MINUTE: '100000',
        HEROKU_API_TOKEN: c('the Heroku API token'),
        HEROKU_API_URL: herokuServer.url,
        LOG_LEVEL: 'debug',
        LEAKY_URL: service.url,
        BILLING_ADMIN_TOKEN: c('the maintenance token (BILLING_ADMIN_TOKEN)'),
        ALERTS_WEBHOOK_URL: `${service.url}/webhook/T0CANARY/${c('the webhook token (in ALERTS_WEBHOOK_URL)')}`,
        CACHE_REDIS_URL: `redis://ferry:${c('the Redis password (in CACHE_REDIS_URL)')}@${redis.hostname}:${redis.port || '6379'}/13`,
        PIN_TOKEN: c('the 3-character secret (PIN_TOKEN)'),
      });

      // Ferry as main.ts builds it: one Redactor for its own credentials, the logger around it.
      const redactor = new Redactor(ferryCredentials(config));
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
          done();
        },
      });
      const log = createLogger({ level: config.logLevel, redactor }, sink);
      const ferry = await startFerry(config, { log, redactor, host: '127.0.0.1' });
      let stopped = false;
      const stopFerry = async () => {
        if (stopped) return;
        stopped = true;
        await ferry.stop();
      };
      cleanup.push(stopFerry);
      const dbPool = new pg.Pool({ connectionString: ctx.pgUrl, max: 2 });
      cleanup.push(async () => {
        await dbPool.query(`drop schema if exists ${schema} cascade`);
        await dbPool.end();
      });

      const world: World = {
        ferry,
        db: dbPool,
        schema,
        slack,
        secret: c('the Slack signing secret'),
        acks: [],
        async until(probe, what) {
          for (;;) {
            const value = await probe();
            if (value !== undefined && value !== false) return value;
            if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
            await new Promise((r) => setTimeout(r, 25));
          }
        },
      };

      // -- the run --------------------------------------------------------------------------------
      ctx.log(
        'secrets canary: dry run, then a run through a 500, a refused Redis password, Skip, a 403 and a rollback',
      );
      await command(world, 'plan billing staging');
      await world.until(() => slack.ephemerals(ALICE).length > 0, 'the dry run');
      await command(world, 'start billing staging');
      const runId = await world.until(
        async () => (await dbPool.query<{ id: string }>(`select id from ${schema}.runs`)).rows[0]?.id,
        'the run to start',
      );

      // The first attempt of maintenance-on meets the 500; the endpoint recovers once it is retrying.
      await world.until(
        () => timelineHas(world, runId, 'step_retrying', 'maintenance-on'),
        'maintenance-on to be retried after the 500',
      );
      leaky.failBilling = false;
      await world.until(async () => {
        const state = await runState(world, runId);
        return state.status === 'failed' && state.steps.get('cache') === 'failed';
      }, 'the cache check to fail on the refused password');
      await click(world, runId, ActionId.skip);
      await world.until(async () => {
        const state = await runState(world, runId);
        return state.status === 'failed' && state.steps.get('cutover') === 'failed';
      }, 'the cutover to fail on the 403');
      await click(world, runId, ActionId.rollback);
      await world.until(async () => (await runState(world, runId)).status === 'rolled_back', 'the rollback');
      // The publisher posts each timeline event as a thread reply; the last one closes the run.
      await world.until(
        () =>
          slack
            .messages(CHANNEL)
            .some((m) => slack.thread(CHANNEL, m.ts).some((r) => (r.text ?? '').includes('run rolled back'))),
        'the thread to reach the end of the run',
      );
      await command(world, 'report');
      await world.until(() => slack.files().filter((f) => f.content).length >= 2, 'the two report files');
      await command(world, 'status');
      await world.until(
        () => slack.ephemerals(ALICE).some((e) => JSON.stringify(e).includes(`${runId}:`)),
        'the status reply',
      );
      // The report as Ferry built it: the uploaded JSON (its Markdown twin is searched with the files).
      const reportFile = slack.files().find((f) => f.name.endsWith('-report.json'));
      const report = JSON.parse(reportFile?.content?.toString('utf8') ?? '{}') as { status?: string };
      await stopFerry();

      // -- did the canaries go where they could leak? --------------------------------------------
      const coverage: Array<[boolean, string]> = [
        [
          leaky.authorizations.includes(`Bearer ${c('the maintenance token (BILLING_ADMIN_TOKEN)')}`),
          'the maintenance endpoint never received the token',
        ],
        [(leaky.answered.get(500) ?? 0) > 0, 'the maintenance endpoint never answered 500 with the echo'],
        [(leaky.answered.get(403) ?? 0) > 0, 'the cutover endpoint never answered 403 with the echo'],
        [wire.some((w) => w.path.includes('/upload/')), 'no file upload reached Slack'],
        [wire.some((w) => w.path.includes('/response-url/')), 'no response_url post reached Slack'],
        [logLines.length >= 20, `only ${logLines.length} log lines were written`],
        [report.status === 'rolled_back', `the report says the run ended ${report.status}, not rolled back`],
      ];
      for (const [ok, gap] of coverage) if (!ok) findings.push(`the drill did not exercise a path: ${gap}`);

      // -- the search -----------------------------------------------------------------------------
      const search = (place: string, text: string) => {
        places += 1;
        const found = Object.entries(canaries)
          .filter(([, canary]) => contains(text, canary))
          .map(([what]) => what);
        if (found.length === 0) return;
        leaks += 1;
        findings.push(`${found.join(', ')} appeared in ${place}`);
      };
      for (const [i, call] of wire.entries()) {
        let text = call.body.toString('utf8');
        // The `token` field is the bot token on its way to Slack, where it belongs.
        if (call.contentType.includes('x-www-form-urlencoded')) {
          const params = new URLSearchParams(text);
          params.delete('token');
          text = [...params].map(([k, v]) => `${k}=${v}`).join('\n');
        }
        search(`the request Slack received #${i + 1} (${call.path.replace(/\/[^/]{12,}$/, '/…')})`, text);
      }
      for (const [i, ack] of world.acks.entries()) search(`Ferry's HTTP answer to Slack #${i + 1}`, ack);
      for (const file of slack.files())
        search(`the uploaded file ${file.name}`, `${file.title}\n${file.content?.toString('utf8') ?? ''}`);
      for (const [i, line] of logLines.entries()) {
        const msg = (JSON.parse(line) as { msg?: string }).msg ?? '';
        search(`log line ${i + 1} ("${msg.slice(0, 60)}")`, line);
      }
      const tables = await dbPool.query<{ table_name: string }>(
        `select table_name from information_schema.tables where table_schema = $1 order by table_name`,
        [schema],
      );
      for (const { table_name: table } of tables.rows) {
        const rows = await dbPool.query<{ row: string }>(
          `select row_to_json(t)::text as row from ${schema}.${table} t`,
        );
        for (const [i, { row }] of rows.rows.entries()) search(`the ${table} table, row ${i + 1}`, row);
      }
      // The search itself works: the endpoint did receive the token.
      if (!leaky.authorizations.some((a) => contains(a, c('the maintenance token (BILLING_ADMIN_TOKEN)')))) {
        findings.push('the search found no canary where one was sent on purpose; its result means nothing');
      }
      ctx.log(
        `secrets canary: ${Object.keys(canaries).length} canaries searched in ${places} places (${wire.length} Slack requests, ${logLines.length} log lines, every row of Ferry's tables, the uploaded report): ${leaks} leak(s), ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    } catch (error) {
      findings.push(
        `the secrets canary drill could not finish: ${error instanceof Error ? error.message : String(error)}`,
      );
    } finally {
      for (const step of cleanup.reverse()) await step().catch(() => undefined);
    }
    return { figures: { secret_leaks: leaks }, findings };
  },
};
