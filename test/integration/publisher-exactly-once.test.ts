import { randomBytes } from 'node:crypto';
import { WebClient } from '@slack/web-api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { Publisher, publisherClient } from '../../src/publisher/publisher.ts';
import { FakeSlack, type ListeningFakeSlack, type SlackMessage } from '../../src/sandbox/fake-slack.ts';
import { saveProgress } from '../../src/store/attempts.ts';
import { decide } from '../../src/engine/decide.ts';
import { applyToRun, readTimeline } from '../../src/store/runs.ts';
import { Waker } from '../../src/store/wake.ts';
import { silentLog, startTestRun, useTestSchema } from '../support/db.ts';
import { stepSpec } from '../support/engine-fixtures.ts';

// Every post reaches Slack exactly once, whatever fails between Slack taking it and Postgres
// storing its ts: the database refusing that statement (an outage), the answer lost on the way
// back. The next pass finds the message by the key in its metadata and adopts it; a post Slack
// never got is posted once. Real Postgres (a trigger refuses the statement), Slack faked at the wire.

const CHANNEL = 'C0MIGRATIONS';

describe('the publisher posts each message exactly once', () => {
  const pg = useTestSchema({ prefix: 'publisher_once' });
  const slack = new FakeSlack({ rateLimits: false });
  let server: ListeningFakeSlack;
  let publisher: Publisher;

  beforeAll(async () => {
    server = await slack.listen();
  });
  afterAll(async () => {
    await server?.close();
  });

  beforeEach(async () => {
    await pg.db.pool.query(`drop trigger if exists refuse_once on slack_messages`);
    publisher = new Publisher({
      db: pg.db,
      client: publisherClient({ token: 'xoxb-test', apiUrl: server.apiUrl, log: silentLog }),
      waker: new Waker(),
      clock: systemClock,
      log: silentLog,
      minEditIntervalMs: 0,
      editsPerMinute: 100_000,
    });
  });

  /** Postgres refuses the next insert of a `kind` row into slack_messages, once: a real outage's error. */
  async function refuseStoringOnce(kind: string): Promise<void> {
    const seq = `refuse_${randomBytes(4).toString('hex')}`;
    // A sequence, not a row: nextval survives the rollback the refusal itself causes.
    await pg.db.pool.query(`create sequence ${seq}`);
    await pg.db.pool.query(`
      create or replace function refuse_once() returns trigger language plpgsql as $$
      begin
        if new.kind = '${kind}' and nextval('${seq}') = 1 then
          raise exception 'the database refused to store the ts (test)' using errcode = '57P01';
        end if;
        return new;
      end $$`);
    await pg.db.pool.query(`drop trigger if exists refuse_once on slack_messages`);
    await pg.db.pool.query(
      `create trigger refuse_once before insert on slack_messages for each row execute function refuse_once()`,
    );
  }

  let services = 0;
  /** A run of a service of its own: one active run per service and environment. */
  async function newRun(steps = [stepSpec('manual', 'watch')]): Promise<string> {
    services += 1;
    const { state } = await startTestRun(pg.db, { service: `svc${services}`, steps, channel: CHANNEL });
    return state.id;
  }

  /** The run's status messages in Slack (its metadata names the run). */
  const statusMessages = (runId: string): SlackMessage[] =>
    slack.messages(CHANNEL).filter((m) => m.metadata?.event_payload.run_id === runId);

  function thread(runId: string): SlackMessage[] {
    const [status] = statusMessages(runId);
    return status ? slack.thread(CHANNEL, status.ts).filter((m) => m.ts !== status.ts) : [];
  }

  async function stored(runId: string): Promise<Array<{ kind: string; key: string; ts: string }>> {
    const { rows } = await pg.db.pool.query<{ kind: string; key: string; ts: string }>(
      `select kind, key, ts from slack_messages where run_id = $1 order by kind, key`,
      [runId],
    );
    return rows;
  }

  async function intents(runId: string): Promise<string[]> {
    const { rows } = await pg.db.pool.query<{ key: string }>(
      `select key from slack_post_intents where run_id = $1 order by key`,
      [runId],
    );
    return rows.map((r) => r.key);
  }

  /** Each timeline event's seq is stored once, and every stored ts is a message the thread holds. */
  async function expectEveryEventOnce(runId: string): Promise<void> {
    const timeline = await readTimeline(pg.db, runId);
    const rows = await stored(runId);
    const events = rows.filter((r) => r.kind === 'event');
    expect(events.map((r) => Number(r.key)).sort((a, b) => a - b)).toEqual(timeline.map((e) => e.seq));
    const inThread = new Set(thread(runId).map((m) => m.ts));
    for (const row of events) expect(inThread, `event ${row.key}`).toContain(row.ts);
    // No reply without a reference: nothing posted twice.
    expect(new Set(events.map((r) => r.ts)).size).toBe(thread(runId).length);
  }

  const readsOfSlack = () =>
    slack.calls.filter((c) => c.method === 'conversations.history' || c.method === 'conversations.replies')
      .length;
  const posts = (runId: string) =>
    slack
      .callsTo('chat.postMessage')
      .filter(
        (c) =>
          (c.args.metadata as { event_payload?: { run_id?: string } } | undefined)?.event_payload?.run_id ===
          runId,
      );

  it('reads nothing from Slack on the normal path, and tags each post with its key', async () => {
    const runId = await newRun();
    const reads = readsOfSlack();
    await publisher.publishRun(runId);
    expect(readsOfSlack()).toBe(reads);
    expect(
      posts(runId).map((c) => (c.args.metadata as { event_payload: { key: string } }).event_payload.key),
    ).toEqual(['status', 'event:1', 'event:2']);
    expect(statusMessages(runId)).toHaveLength(1);
    expect(await intents(runId)).toEqual([]);
    await expectEveryEventOnce(runId);
  });

  it('adopts the status message Slack took when Postgres refused its ts, instead of posting another', async () => {
    const runId = await newRun();
    await refuseStoringOnce('status');
    await expect(publisher.publishRun(runId)).rejects.toThrow(/refused to store the ts/);
    expect(statusMessages(runId)).toHaveLength(1);
    expect(await intents(runId)).toEqual(['status']);

    await publisher.publishRun(runId);
    const [status] = statusMessages(runId);
    expect(statusMessages(runId)).toHaveLength(1);
    expect((await stored(runId)).find((r) => r.kind === 'status')?.ts).toBe(status!.ts);
    expect(slack.callsTo('conversations.history').at(-1)?.args).toMatchObject({
      channel: CHANNEL,
      include_all_metadata: 'true',
    });
    expect(await intents(runId)).toEqual([]);
    await expectEveryEventOnce(runId);
  });

  it('adopts a thread reply Slack took when Postgres refused its ts', async () => {
    const runId = await newRun();
    await refuseStoringOnce('event');
    await expect(publisher.publishRun(runId)).rejects.toThrow(/refused to store the ts/);
    expect(thread(runId)).toHaveLength(1);
    expect(await intents(runId)).toEqual(['event:1']);

    await publisher.publishRun(runId);
    expect(slack.callsTo('conversations.replies').at(-1)?.args).toMatchObject({
      channel: CHANNEL,
      ts: statusMessages(runId)[0]!.ts,
      include_all_metadata: 'true',
    });
    expect(await intents(runId)).toEqual([]);
    await expectEveryEventOnce(runId);
  });

  it('adopts an approval request Slack took, and still closes it when the step is decided', async () => {
    const runId = await newRun([stepSpec('manual', 'cutover', true)]);
    await refuseStoringOnce('approval');
    await expect(publisher.publishRun(runId)).rejects.toThrow(/refused to store the ts/);
    await publisher.publishRun(runId);
    const requests = thread(runId).filter((m) => /approv/i.test(m.text));
    expect(requests).toHaveLength(1);
    const approval = (await stored(runId)).find((r) => r.kind === 'approval');
    expect(approval?.ts).toBe(requests[0]!.ts);
    expect(await intents(runId)).toEqual([]);

    const now = Date.now();
    await applyToRun(pg.db, runId, now, (record) =>
      decide(record.state, { type: 'abort', actor: { user: 'U01ALICE', groups: [] } }, now),
    );
    await publisher.publishRun(runId);
    expect(slack.message(CHANNEL, approval!.ts)?.edited).toBeDefined();
    expect(thread(runId).filter((m) => m.ts === approval!.ts || /approv/i.test(m.text))).toHaveLength(1);
    await expectEveryEventOnce(runId);
  });

  it('adopts a progress message Slack took when Postgres refused its ts', async () => {
    const runId = await newRun([stepSpec('manual', 'watch')]);
    await publisher.publishRun(runId);
    await saveProgress(pg.db, runId, 'watch', { text: '12 of 40 jobs left', fraction: 0.7 });
    await refuseStoringOnce('progress');
    await expect(publisher.publishRun(runId)).rejects.toThrow(/refused to store the ts/);
    await publisher.publishRun(runId);
    const progress = thread(runId).filter((m) => m.text.includes('12 of 40 jobs left'));
    expect(progress).toHaveLength(1);
    expect((await stored(runId)).find((r) => r.kind === 'progress')?.ts).toBe(progress[0]!.ts);
    expect(await intents(runId)).toEqual([]);
  });

  it('makes no second call when the answer to a post is lost, and adopts the message on the next pass', async () => {
    for (const lost of [{ status: 502 }, { dropConnection: true }]) {
      const runId = await newRun();
      slack.failNext('chat.postMessage', { ...lost, afterEffect: true });
      await expect(publisher.publishRun(runId)).rejects.toThrow();
      expect(posts(runId), JSON.stringify(lost)).toHaveLength(1);
      expect(statusMessages(runId)).toHaveLength(1);

      await publisher.publishRun(runId);
      expect(statusMessages(runId), JSON.stringify(lost)).toHaveLength(1);
      expect(await intents(runId)).toEqual([]);
      await expectEveryEventOnce(runId);
    }
  });

  it('posts once a message whose post never reached Slack', async () => {
    const runId = await newRun();
    // A 500 before Slack did anything: to Ferry this looks just like a lost answer.
    slack.failNext('chat.postMessage', { status: 500 });
    await expect(publisher.publishRun(runId)).rejects.toThrow();
    expect(statusMessages(runId)).toHaveLength(0);
    expect(await intents(runId)).toEqual(['status']);

    const reads = slack.callsTo('conversations.history').length;
    await publisher.publishRun(runId);
    expect(slack.callsTo('conversations.history').length).toBe(reads + 1);
    expect(statusMessages(runId)).toHaveLength(1);
    expect(await intents(runId)).toEqual([]);
    await expectEveryEventOnce(runId);
  });

  it('forgets at once a post Slack refused, without looking for it', async () => {
    const runId = await newRun();
    slack.failNext('chat.postMessage', { error: 'internal_error' });
    await expect(publisher.publishRun(runId)).rejects.toThrow(/internal_error/);
    expect(await intents(runId)).toEqual([]);
    const reads = readsOfSlack();
    await publisher.publishRun(runId);
    expect(readsOfSlack()).toBe(reads);
    expect(statusMessages(runId)).toHaveLength(1);
    await expectEveryEventOnce(runId);
  });

  it('waits out a 429 and posts once', async () => {
    const runId = await newRun();
    slack.failNext('chat.postMessage', { retryAfter: 1 });
    await publisher.publishRun(runId);
    expect(posts(runId).filter((c) => c.status === 429)).toHaveLength(1);
    expect(statusMessages(runId)).toHaveLength(1);
    await expectEveryEventOnce(runId);
  });

  it('posts again, rather than stall the thread, when Slack will not let it look (not_in_channel)', async () => {
    const runId = await newRun();
    slack.failNext('chat.postMessage', { status: 500 });
    await expect(publisher.publishRun(runId)).rejects.toThrow();
    slack.failNext('conversations.history', { error: 'not_in_channel' });
    await publisher.publishRun(runId);
    expect(statusMessages(runId)).toHaveLength(1);
    expect(await intents(runId)).toEqual([]);
    await expectEveryEventOnce(runId);
  });

  it('leaves the intent when looking in Slack fails, and posts nothing until it can look', async () => {
    const runId = await newRun();
    await refuseStoringOnce('status');
    await expect(publisher.publishRun(runId)).rejects.toThrow(/refused to store the ts/);
    slack.failNext('conversations.history', { status: 503 });
    await expect(publisher.publishRun(runId)).rejects.toThrow();
    expect(await intents(runId)).toEqual(['status']);
    await publisher.publishRun(runId);
    expect(statusMessages(runId)).toHaveLength(1);
    expect(await intents(runId)).toEqual([]);
  });
});

describe('the fake Slack returns message metadata as Slack does', () => {
  const slack = new FakeSlack({ rateLimits: false });
  let server: ListeningFakeSlack;
  beforeAll(async () => {
    server = await slack.listen();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('from conversations.history and replies only with include_all_metadata', async () => {
    const client = new WebClient('xoxb-test', { slackApiUrl: server.apiUrl, retryConfig: { retries: 0 } });
    const metadata = { event_type: 'ferry_run', event_payload: { run_id: 'r1', key: 'status' } };
    const parent = await client.chat.postMessage({ channel: CHANNEL, text: 'status', metadata });
    await client.chat.postMessage({ channel: CHANNEL, text: 'reply', thread_ts: parent.ts!, metadata });

    const plain = await client.conversations.history({ channel: CHANNEL });
    expect(plain.messages?.[0]?.metadata).toBeUndefined();
    const withMetadata = await client.conversations.history({ channel: CHANNEL, include_all_metadata: true });
    expect(withMetadata.messages?.[0]?.metadata).toEqual(metadata);

    const replies = await client.conversations.replies({ channel: CHANNEL, ts: parent.ts! });
    expect(replies.messages?.map((m) => m.metadata)).toEqual([undefined, undefined]);
    const repliesWith = await client.conversations.replies({
      channel: CHANNEL,
      ts: parent.ts!,
      include_all_metadata: true,
    });
    expect(repliesWith.messages?.map((m) => m.metadata)).toEqual([metadata, metadata]);
  });
});
