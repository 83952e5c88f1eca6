import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { ListResourceRecordSetsCommand, Route53Client } from '@aws-sdk/client-route-53';
import pg from 'pg';
import pino from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { startFerry, type RunningFerry } from '../../src/ferry.ts';
import { createHttpServer, listen, type Route } from '../../src/http/server.ts';
import type { FakeSlack } from '../../src/sandbox/fake-slack.ts';
import { createSandbox, sandboxBanner, type Sandbox } from '../../src/sandbox/index.ts';
import { HOSTED_ZONE, SANDBOX_MAINTENANCE_TOKEN } from '../../src/sandbox/world.ts';
import { ActionId } from '../../src/slack/action-ids.ts';
import { NOTE_BLOCK, NOTE_INPUT } from '../../src/slack/views/note-modal.ts';
import { readRun } from '../../src/store/runs.ts';

// The sandbox's routes on Ferry's port: the console's endpoints turn what a person types and clicks
// into signed Slack requests to Ferry's own /slack/events; the faults panel makes the fakes misbehave.

const PG_URL = 'postgres://root@127.0.0.1:5432/test';
const CHANNEL = 'C0MIGRATIONS';
const ALICE = 'U01ALICE';
const BOB = 'U02BOB';
const MALLORY = 'U03MALLORY';
const log = pino({ level: process.env.FERRY_TEST_LOG ?? 'silent' });

// A plan with no Redis steps, so this file needs no Redis data: maintenance and a check against the
// sandbox's fakes, then an approval and a manual step.
const plan = `
service: billing
starters: [U01ALICE]
approvers: { users: [U02BOB], usergroups: [S0PLATFORM] }
environments:
  staging:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on,
          provider: { type: http, url: "\${SANDBOX_URL}/fake/maintenance/billing-staging", token: "\${SANDBOX_MAINTENANCE_TOKEN}" } }
      - { id: smoke, kind: check, checks: [ { http: { url: "\${SANDBOX_URL}/fake/new-platform/billing-staging/healthz" } } ] }
      - { id: watch, kind: manual, approval: required, instructions: "Watch the dashboards, then press Done." }
`;

async function postJson(
  url: string,
  body: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function readable(message: { text?: string; blocks?: unknown[] } | undefined): string {
  return message ? `${message.text ?? ''}\n${JSON.stringify(message.blocks ?? [])}` : '';
}

describe('the console endpoints, in local mode', () => {
  let ferry: RunningFerry;
  let slack: FakeSlack;
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ferry-sandbox-'));
    await writeFile(path.join(dir, 'billing.yml'), plan);
    // The sandbox on its own PGlite under the temporary folder: local mode never opens DATABASE_URL.
    const config = loadConfig({
      PORT: '0',
      FERRY_DATA_DIR: dir,
      FERRY_PLANS: dir,
      FERRY_POLL_INTERVAL_MS: '50',
      FERRY_SLACK_MIN_EDIT_INTERVAL_MS: '0',
      LOG_LEVEL: 'silent',
    });
    ferry = await startFerry(config, { log, host: '127.0.0.1' });
    slack = ferry.fakeSlack!;
  });

  afterAll(async () => {
    await ferry?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves the console page, its assets, and nothing outside its folder', async () => {
    const page = await fetch(`${ferry.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('/sandbox/assets/console.js');
    const script = await fetch(`${ferry.url}/sandbox/assets/console.js`);
    expect(script.headers.get('content-type')).toContain('text/javascript');
    expect(await script.text()).toContain("from './blocks.js'");
    for (const bad of [
      '/sandbox/assets/..%2Findex.ts',
      '/sandbox/assets/%2e%2e%2Fferry.ts',
      '/sandbox/assets/nope.js',
    ]) {
      expect((await fetch(`${ferry.url}${bad}`)).status).toBe(404);
    }
  });

  it('sends a typed /migrate to Ferry as a signed slash command; the run posts its status message in the channel', async () => {
    const sent = await postJson(`${ferry.url}/sandbox/command`, {
      user: ALICE,
      channel: CHANNEL,
      text: '/migrate start billing staging',
    });
    expect(sent).toEqual({ status: 200, json: { ok: true, status: 200 } });
    const status = await slack.waitForMessage(
      CHANNEL,
      (m) => readable(m).includes('billing · staging · r1'),
      {
        timeoutMs: 10_000,
      },
    );
    expect(status.bot_id).toBe('B0FERRYBOT');
    // Bolt answered through the response_url the console minted: to Alice alone.
    await slack.waitFor(() => slack.ephemerals(ALICE).find((e) => e.text.includes('Started r1')));
    expect(slack.ephemerals(BOB)).toEqual([]);
    const run = await readRun(ferry.db, 'r1');
    expect(run?.state.startedBy).toBe(ALICE);
  });

  it("shows a command's immediate answer (the ack body) only to whoever typed it", async () => {
    await postJson(`${ferry.url}/sandbox/command`, {
      user: MALLORY,
      channel: CHANNEL,
      text: '/migrate help',
    });
    const help = await slack.waitFor(() =>
      slack.ephemerals(MALLORY).find((e) => e.text.includes('Ferry runs migration runbooks')),
    );
    expect(readable(help)).toContain('/migrate start');
    expect(slack.ephemerals(ALICE).some((e) => e.text.includes('runbooks'))).toBe(false);

    await postJson(`${ferry.url}/sandbox/command`, { user: MALLORY, channel: CHANNEL, text: '/deploy now' });
    await slack.waitFor(() =>
      slack.ephemerals(MALLORY).find((e) => e.text.includes('`/deploy` is not a valid command')),
    );
  });

  it("sends a click as a signed block action: Mallory's approval is refused and only she is told; Bob's goes through", async () => {
    const approval = await slack.waitFor(
      () =>
        slack
          .thread(CHANNEL, slack.messages(CHANNEL)[0]?.ts ?? '')
          .find((m) => readable(m).includes(ActionId.approve)),
      { timeoutMs: 10_000 },
    );
    const blockId = (approval.blocks as Array<{ type: string; block_id: string }>).find(
      (b) => b.type === 'actions',
    )?.block_id;
    const click = (user: string) =>
      postJson(`${ferry.url}/sandbox/action`, {
        user,
        channel: CHANNEL,
        ts: approval.ts,
        action_id: ActionId.approve,
        block_id: blockId,
      });

    expect((await click(MALLORY)).json).toEqual({ ok: true, status: 200 });
    const refusal = await slack.waitFor(() =>
      slack.ephemerals(MALLORY).find((e) => e.text.includes('not an approver')),
    );
    expect(refusal.thread_ts).toBe(approval.thread_ts);
    expect(slack.ephemerals(BOB).some((e) => e.text.includes('not an approver'))).toBe(false);

    await click(BOB);
    const decided = await slack.waitFor(() => {
      const m = slack.message(CHANNEL, approval.ts);
      return readable(m).includes('Approved by <@U02BOB>') && m;
    });
    expect(readable(decided)).not.toContain(ActionId.approve);
    // The buttons are gone, so a late click is turned away before it reaches Ferry.
    const late = await click(BOB);
    expect(late.status).toBe(409);
  });

  it('streams Slack changes as server-sent events, and a person sees only their own ephemeral messages', async () => {
    const controller = new AbortController();
    const res = await fetch(`${ferry.url}/sandbox/events?user=${BOB}`, { signal: controller.signal });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let received = '';
    const readUntil = async (needle: string): Promise<void> => {
      while (!received.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${needle}`);
        received += decoder.decode(value, { stream: true });
      }
    };
    await readUntil('event: hello');
    await postJson(`${ferry.url}/sandbox/command`, { user: ALICE, channel: CHANNEL, text: '/migrate help' });
    await postJson(`${ferry.url}/sandbox/command`, { user: BOB, channel: CHANNEL, text: '/migrate list' });
    await readUntil('active run');
    controller.abort();
    const events = received.split('\n\n').filter((e) => e.includes('event: slack'));
    const ephemerals = events.filter((e) => e.includes('"ephemeral_posted"'));
    expect(ephemerals.length).toBeGreaterThan(0);
    expect(ephemerals.every((e) => e.includes(`"visible_to":"${BOB}"`))).toBe(true);
    expect(received).not.toContain('Ferry runs migration runbooks'); // Alice's help
    expect(events.every((e) => /^id: \d+$/m.test(e))).toBe(true);
  });

  it('turns away what Slack would never send: unknown people, bodies that are not JSON, clicks on missing buttons', async () => {
    expect(
      (
        await postJson(`${ferry.url}/sandbox/command`, {
          user: 'U0NOBODY',
          channel: CHANNEL,
          text: '/migrate help',
        })
      ).status,
    ).toBe(400);
    const notJson = await fetch(`${ferry.url}/sandbox/command`, {
      method: 'POST',
      body: 'text=/migrate help',
    });
    expect(notJson.status).toBe(415);
    const status = slack.messages(CHANNEL)[0]!;
    const missing = await postJson(`${ferry.url}/sandbox/action`, {
      user: BOB,
      channel: CHANNEL,
      ts: status.ts,
      action_id: 'ferry_nope',
    });
    expect(missing.status).toBe(409);
    const gone = await postJson(`${ferry.url}/sandbox/action`, {
      user: BOB,
      channel: CHANNEL,
      ts: '1.000000',
      action_id: ActionId.done,
    });
    expect(gone.status).toBe(404);
  });

  it("opens the Home tab: app_home_opened reaches Ferry signed, and the tab it publishes is that person's alone", async () => {
    const opened = await postJson(`${ferry.url}/sandbox/home`, { user: BOB });
    expect(opened).toEqual({ status: 200, json: { ok: true } });
    const home = await slack.waitFor(() => slack.views().find((v) => v.type === 'home' && v.user === BOB));
    expect(JSON.stringify(home.blocks)).toContain('Migrations: services × environments');
    const state = async (user: string) =>
      (await (await fetch(`${ferry.url}/sandbox/state?user=${user}`)).json()) as {
        home: { id: string; blocks: unknown[] } | null;
      };
    expect((await state(BOB)).home?.id).toBe(home.id);
    expect(JSON.stringify((await state(BOB)).home?.blocks)).toContain('r1');
    expect((await state(MALLORY)).home).toBeNull();
    expect((await postJson(`${ferry.url}/sandbox/home`, { user: 'U0NOBODY' })).status).toBe(400);
  });

  it('submits a modal as a signed view_submission: errors come back under their field, a note reaches the timeline', async () => {
    const status = slack.messages(CHANNEL).find((m) => readable(m).includes('billing · staging · r1'))!;
    const clicked = await postJson(`${ferry.url}/sandbox/action`, {
      user: ALICE,
      channel: CHANNEL,
      ts: status.ts,
      action_id: ActionId.addNote,
    });
    expect(clicked.json.ok).toBe(true);
    const modal = await slack.waitFor(() =>
      slack.views().find((v) => v.type === 'modal' && v.user === ALICE && v.callback_id !== ''),
    );
    const note = (value: string | null) => ({
      [NOTE_BLOCK]: { [NOTE_INPUT]: { type: 'plain_text_input', value } },
    });

    // Only the person it was opened for can submit it; a modal that is not there is gone.
    const mallory = await postJson(`${ferry.url}/sandbox/view`, {
      user: MALLORY,
      view_id: modal.id,
      values: note('x'),
    });
    expect(mallory.status).toBe(403);
    const missing = await postJson(`${ferry.url}/sandbox/view`, {
      user: ALICE,
      view_id: 'V0NOPE',
      values: note('x'),
    });
    expect(missing.status).toBe(404);

    const blank = await postJson(`${ferry.url}/sandbox/view`, {
      user: ALICE,
      view_id: modal.id,
      values: note('   '),
    });
    expect(blank.json).toEqual({ ok: true, action: 'errors', errors: { [NOTE_BLOCK]: 'Write the note.' } });
    const written = await postJson(`${ferry.url}/sandbox/view`, {
      user: ALICE,
      view_id: modal.id,
      values: note('The DBA is watching replication lag.'),
    });
    expect(written.json).toEqual({ ok: true, action: 'close' });
    await slack.waitForMessage(
      CHANNEL,
      (m) => m.thread_ts === status.ts && readable(m).includes('The DBA is watching replication lag.'),
      {
        timeoutMs: 10_000,
      },
    );
  });

  it('resets the world: Ferry starts over on the same port, without its runs, messages, faults or changes', async () => {
    type State = {
      session: string;
      canReset: boolean;
      messages: unknown[];
      faults: Array<{ name: string; armed: boolean }>;
      world: Array<{ app: string; maintenance: boolean; dns: { pointsAt: string } }>;
    };
    const state = async (): Promise<State> =>
      (await (await fetch(`${ferry.url}/sandbox/state?user=${ALICE}`)).json()) as State;
    const before = await state();
    expect(before.canReset).toBe(true);
    expect(before.messages.length).toBeGreaterThan(0);
    // The run from the tests above changed the world: maintenance is on for staging.
    expect(before.world.find((a) => a.app === 'billing-staging')?.maintenance).toBe(true);
    await postJson(`${ferry.url}/sandbox/faults`, { name: 'health-check', armed: true });
    const oldSlack = ferry.fakeSlack;
    const port = ferry.port;

    // Every open page hears of it before its stream closes.
    const controller = new AbortController();
    const stream = await fetch(`${ferry.url}/sandbox/events?user=${ALICE}`, { signal: controller.signal });
    const reader = stream.body!.getReader();
    let heard = '';
    const reset = await postJson(`${ferry.url}/sandbox/reset`, {});
    expect(reset).toEqual({ status: 202, json: { ok: true } });
    while (!heard.includes('event: reset')) {
      const { value, done } = await reader.read();
      if (done) break;
      heard += new TextDecoder().decode(value);
    }
    controller.abort();
    expect(heard).toContain(`event: reset\ndata: {"session":"${before.session}"}`);

    // The same address answers again once the new Ferry is up, with another world.
    await expect
      .poll(async () => (await state().catch(() => before)).session, { timeout: 120_000, interval: 500 })
      .not.toBe(before.session);
    const after = await state();
    expect(ferry.port).toBe(port);
    expect(after.messages).toEqual([]);
    expect(after.faults.every((f) => !f.armed)).toBe(true);
    const staging = after.world.find((a) => a.app === 'billing-staging');
    expect(staging).toMatchObject({ maintenance: false, dns: { pointsAt: 'old' } });
    // The handle reaches the Ferry running now: its database has no run, its fake Slack no message.
    expect(ferry.fakeSlack).not.toBe(oldSlack);
    expect(await readRun(ferry.db, 'r1')).toBeNull();

    // And a run starts from the beginning again, as r1.
    await postJson(`${ferry.url}/sandbox/command`, {
      user: ALICE,
      channel: CHANNEL,
      text: '/migrate start billing staging',
    });
    const fresh = ferry.fakeSlack!;
    await fresh.waitForMessage(CHANNEL, (m) => readable(m).includes('billing · staging · r1'), {
      timeoutMs: 20_000,
    });
    expect((await readRun(ferry.db, 'r1'))?.state.startedBy).toBe(ALICE);
  }, 180_000);
});

/** A sandbox on its own port, without Ferry: for the fakes, the faults and the Redis status. */
async function standaloneSandbox(
  env: Record<string, string>,
  options: { host?: string; consoleToken?: string } = {},
): Promise<{ sandbox: Sandbox; url: string; port: number; close: () => Promise<void> }> {
  const routes: Route[] = [];
  const server: Server = createHttpServer({
    slack: () => 'unavailable',
    ready: () => Promise.resolve(true),
    metrics: new Registry(),
    routes: () => routes,
  });
  const port = await listen(server, 0, options.host ?? '127.0.0.1');
  const url = `http://127.0.0.1:${port}`;
  const sandbox = await createSandbox({
    url,
    signingSecret: 'not-used-here',
    log,
    env,
    ...(options.consoleToken ? { consoleToken: options.consoleToken } : {}),
  });
  routes.push(...sandbox.routes);
  return {
    sandbox,
    url,
    port,
    close: async () => {
      await sandbox.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('the faults panel', () => {
  let sandbox: Sandbox;
  let url: string;
  let close: () => Promise<void>;
  const fault = (name: string, armed: boolean, count?: number) =>
    postJson(`${url}/sandbox/faults`, { name, armed, ...(count ? { count } : {}) });
  const armed = (name: string) => sandbox.faults.list().find((f) => f.name === name);

  beforeAll(async () => {
    // Nothing listens on port 1: these tests need no Redis, and show the sandbox copes without one.
    ({ sandbox, url, close } = await standaloneSandbox({ SANDBOX_REDIS_URL: 'redis://127.0.0.1:1/0' }));
  });
  afterAll(async () => {
    await close?.();
  });

  it("fails the new platform's health check only while armed", async () => {
    const health = `${url}/fake/new-platform/billing-staging/healthz`;
    expect((await fetch(health)).status).toBe(200);
    expect((await fault('health-check', true)).json.ok).toBe(true);
    expect(armed('health-check')?.armed).toBe(true);
    const failing = await fetch(health);
    expect(failing.status).toBe(500);
    expect(await failing.json()).toMatchObject({ status: 'error' });
    await fault('health-check', false);
    expect((await fetch(health)).status).toBe(200);
    expect(sandbox.world.snapshot(() => undefined)[0]?.health).toBe('ok');
  });

  it("turns the new platform's error rate up while armed, as its checks and the stand-in Prometheus see it", async () => {
    const health = `${url}/fake/new-platform/billing-production/healthz`;
    const errorRate = async (app: string) => {
      const query = encodeURIComponent(`sum(rate(http_requests_total{app="${app}",code=~"5.."}[1m]))`);
      const res = await fetch(`${url}/fake/prometheus/api/v1/query?query=${query}`);
      const body = (await res.json()) as {
        status: string;
        data: { result: Array<{ value: [number, string] }> };
      };
      expect(body.status).toBe('success');
      return Number(body.data.result[0]!.value[1]);
    };
    for (let i = 0; i < 4; i++) expect((await fetch(health)).status).toBe(200);
    expect(await errorRate('billing-production')).toBe(0);
    // Staging's own share (the health-check test before this one may have left a 500 in its minute).
    const staging = await errorRate('billing-staging');
    await fault('error-rate', true);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await fetch(health)).status);
    expect(statuses.filter((s) => s === 503)).toHaveLength(2);
    // 2 of the 12 requests of the last minute answered 5xx; another app's share is its own.
    expect(await errorRate('billing-production')).toBeCloseTo(2 / 12);
    expect(await errorRate('billing-staging')).toBe(staging);
    expect(sandbox.world.snapshot(() => undefined).find((a) => a.app === 'billing-production')).toMatchObject(
      {
        health: 'erring',
        errorRatio: 2 / 12,
      },
    );
    await fault('error-rate', false);
    for (let i = 0; i < 4; i++) expect((await fetch(health)).status).toBe(200);
    expect(sandbox.world.snapshot(() => undefined)[1]?.health).toBe('ok');
  });

  it('makes the maintenance endpoint answer 502 while armed, and work again once disarmed', async () => {
    const endpoint = `${url}/fake/maintenance/billing-staging`;
    const put = () =>
      fetch(endpoint, {
        method: 'PUT',
        headers: { authorization: `Bearer ${SANDBOX_MAINTENANCE_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ enabled: true }),
      });
    await fault('http-502', true);
    for (let i = 0; i < 3; i++) expect((await put()).status).toBe(502);
    expect(sandbox.world.inMaintenance('billing-staging')).toBe(false);
    await fault('http-502', false);
    expect((await put()).status).toBe(200);
    expect(sandbox.world.inMaintenance('billing-staging')).toBe(true);
  });

  it('throttles the next N Route 53 calls, counting down in the panel, as the AWS SDK sees it', async () => {
    const client = new Route53Client({
      endpoint: url,
      region: 'us-east-1',
      maxAttempts: 1,
      credentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' },
    });
    const list = () => client.send(new ListResourceRecordSetsCommand({ HostedZoneId: HOSTED_ZONE.id }));
    const armedNow = await fault('route53-throttling', true, 2);
    expect(armedNow.json.faults).toContainEqual(
      expect.objectContaining({ name: 'route53-throttling', armed: true, remaining: 2 }),
    );
    await expect(list()).rejects.toMatchObject({ name: 'Throttling', message: 'Rate exceeded' });
    expect(armed('route53-throttling')?.remaining).toBe(1);
    await expect(list()).rejects.toMatchObject({ name: 'Throttling' });
    expect(armed('route53-throttling')?.armed).toBe(false);
    const records = await list();
    expect(records.ResourceRecordSets?.map((r) => r.Name)).toContain('api.billing.example.com.');
  });

  it('says it cannot reset without a Ferry to start over', async () => {
    const res = await postJson(`${url}/sandbox/reset`, {});
    expect(res.status).toBe(501);
    expect(res.json.error).toContain('restart the process instead');
  });

  it('arms and disarms the slow drain, and refuses faults it does not know', async () => {
    await fault('slow-drain', true);
    expect(sandbox.faults.slowDrain).toBe(true);
    await fault('slow-drain', false);
    expect(sandbox.faults.slowDrain).toBe(false);
    expect((await fault('power-cut', true)).status).toBe(400);
  });

  it('says clearly, in the console state, that no Redis answers and what to do', async () => {
    await expect.poll(() => sandbox.redisStatus().state, { timeout: 5_000 }).toBe('unavailable');
    const state = (await (await fetch(`${url}/sandbox/state?user=${ALICE}`)).json()) as {
      redis: { state: string; message: string };
      world: Array<{ sidekiq: unknown }>;
    };
    expect(state.redis.state).toBe('unavailable');
    expect(state.redis.message).toContain('No Redis answers at redis://127.0.0.1:1/0');
    expect(state.redis.message).toContain('press Skip');
    expect(state.redis.message).toContain('SANDBOX_REDIS_URL');
    expect(state.world[0]?.sidekiq).toBeNull();
  });
});

describe('plan variables and adapter settings', () => {
  it('points the example plan at the fakes on the sandbox URL, with the Redis URL it was given', async () => {
    const { sandbox, url, close } = await standaloneSandbox({ SANDBOX_REDIS_URL: 'redis://127.0.0.1:1/3' });
    try {
      expect(sandbox.planEnv).toEqual({
        SANDBOX_URL: url,
        SANDBOX_REDIS_URL: 'redis://127.0.0.1:1/3',
        SANDBOX_MAINTENANCE_TOKEN,
      });
      expect(sandbox.adapterEnv.route53?.endpoint).toBe(url);
      expect(sandbox.adapterEnv.route53?.credentials?.accessKeyId).toBeTruthy();
      expect(sandbox.adapterEnv.heroku?.apiUrl).toBe(`${url}/fake/heroku`);
      const apps = await fetch(`${url}/fake/heroku/apps/billing-production/formation`, {
        headers: {
          accept: 'application/vnd.heroku+json; version=3',
          authorization: `Bearer ${sandbox.adapterEnv.heroku?.token}`,
        },
      });
      const formation = (await apps.json()) as Array<{ type: string; quantity: number }>;
      expect(formation.map((f) => `${f.type} ${f.quantity}`).sort()).toEqual([
        'clock 1',
        'web 3',
        'worker 3',
      ]);
    } finally {
      await close();
    }
  });
});

describe('local mode and a real database', () => {
  it('never opens DATABASE_URL, even from a Config built in code: startFerry refuses before connecting', async () => {
    const schema = `sandbox_refused_${randomBytes(5).toString('hex')}`;
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-sandbox-refused-'));
    // loadConfig refuses DATABASE_URL without Slack credentials; a hand-built Config must fare no better.
    const config = {
      ...loadConfig({ PORT: '0', FERRY_DATA_DIR: dir }),
      databaseUrl: PG_URL,
      dbSchema: schema,
    };
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      await expect(startFerry(config, { log, host: '127.0.0.1' })).rejects.toThrow(
        /DATABASE_URL: set, but no Slack credentials are; the local sandbox never opens a real database/,
      );
      const created = await client.query('select 1 from information_schema.schemata where schema_name = $1', [
        schema,
      ]);
      expect(created.rowCount).toBe(0);
    } finally {
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** A request through node:http, which sends the Host header given (fetch would not). */
function rawRequest(
  address: string,
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: address, port, path, method: options.method ?? 'GET', headers: options.headers ?? {} },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        // An event stream never ends: its first chunk is enough.
        res.on('data', (chunk: string) => {
          body += chunk;
          if (String(res.headers['content-type']).startsWith('text/event-stream')) res.destroy();
        });
        res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

function externalAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  if (!address) throw new Error('this machine has no IPv4 address besides loopback; this test needs one');
  return address;
}

describe('the console beyond loopback', () => {
  const TOKEN = 'console-token-0123456789';
  let sandbox: Awaited<ReturnType<typeof standaloneSandbox>>;
  let cookieName: string;
  const host = () => `localhost:${sandbox.port}`;

  beforeAll(async () => {
    // As in the Docker image: every interface. Nothing listens on port 1, so no Redis is needed.
    sandbox = await standaloneSandbox(
      { SANDBOX_REDIS_URL: 'redis://127.0.0.1:1/0' },
      { host: '0.0.0.0', consoleToken: TOKEN },
    );
    cookieName = `ferry_console_${sandbox.port}`;
  });
  afterAll(() => sandbox?.close());

  it('turns away every console route without the token, with a line that says what to open', async () => {
    const page = await rawRequest('127.0.0.1', sandbox.port, '/', { headers: { host: host() } });
    expect(page.status).toBe(401);
    expect(page.headers['content-type']).toContain('text/plain');
    expect(page.body).toBe(
      "The sandbox console needs its token here, because Ferry listens beyond this machine's loopback (FERRY_HOST). Open the address Ferry printed at start, the one ending in ?token=…; a restart makes a new token unless FERRY_CONSOLE_TOKEN is set.\n",
    );
    for (const [method, path] of [
      ['GET', '/sandbox/assets/console.js'],
      ['GET', '/sandbox/state'],
      ['GET', '/sandbox/events'],
      ['POST', '/sandbox/command'],
      ['POST', '/sandbox/action'],
      ['POST', '/sandbox/message'],
      ['POST', '/sandbox/faults'],
    ] as const) {
      const res = await rawRequest('127.0.0.1', sandbox.port, path, {
        method,
        headers: { host: host(), 'content-type': 'application/json', cookie: `${cookieName}=not-it` },
        ...(method === 'POST' ? { body: JSON.stringify({ name: 'health-check', armed: true }) } : {}),
      });
      expect(res.status, `${method} ${path}`).toBe(401);
      expect(JSON.parse(res.body)).toMatchObject({ ok: false, error: expect.stringContaining('?token=') });
    }
    expect(sandbox.sandbox.faults.list().every((f) => !f.armed)).toBe(true);
  });

  it("refuses a wrong token in the address with 403, saying it is not this Ferry's", async () => {
    const res = await rawRequest('127.0.0.1', sandbox.port, '/?token=console-token-guessed', {
      headers: { host: host() },
    });
    expect(res.status).toBe(403);
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.body).toMatch(/^That is not this Ferry's console token\./);
  });

  it('turns the printed address into an HttpOnly, SameSite=Strict cookie, which then opens every route', async () => {
    const first = await rawRequest('127.0.0.1', sandbox.port, `/?token=${TOKEN}`, {
      headers: { host: host() },
    });
    expect(first.status).toBe(303);
    expect(first.headers.location).toBe('/');
    expect(first.headers['set-cookie']).toEqual([
      `${cookieName}=${TOKEN}; Path=/; HttpOnly; SameSite=Strict`,
    ]);
    const headers = { host: host(), cookie: `other=1; ${cookieName}=${TOKEN}` };
    const page = await rawRequest('127.0.0.1', sandbox.port, '/', { headers });
    expect(page.status).toBe(200);
    expect(page.body).toContain('/sandbox/assets/console.js');
    expect((await rawRequest('127.0.0.1', sandbox.port, '/sandbox/state', { headers })).status).toBe(200);
    const events = await rawRequest('127.0.0.1', sandbox.port, '/sandbox/events', { headers });
    expect(events.status).toBe(200);
    const armed = await rawRequest('127.0.0.1', sandbox.port, '/sandbox/faults', {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'health-check', armed: false }),
    });
    expect(armed.status).toBe(200);
  });

  it('takes the TCP peer, not the Host header, for this machine: another machine claiming localhost needs the token', async () => {
    const address = externalAddress();
    const forged = await rawRequest(address, sandbox.port, '/sandbox/state', { headers: { host: host() } });
    expect(forged.status).toBe(401);
    const withCookie = await rawRequest(address, sandbox.port, '/sandbox/state', {
      headers: { host: host(), cookie: `${cookieName}=${TOKEN}` },
    });
    expect(withCookie.status).toBe(200);
    // The Host check still stops DNS rebinding, token or not.
    const rebound = await rawRequest(address, sandbox.port, '/sandbox/state', {
      headers: { host: `${address}:${sandbox.port}`, cookie: `${cookieName}=${TOKEN}` },
    });
    expect(rebound.status).toBe(403);
  });

  it('prints the address with the token only when Ferry listens beyond loopback', () => {
    expect(sandboxBanner('127.0.0.1', TOKEN, 3000)).toBe('Ferry sandbox: http://localhost:3000\n');
    expect(sandboxBanner('::1', TOKEN, 3000)).toBe('Ferry sandbox: http://localhost:3000\n');
    for (const host of ['0.0.0.0', undefined, '192.0.2.7']) {
      const banner = sandboxBanner(host, TOKEN, 3000);
      expect(banner.split('\n')[0]).toBe(`Ferry sandbox: http://localhost:3000/?token=${TOKEN}`);
      expect(banner).toContain(
        `Ferry listens on ${host ?? 'every interface'}, beyond this machine's loopback`,
      );
    }
  });
});
