import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Waker } from '../../src/store/wake.ts';
import { firstDelivery, pruneDeliveries } from '../../src/store/runs.ts';
import { createTestSchema, TEST_DATABASE_URL, type TestSchema } from '../support/db.ts';

describe('LISTEN/NOTIFY wake-ups and delivery bookkeeping', () => {
  let t: TestSchema;
  beforeAll(async () => {
    t = await createTestSchema({ prefix: 'wake' });
  });
  afterAll(async () => {
    await t?.dispose();
  });

  it('wakes on a NOTIFY from another connection, and again after its LISTEN connection was killed', async () => {
    const waker = new Waker();
    await waker.listen(TEST_DATABASE_URL, pino({ level: 'silent' }));
    const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await admin.connect();
    try {
      const stop = new AbortController();
      const woke = async () => {
        const started = Date.now();
        const waiting = waker.wait('publish', 10_000, stop.signal);
        await admin.query(`select pg_notify('ferry_publish', '')`);
        await waiting;
        return Date.now() - started < 9_000;
      };
      expect(await woke()).toBe(true);

      // Only this waker's connection: other tests' Ferry processes listen on the same server.
      await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and pid <> pg_backend_pid()`,
        [waker.applicationName],
      );
      // The reconnect comes back within its first backoff step (1 s).
      let listening = 0;
      for (let i = 0; i < 50 && listening === 0; i++) {
        await new Promise((r) => setTimeout(r, 100));
        const { rows } = await admin.query(
          `select count(*)::int as n from pg_stat_activity where application_name = $1 and query like 'listen%'`,
          [waker.applicationName],
        );
        listening = (rows[0] as { n: number }).n;
      }
      expect(listening).toBe(1);
      // The loss itself woke waiters (work may have been missed meanwhile): take that wake-up first,
      // so the next one can only come from the new connection.
      await waker.wait('publish', 0, stop.signal);
      expect(await woke()).toBe(true);
    } finally {
      await admin.end();
      await waker.close();
    }
  });

  it('forgets Slack deliveries older than the bound, and keeps the recent ones', async () => {
    expect(await firstDelivery(t.db, 'trigger:old')).toBe(true);
    expect(await firstDelivery(t.db, 'trigger:new')).toBe(true);
    await t.db.pool.query(
      `update slack_deliveries set received_at = now() - interval '2 days' where key = 'trigger:old'`,
    );
    expect(await pruneDeliveries(t.db, 24 * 3_600_000)).toBe(1);
    expect(await firstDelivery(t.db, 'trigger:new')).toBe(false);
    expect(await firstDelivery(t.db, 'trigger:old')).toBe(true);
  });
});
