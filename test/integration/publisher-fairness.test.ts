import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { decide } from '../../src/engine/decide.ts';
import { Publisher, publisherClient } from '../../src/publisher/publisher.ts';
import { FakeSlack, type ListeningFakeSlack } from '../../src/sandbox/fake-slack.ts';
import type { RecordedCall } from '../../src/sandbox/fake-slack/types.ts';
import type { Database } from '../../src/store/db.ts';
import { pauseChannelPosts, takeChannelPost } from '../../src/store/post-budget.ts';
import { applyToRun } from '../../src/store/runs.ts';
import { Waker } from '../../src/store/wake.ts';
import { openTestDatabase, silentLog, startTestRun, useTestSchema } from '../support/db.ts';
import { stepSpec } from '../support/engine-fixtures.ts';

// Many runs in one channel share Slack's post limit there (about one a second, bursts of 4). The
// publisher spends each channel's posts from one bucket, kept in Postgres for every replica, so
// Slack never has to refuse one; each post goes to the run whose oldest waiting event is oldest,
// carrying all that run has waiting. Real Postgres; the fake Slack enforces Slack's real limits.

describe('many runs in one channel', () => {
  const pg = useTestSchema({ prefix: 'publisher_fairness' });
  const slack = new FakeSlack({ rateLimits: true });
  let server: ListeningFakeSlack;
  /** A second replica's own pool on the same schema. */
  let other: Database;
  const running: Publisher[] = [];

  beforeAll(async () => {
    server = await slack.listen();
    other = await openTestDatabase(pg.schema);
  });
  afterAll(async () => {
    for (const publisher of running) await publisher.stop(0);
    await other?.close();
    await server?.close();
  });

  const publisherOn = (db: Database, leaseMs?: number) =>
    new Publisher({
      db,
      client: publisherClient({ token: 'xoxb-test', apiUrl: server.apiUrl, log: silentLog }),
      waker: new Waker(),
      clock: systemClock,
      log: silentLog,
      minEditIntervalMs: 0,
      idlePollMs: 200,
      ...(leaseMs ? { leaseMs } : {}),
    });

  /** Starts a publisher's loop, stopped when the file ends. */
  const startOn = (db: Database) => {
    const publisher = publisherOn(db);
    publisher.start();
    running.push(publisher);
    return publisher;
  };

  async function startRuns(channel: string, count: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const { state } = await startTestRun(pg.db, {
        service: `${channel.toLowerCase()}-${i}`,
        steps: [stepSpec('manual', 'look')],
        channel,
      });
      ids.push(state.id);
    }
    return ids;
  }

  async function note(runId: string, at: number, text = 'checked'): Promise<void> {
    await applyToRun(pg.db, runId, at, (record) =>
      decide(record.state, { type: 'note', actor: { user: 'U01ALICE', groups: [] }, text }, at),
    );
  }

  /** Every timeline event of the runs has a reply in Slack. */
  async function allPosted(runIds: string[]): Promise<boolean> {
    const { rows } = await pg.db.pool.query<{ n: number }>(
      `select count(*)::int as n from timeline_events e where e.run_id = any($1) and not exists (
         select 1 from slack_messages m where m.run_id = e.run_id and m.kind = 'event' and m.key = e.seq::text)`,
      [runIds],
    );
    return rows[0]!.n === 0;
  }

  async function waitUntil(probe: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await probe())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  const postsTo = (channel: string): RecordedCall[] =>
    slack.callsTo('chat.postMessage').filter((c) => c.args.channel === channel);

  /** The run a post was for, from the metadata the publisher puts on every post. */
  const runOf = (call: RecordedCall): string => {
    const raw = call.args.metadata;
    const metadata = (typeof raw === 'string' ? JSON.parse(raw) : raw) as {
      event_payload: { run_id: string };
    };
    return metadata.event_payload.run_id;
  };

  it("takes a channel's last posts once when two replicas ask at the same instant, and keeps a pause", async () => {
    const rate = { perSecond: 1, burst: 3 };
    const asks = Array.from({ length: 8 }, (_, i) =>
      takeChannelPost(i % 2 === 0 ? pg.db : other, 'C0BUCKET', rate),
    );
    const answers = await Promise.all(asks);
    expect(answers.filter((a) => a.taken)).toHaveLength(3);
    // The ones refused learn when the next token comes: within the second, not at once.
    for (const refused of answers.filter((a) => !a.taken)) {
      expect(refused.retryInMs).toBeGreaterThan(500);
      expect(refused.retryInMs).toBeLessThanOrEqual(1_000);
    }
    // A 429 with Retry-After 5 s: no post for about five seconds, even from a lone run's burst.
    await pauseChannelPosts(pg.db, 'C0BUCKET', 5_000, rate);
    expect(await takeChannelPost(other, 'C0BUCKET', rate, true)).toEqual({ taken: true });
    const after = await takeChannelPost(pg.db, 'C0BUCKET', rate);
    expect(after.taken).toBe(false);
    if (!after.taken) expect(after.retryInMs).toBeGreaterThan(4_000);
  });

  it('gives each post to the run whose oldest waiting event is oldest, not to the oldest run', async () => {
    const channel = 'C0FAIRNESS';
    const [r1, r2, r3, r4] = await startRuns(channel, 4);
    // Their status messages and first events, by a publisher whose leases lapse at once: the
    // runs' leases must not decide the order below.
    const setup = publisherOn(pg.db, 10);
    for (const runId of [r1!, r2!, r3!, r4!]) await setup.publishRun(runId);
    const before = postsTo(channel).length;

    // Notes taken at different times, recorded in another order than the runs were started.
    const now = Date.now();
    await note(r3!, now - 40_000);
    await note(r1!, now - 30_000);
    await note(r4!, now - 20_000);
    await note(r2!, now - 10_000);
    startOn(pg.db);
    await waitUntil(() => allPosted([r1!, r2!, r3!, r4!]), 'every note in Slack', 30_000);

    const replies = postsTo(channel).slice(before);
    expect(replies.filter((c) => c.status === 200).map(runOf)).toEqual([r3, r1, r4, r2]);
    expect(replies.filter((c) => c.status === 429)).toEqual([]);
  });

  it('puts a run whose approval request waits ahead of older events, and posts the request in that turn', async () => {
    const channel = 'C0URGENT';
    // The earlier tests' publishers would publish these runs as they start: this one alone decides.
    for (const publisher of running.splice(0)) await publisher.stop(0);
    const waiting = await startRuns(channel, 2);
    const { state } = await startTestRun(pg.db, {
      service: 'c0urgent-asking',
      steps: [stepSpec('manual', 'look'), stepSpec('manual', 'switch', true)],
      channel,
    });
    const asking = state.id;
    const setup = publisherOn(pg.db, 10);
    for (const runId of [...waiting, asking]) await setup.publishRun(runId);
    const before = postsTo(channel).length;

    // The other runs' notes waited far longer than anything of the asking run, whose first step is
    // then done, so its second asks for an approval: the service is down until someone sees it.
    const now = Date.now();
    for (const [i, runId] of waiting.entries()) await note(runId, now - 40_000 + i * 1_000);
    await note(asking, now - 5_000, 'ready to switch');
    const actor = { user: 'U01ALICE', groups: [] };
    await applyToRun(pg.db, asking, now, (record) =>
      decide(record.state, { type: 'done', stepId: 'look', actor }, now),
    );
    startOn(pg.db);
    await waitUntil(() => allPosted([...waiting, asking]), 'every event of the three runs in Slack', 30_000);

    const replies = postsTo(channel).slice(before);
    expect(replies.filter((c) => c.status === 429)).toEqual([]);
    const answered = replies.filter((c) => c.status === 200);
    // The request first, carrying the events before it (one post, not two); then the others, oldest first.
    expect(answered.map(runOf)).toEqual([asking, ...waiting]);
    const request = JSON.stringify(answered[0]!.args.blocks);
    expect(request).toContain('ready to switch');
    expect(request.indexOf('ready to switch')).toBeLessThan(request.indexOf('needs approval'));
    expect(answered[0]!.args.text).toContain('needs approval');

    // Approved: the request's message is edited to say so, and keeps the events it carries.
    const ts = (
      await pg.db.pool.query<{ ts: string }>(
        `select ts from slack_messages where run_id = $1 and kind = 'approval'`,
        [asking],
      )
    ).rows[0]!.ts;
    const bob = { user: 'U02BOB', groups: [] };
    await applyToRun(pg.db, asking, Date.now(), (record) =>
      decide(record.state, { type: 'approve', stepId: 'switch', actor: bob }, Date.now()),
    );
    const edited = () =>
      slack
        .callsTo('chat.update')
        .filter((c) => c.args.ts === ts && JSON.stringify(c.args.blocks).includes('Approved by'));
    await waitUntil(
      () => Promise.resolve(edited().length > 0),
      'the request edited with its approval',
      10_000,
    );
    expect(JSON.stringify(edited()[0]!.args.blocks)).toContain('ready to switch');
  });

  it('shares the channel among runs started at once without Slack refusing a post, one reply each', async () => {
    const channel = 'C0CUTOVER';
    const runIds = await startRuns(channel, 6);
    // Three more events each while no publisher runs: all waiting together.
    const now = Date.now();
    for (const runId of runIds) for (let i = 0; i < 3; i++) await note(runId, now + i, `check ${i}`);
    startOn(pg.db);
    startOn(other); // a second replica spends the same channel bucket
    await waitUntil(() => allPosted(runIds), 'every event of the six runs in Slack', 60_000);

    const posts = postsTo(channel);
    expect(posts.filter((c) => c.status === 429)).toEqual([]);
    // Each run: its status message and one reply carrying all its waiting events.
    for (const runId of runIds) expect(posts.filter((c) => runOf(c) === runId)).toHaveLength(2);
    for (const runId of runIds) {
      const { rows } = await pg.db.pool.query<{ ts: string }>(
        `select distinct ts from slack_messages where run_id = $1 and kind = 'event'`,
        [runId],
      );
      expect(rows).toHaveLength(1);
    }
    // Fewer calls than events: each post carried all its run had waiting.
    const { rows } = await pg.db.pool.query<{ n: number }>(
      `select count(*)::int as n from timeline_events where run_id = any($1)`,
      [runIds],
    );
    expect(posts.length).toBeLessThan(rows[0]!.n);
  });
});
