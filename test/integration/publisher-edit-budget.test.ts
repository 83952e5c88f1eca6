import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { decide } from '../../src/engine/decide.ts';
import { Publisher, publisherClient } from '../../src/publisher/publisher.ts';
import { FakeSlack, type ListeningFakeSlack } from '../../src/sandbox/fake-slack.ts';
import type { Database } from '../../src/store/db.ts';
import { takeSlackEdit } from '../../src/store/edit-budget.ts';
import { applyToRun } from '../../src/store/runs.ts';
import { Waker } from '../../src/store/wake.ts';
import { openTestDatabase, silentLog, startTestRun, useTestSchema } from '../support/db.ts';
import { stepSpec } from '../support/engine-fixtures.ts';

// Slack's chat.update budget (about 50 a minute) is the workspace's, however many Ferry processes
// publish: two publishers, each with its own connection pool as two replicas have, spend one budget
// kept in Postgres. Real Postgres, Slack faked at the wire.

const CHANNEL = 'C0MIGRATIONS';
const PER_MINUTE = 5;

describe("the publishers of two replicas share Slack's edit budget", () => {
  const pg = useTestSchema({ prefix: 'edit_budget' });
  const slack = new FakeSlack({ rateLimits: false });
  let server: ListeningFakeSlack;
  /** The second replica's own pool on the same schema. */
  let other: Database;

  beforeAll(async () => {
    server = await slack.listen();
    other = await openTestDatabase(pg.schema);
  });
  afterAll(async () => {
    await other?.close();
    await server?.close();
  });

  const publisherOn = (db: Database) =>
    new Publisher({
      db,
      client: publisherClient({ token: 'xoxb-test', apiUrl: server.apiUrl, log: silentLog }),
      waker: new Waker(),
      clock: systemClock,
      log: silentLog,
      minEditIntervalMs: 0,
      editsPerMinute: PER_MINUTE,
      // Short, so the second replica may publish the runs the first one touched a moment ago.
      leaseMs: 50,
    });

  /** A note on the run: a new version its status message must show. */
  async function note(runId: string): Promise<void> {
    const now = Date.now();
    await applyToRun(pg.db, runId, now, (record) =>
      decide(record.state, { type: 'note', actor: { user: 'U01ALICE', groups: [] }, text: 'checked' }, now),
    );
  }

  it('takes the last edits of a minute once, when both ask at the same instant', async () => {
    await pg.db.pool.query(`update slack_edit_budget set spent = '{}'`);
    const asks = Array.from({ length: 2 * PER_MINUTE }, (_, i) =>
      takeSlackEdit(i % 2 === 0 ? pg.db : other, PER_MINUTE),
    );
    const answers = await Promise.all(asks);
    expect(answers.filter((a) => a.taken)).toHaveLength(PER_MINUTE);
    // The ones refused learn when the oldest edit leaves the minute, not sooner than now.
    for (const refused of answers.filter((a) => !a.taken)) expect(refused.retryInMs).toBeGreaterThan(50_000);
  });

  it('leaves the second replica no edits once the first spent the budget', async () => {
    await pg.db.pool.query(`update slack_edit_budget set spent = '{}'`);
    const runIds: string[] = [];
    for (let i = 0; i < PER_MINUTE + 3; i++) {
      const { state } = await startTestRun(pg.db, {
        service: `svc${i}`,
        steps: [stepSpec('manual', 'watch')],
        channel: CHANNEL,
      });
      runIds.push(state.id);
    }
    const first = publisherOn(pg.db);
    const second = publisherOn(other);
    // Status messages are posts, not edits: every run gets its own.
    for (const runId of runIds) await first.publishRun(runId);
    expect(slack.callsTo('chat.update')).toHaveLength(0);

    for (const runId of runIds) await note(runId);
    const deferredByFirst: string[] = [];
    for (const runId of runIds) if (await first.publishRun(runId)) deferredByFirst.push(runId);
    expect(slack.callsTo('chat.update')).toHaveLength(PER_MINUTE);
    expect(deferredByFirst).toHaveLength(3);

    // A per-process budget would give the second replica five edits of its own here.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const deferredBySecond: string[] = [];
    for (const runId of deferredByFirst) if (await second.publishRun(runId)) deferredBySecond.push(runId);
    expect(deferredBySecond).toEqual(deferredByFirst);
    expect(slack.callsTo('chat.update')).toHaveLength(PER_MINUTE);

    // What the budget holds back stays due: those status messages are still behind their runs.
    const { rows } = await pg.db.pool.query<{ run_id: string }>(
      `select m.run_id from slack_messages m join runs r on r.id = m.run_id
        where m.kind = 'status' and m.rendered_version < r.version order by m.run_id`,
    );
    expect(rows.map((r) => r.run_id).sort()).toEqual([...deferredByFirst].sort());
  });
});
