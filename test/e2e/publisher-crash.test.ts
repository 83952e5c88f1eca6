import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeMaintenance } from '../../src/sandbox/fakes/maintenance.ts';
import { FakeSlack, type ListeningFakeSlack, type SlackMessage } from '../../src/sandbox/fake-slack.ts';
import type { ListeningFake } from '../../src/sandbox/fakes/fake-http.ts';
import {
  buildBlockActionPayload,
  newTriggerId,
  sendBlockAction,
  sendSlashCommand,
} from '../../src/sandbox/signed-request.ts';
import { ActionId } from '../../src/slack/action-ids.ts';
import { ALICE, BOB, CHANNEL, findButton, hasButton, PG_URL, readable } from '../support/ferry-harness.ts';

// Ferry is SIGKILLed around its Slack posts (FERRY_FAILPOINTS): after Slack took the status
// message, before a thread reply reached Slack, after Slack took a reply, after Slack took the
// approval request. Each time a new process must finish what the dead one started: adopt the
// message Slack holds (found by the key in its metadata), post the one Slack never got, and post
// nothing twice. At the end every message in the channel and thread is one Ferry has a reference
// to, and every timeline event is in the thread once.

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

describe('a crash around a Slack post', () => {
  const schema = `pubcrash_${randomBytes(4).toString('hex')}`;
  const secret = randomBytes(16).toString('hex');
  const slack = new FakeSlack({
    rateLimits: false,
    users: [
      { id: ALICE, name: 'alice' },
      { id: BOB, name: 'bob' },
    ],
  });
  const maintenance = new FakeMaintenance({ token: 'maint-secret' });
  let slackServer: ListeningFakeSlack;
  let maintenanceServer: ListeningFake;
  let env: Record<string, string>;
  let ferry:
    | {
        child: ChildProcess;
        url: string;
        output: () => string;
        /** Settles once the process exited and all it wrote was read ('exit' can come first). */
        closed: Promise<void>;
      }
    | undefined;

  beforeAll(async () => {
    slackServer = await slack.listen();
    maintenanceServer = await maintenance.listen();
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-pubcrash-'));
    await writeFile(path.join(dir, 'billing.yml'), plan);
    env = {
      PATH: process.env.PATH ?? '',
      SLACK_BOT_TOKEN: 'xoxb-pubcrash',
      SLACK_SIGNING_SECRET: secret,
      SLACK_API_URL: slackServer.apiUrl,
      DATABASE_URL: PG_URL,
      FERRY_DB_SCHEMA: schema,
      FERRY_PLANS: dir,
      FERRY_LEASE_SECONDS: '5',
      FERRY_SLACK_MIN_EDIT_INTERVAL_MS: '0',
      FERRY_SLACK_EDITS_PER_MINUTE: '100000',
      PORT: '0',
      LOG_LEVEL: 'info',
      MAINT_URL: `${maintenanceServer.url}${maintenance.pathFor('billing')}`,
      MAINT_TOKEN: 'maint-secret',
    };
  });

  afterAll(async () => {
    ferry?.child.kill('SIGKILL');
    await slackServer?.close();
    await maintenanceServer?.close();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  });

  /** Starts Ferry as a child process, armed to kill itself at `failpoints`. */
  async function startFerryProcess(failpoints?: string): Promise<NonNullable<typeof ferry>> {
    const child = spawn(process.execPath, ['src/main.ts'], {
      env: { ...env, ...(failpoints ? { FERRY_FAILPOINTS: failpoints } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    if (process.env.FERRY_TEST_LOG) child.stdout.on('data', (c: Buffer) => process.stderr.write(c));
    const url = await new Promise<string>((resolve, reject) => {
      // A ceiling for a loaded two-core machine (migrations wait on other test files' schemas).
      const timer = setTimeout(() => reject(new Error(`Ferry did not start:\n${out}`)), 30_000);
      const look = () => {
        const port = /listening on port (\d+)/.exec(out)?.[1];
        if (port) {
          clearTimeout(timer);
          child.stdout.off('data', look);
          resolve(`http://127.0.0.1:${port}`);
        }
      };
      child.stdout.on('data', look);
      child.once('exit', (code) => reject(new Error(`Ferry exited with ${code} before listening:\n${out}`)));
    });
    return { child, url, output: () => out, closed };
  }

  /** Waits for the armed process to reach its failpoint and die there. */
  async function diesAt(failpoint: string): Promise<void> {
    const current = ferry!;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      current.closed,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`Ferry never reached ${failpoint}:\n${current.output()}`)),
          40_000,
        );
      }),
    ]);
    clearTimeout(timer);
    expect(current.output()).toContain(`failpoint ${failpoint} reached: SIGKILL`);
  }

  const statusMessages = (): SlackMessage[] =>
    slack.messages(CHANNEL).filter((m) => !m.thread_ts || m.thread_ts === m.ts);
  const thread = (): SlackMessage[] => {
    const [status] = statusMessages();
    return status ? slack.thread(CHANNEL, status.ts).filter((m) => m.ts !== status.ts) : [];
  };
  async function until<T>(probe: () => T | undefined | false, what: string, ms = 30_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = probe();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${ferry?.output() ?? ''}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  // Its own ceiling: five processes start (each may take seconds on a loaded machine), and each
  // kill leaves a publisher lease (3 s) and maybe a step lease (5 s) to lapse before the next moves on.
  it(
    'adopts what Slack took and posts what it never got, so the run ends with each message once',
    {
      timeout: 120_000,
    },
    async () => {
      ferry = await startFerryProcess('post.after:status');
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
      await diesAt('post.after:status'); // Slack has the status message; Postgres has no ts for it
      expect(statusMessages()).toHaveLength(1);

      ferry = await startFerryProcess('post.before:event');
      await diesAt('post.before:event'); // the reply's intent is recorded; Slack never got it
      expect(statusMessages()).toHaveLength(1); // adopted, not posted again
      expect(thread()).toHaveLength(0);
      ferry = await startFerryProcess('post.after:event');
      await diesAt('post.after:event'); // Slack has the reply; Postgres has no ts for it
      expect(statusMessages()).toHaveLength(1);
      expect(thread()).toHaveLength(1);
      ferry = await startFerryProcess('post.after:approval');
      await diesAt('post.after:approval'); // Slack has the approval request; Postgres has no ts for it
      expect(statusMessages()).toHaveLength(1);
      expect(thread().filter((m) => hasButton(m, ActionId.approve))).toHaveLength(1);

      ferry = await startFerryProcess();
      const approval = await until(
        () => thread().find((t) => hasButton(t, ActionId.approve)),
        'the approval request',
      );
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
      await until(() => readable(statusMessages()[0]).includes('All 3 steps done'), 'the run to finish');
      await until(
        () => thread().map(readable).join('\n').includes('run succeeded'),
        'the last event in Slack',
      );

      const db = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
      await db.connect();
      try {
        // The publisher may still be storing the last reply's ts: wait until nothing is in flight.
        const deadline = Date.now() + 10_000;
        let refs: Array<{ kind: string; key: string; ts: string }> = [];
        let timeline: number[] = [];
        for (;;) {
          const intents = await db.query(`select key from slack_post_intents`);
          refs = (
            await db.query<{ kind: string; key: string; ts: string }>(
              `select kind, key, ts from slack_messages`,
            )
          ).rows;
          timeline = (
            await db.query<{ seq: number }>(`select seq from timeline_events order by seq`)
          ).rows.map((r) => r.seq);
          const events = refs.filter((r) => r.kind === 'event').length;
          if (intents.rowCount === 0 && events === timeline.length) break;
          if (Date.now() > deadline)
            throw new Error(`posts still unresolved: ${JSON.stringify(intents.rows)}`);
          await new Promise((r) => setTimeout(r, 50));
        }

        expect(statusMessages()).toHaveLength(1);
        expect(refs.find((r) => r.kind === 'status')?.ts).toBe(statusMessages()[0]!.ts);
        // Each event once; every reply in the thread is one Ferry holds a reference to (none twice).
        const eventSeqs = refs.filter((r) => r.kind === 'event').map((r) => Number(r.key));
        expect(eventSeqs.sort((a, b) => a - b)).toEqual(timeline);
        const referenced = new Set(refs.filter((r) => r.kind !== 'status').map((r) => r.ts));
        expect(new Set(thread().map((m) => m.ts))).toEqual(referenced);
        expect(refs.filter((r) => r.kind === 'approval')).toHaveLength(1);
        // Only the interrupted posts were looked for in Slack.
        expect(slack.callsTo('conversations.history').length).toBeGreaterThanOrEqual(1);
        expect(slack.callsTo('conversations.replies').length).toBeGreaterThanOrEqual(2);
      } finally {
        await db.end();
      }
      expect(maintenance.state('billing').enabled).toBe(false);
    },
  );
});
