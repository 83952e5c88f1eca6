import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionId } from '../../src/slack/action-ids.ts';
import { FakeSlack } from '../../src/sandbox/fake-slack.ts';
import {
  buildBlockActionPayload,
  newTriggerId,
  sendBlockAction,
  sendSlashCommand,
} from '../../src/sandbox/signed-request.ts';
import { ALICE, BOB, CHANNEL, findButton, hasButton, PG_URL, readable } from '../support/ferry-harness.ts';

// Ferry is killed with SIGKILL (no shutdown code runs) while a step's change is in flight and
// while an approval waits; a new process must finish the run with each change made once and every
// timeline event recorded and posted.

/** A maintenance endpoint that can swallow a PUT after applying it: the change lands, the answer never comes. */
class ToggleServer {
  enabled = false;
  transitions = 0;
  puts = 0;
  hangNextPut = false;
  onHang: (() => void) | undefined;
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.method === 'PUT') {
          this.puts += 1;
          const enabled = (JSON.parse(body) as { enabled: boolean }).enabled;
          if (enabled !== this.enabled) this.transitions += 1;
          this.enabled = enabled;
          if (this.hangNextPut) {
            this.hangNextPut = false;
            this.onHang?.();
            return; // never answer
          }
        }
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ enabled: this.enabled }));
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((r) => this.server!.close(() => r()));
  }
}

const plan = `
service: billing
approvers: { users: [U02BOB] }
environments:
  staging:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on, provider: { type: http, url: "\${TOGGLE_URL}/maintenance" } }
      - { id: cutover, kind: flag, action: on, approval: required, provider: { type: http, url: "\${TOGGLE_URL}/cutover" } }
      - { id: maintenance-off, kind: maintenance, action: off, provider: { type: http, url: "\${TOGGLE_URL}/maintenance" } }
`;

describe('a crash at any instant resumes where it stopped', () => {
  const schema = `crash_${randomBytes(4).toString('hex')}`;
  const secret = randomBytes(16).toString('hex');
  const slack = new FakeSlack({
    rateLimits: false,
    users: [
      { id: ALICE, name: 'alice' },
      { id: BOB, name: 'bob' },
    ],
  });
  const maintenance = new ToggleServer();
  const cutover = new ToggleServer();
  let slackUrl: { apiUrl: string; close(): Promise<void> };
  let env: Record<string, string>;
  let ferry: { child: ChildProcess; url: string } | undefined;

  // One server answers both toggles by path, each with its own state.
  let toggles: Server;

  beforeAll(async () => {
    slackUrl = await slack.listen();
    const mUrl = await maintenance.start();
    const cUrl = await cutover.start();
    toggles = createServer((req, res) => {
      const target = req.url?.startsWith('/cutover') ? cUrl : mUrl;
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        fetch(target, {
          method: req.method,
          body: req.method === 'PUT' ? Buffer.concat(chunks) : undefined,
          headers: { 'content-type': 'application/json' },
        })
          .then(async (r) =>
            res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text()),
          )
          .catch(() => res.destroy());
      });
    });
    await new Promise<void>((r) => toggles.listen(0, '127.0.0.1', r));
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-crash-'));
    await writeFile(path.join(dir, 'billing.yml'), plan);
    env = {
      PATH: process.env.PATH ?? '',
      SLACK_BOT_TOKEN: 'xoxb-crash',
      SLACK_SIGNING_SECRET: secret,
      SLACK_API_URL: slackUrl.apiUrl,
      DATABASE_URL: PG_URL,
      FERRY_DB_SCHEMA: schema,
      FERRY_PLANS: dir,
      FERRY_LEASE_SECONDS: '5',
      FERRY_SLACK_MIN_EDIT_INTERVAL_MS: '0',
      FERRY_SLACK_EDITS_PER_MINUTE: '100000',
      FERRY_HTTP_TIMEOUT_MS: '60000',
      PORT: '0',
      LOG_LEVEL: 'info',
      TOGGLE_URL: `http://127.0.0.1:${(toggles.address() as AddressInfo).port}`,
    };
  });

  afterAll(async () => {
    // Every Ferry this file started, not only the last: one left running would outlive the suite.
    for (const child of children) child.kill('SIGKILL');
    await slackUrl?.close();
    await maintenance.stop();
    await cutover.stop();
    toggles?.closeAllConnections();
    await new Promise((r) => toggles?.close(r));
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  });

  const children = new Set<ChildProcess>();

  async function startFerryProcess(): Promise<{ child: ChildProcess; url: string }> {
    const child = spawn(process.execPath, ['src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    child.once('exit', () => children.delete(child));
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`Ferry did not start:\n${out}`)), 15_000);
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const port = /listening on port (\d+)/.exec(out)?.[1];
        if (port) {
          clearTimeout(timer);
          resolve(`http://127.0.0.1:${port}`);
        }
      });
      child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
      if (process.env.FERRY_TEST_LOG) child.stdout.on('data', (c: Buffer) => process.stderr.write(c));
      child.on('exit', (code) => reject(new Error(`Ferry exited with ${code}:\n${out}`)));
    });
    return { child, url };
  }

  async function kill(): Promise<void> {
    const exited = new Promise((r) => ferry!.child.once('exit', r));
    ferry!.child.kill('SIGKILL');
    await exited;
  }

  const statusMessage = () =>
    slack
      .messages(CHANNEL)
      .filter((m) => !m.thread_ts || m.thread_ts === m.ts)
      .at(-1);
  const thread = () => {
    const status = statusMessage();
    return status ? slack.thread(CHANNEL, status.ts).filter((m) => m.ts !== status.ts) : [];
  };
  async function until<T>(probe: () => T | undefined | false, what: string, ms = 20_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = probe();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  it('finishes the run after being killed mid-step and mid-approval, each change made once', async () => {
    ferry = await startFerryProcess();
    const hung = new Promise<void>((r) => (maintenance.onHang = r));
    maintenance.hangNextPut = true;
    await sendSlashCommand(ferry.url, secret, {
      command: '/migrate',
      text: 'start billing staging',
      user_id: ALICE,
      user_name: 'alice',
      channel_id: CHANNEL,
      team_id: 'T0FERRY',
      response_url: slack.responseUrlFor({ channel: CHANNEL, user: ALICE }),
      trigger_id: newTriggerId(),
    });
    await hung; // the change reached the system; its answer never will
    await kill();

    ferry = await startFerryProcess();
    const approval = await until(
      () => thread().find((t) => hasButton(t, ActionId.approve)),
      'the approval request after restart',
    );
    expect(maintenance.enabled).toBe(true);
    expect(maintenance.transitions).toBe(1);

    await kill(); // while the approval waits
    ferry = await startFerryProcess();
    const button = findButton(approval, ActionId.approve);
    await sendBlockAction(
      ferry.url,
      secret,
      buildBlockActionPayload({
        user: BOB,
        channel: CHANNEL,
        message: { ts: approval.ts, blocks: approval.blocks, text: approval.text },
        action: { action_id: ActionId.approve, block_id: button.blockId, value: button.value },
        response_url: slack.responseUrlFor({ channel: CHANNEL, user: BOB, messageTs: approval.ts }),
      }),
    );
    await until(() => readable(statusMessage()).includes('All 3 steps done'), 'the run to finish');

    expect(maintenance.enabled).toBe(false);
    expect(maintenance.transitions).toBe(2); // on once, off once, whatever the replays
    expect(cutover.transitions).toBe(1);
    expect(cutover.puts).toBe(1);

    const db = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
    await db.connect();
    const { rows } = await db.query<{ seq: number; type: string }>(
      `select seq, type from timeline_events order by seq`,
    );
    await db.end();
    expect(rows.map((r) => r.seq)).toEqual(rows.map((_, i) => i + 1));
    expect(rows.map((r) => r.type)).toEqual([
      'run_started',
      'step_started',
      'step_succeeded',
      'approval_requested',
      'approved',
      'step_started',
      'step_succeeded',
      'step_started',
      'step_succeeded',
      'run_succeeded',
    ]);
    // Every event reached the thread, in order, even those recorded while Ferry was down.
    await until(() => thread().map(readable).join('\n').includes('run succeeded'), 'the last event in Slack');
    const text = thread().map(readable).join('\n');
    const order = [
      'run started',
      '`maintenance-on` succeeded',
      '`cutover` approved by',
      '`maintenance-off` succeeded',
      'run succeeded',
    ];
    const positions = order.map((line) => text.indexOf(line));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
  });

  it('moves the thread on within seconds of a restart, not after the 30 s step lease', async () => {
    // The default step lease: the publisher's own lease is short and apart from it.
    env = { ...env, FERRY_LEASE_SECONDS: '30' };
    ferry = await startFerryProcess();
    const before = slack.messages(CHANNEL).length;
    await sendSlashCommand(ferry.url, secret, {
      command: '/migrate',
      text: 'start billing staging',
      user_id: ALICE,
      user_name: 'alice',
      channel_id: CHANNEL,
      team_id: 'T0FERRY',
      response_url: slack.responseUrlFor({ channel: CHANNEL, user: ALICE }),
      trigger_id: newTriggerId(),
    });
    await until(() => slack.messages(CHANNEL).length > before, "the second run's status message");
    const approval = await until(
      () => thread().find((t) => hasButton(t, ActionId.approve)),
      'the approval request',
    );
    await kill(); // while the approval waits, holding the run's publisher lease
    ferry = await startFerryProcess();
    const button = findButton(approval, ActionId.approve);
    await sendBlockAction(
      ferry.url,
      secret,
      buildBlockActionPayload({
        user: BOB,
        channel: CHANNEL,
        message: { ts: approval.ts, blocks: approval.blocks, text: approval.text },
        action: { action_id: ActionId.approve, block_id: button.blockId, value: button.value },
        response_url: slack.responseUrlFor({ channel: CHANNEL, user: BOB, messageTs: approval.ts }),
      }),
    );
    // A ceiling far below the step lease: the killed process's publisher lease lapses in seconds.
    await until(
      () => thread().map(readable).join('\n').includes('`cutover` approved by'),
      'the approval to reach the thread',
      10_000,
    );
    await until(() => readable(statusMessage()).includes('All 3 steps done'), 'the run to finish');
  });
});
