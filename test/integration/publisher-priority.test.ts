import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.ts';
import { decide } from '../../src/engine/decide.ts';
import { Publisher, publisherClient } from '../../src/publisher/publisher.ts';
import { FakeSlack, type ListeningFakeSlack } from '../../src/sandbox/fake-slack.ts';
import { saveProgress } from '../../src/store/attempts.ts';
import { applyToRun, readRun } from '../../src/store/runs.ts';
import { Waker } from '../../src/store/wake.ts';
import { silentLog, startTestRun, useTestSchema } from '../support/db.ts';
import { stepSpec } from '../support/engine-fixtures.ts';

// Live figures (a drain's count, a watch's samples) change every second, and Slack allows about 50
// edits a minute: they must never take the edits a change needs. A step that ends, a Done button
// that appears, gets its edit while the figures wait. Real Postgres, Slack faked at the wire.

const PER_MINUTE = 8;

describe('the edit budget puts changes before live figures', () => {
  const pg = useTestSchema({ prefix: 'edit_priority' });
  const slack = new FakeSlack({ rateLimits: false });
  let server: ListeningFakeSlack;
  beforeAll(async () => {
    server = await slack.listen();
  });
  afterAll(async () => {
    await server?.close();
  });

  it('keeps the last quarter of the minute for changes, however busy the live figures are', async () => {
    await pg.db.pool.query(`update slack_edit_budget set spent = '{}'`);
    const publisher = new Publisher({
      db: pg.db,
      client: publisherClient({ token: 'xoxb-test', apiUrl: server.apiUrl, log: silentLog }),
      waker: new Waker(),
      clock: systemClock,
      log: silentLog,
      minEditIntervalMs: 0,
      editsPerMinute: PER_MINUTE,
    });
    const { state } = await startTestRun(pg.db, {
      steps: [stepSpec('drain', 'drain'), stepSpec('manual', 'look')],
    });
    await saveProgress(pg.db, state.id, 'drain', { text: '196 jobs left', fraction: 0 });
    await publisher.publishRun(state.id); // the status message and the progress reply: posts, not edits

    // The queue drains, a figure a second: each edits the status message and the progress reply.
    for (let left = 195; left > 150; left--) {
      await saveProgress(pg.db, state.id, 'drain', { text: `${left} jobs left`, fraction: 0.1 });
      await publisher.publishRun(state.id);
    }
    const liveEdits = slack.callsTo('chat.update').length;
    // The first edit of the status message may be a change (this publisher had not shown it yet);
    // every later one, and every edit of the progress reply, is live: 6 of the 8.
    expect(liveEdits).toBe(PER_MINUTE - PER_MINUTE / 4);

    // The drain ends: the manual step waits for Done. That change gets its edit at once.
    const now = Date.now();
    await applyToRun(pg.db, state.id, now, (record) =>
      decide(
        record.state,
        { type: 'step_succeeded', stepId: 'drain', attempt: 1, direction: 'do', summary: 'drained' },
        now,
      ),
    );
    expect((await readRun(pg.db, state.id))!.state.steps[1]).toMatchObject({ status: 'running' });
    await publisher.publishRun(state.id);
    const edits = slack.callsTo('chat.update');
    expect(edits.length).toBeGreaterThan(liveEdits);
    const status = edits.find((e, i) => i >= liveEdits && JSON.stringify(e).includes('ferry_done'));
    expect(status, 'the status message showing Done').toBeDefined();
  });
});
