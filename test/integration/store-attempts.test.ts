import { describe, expect, it } from 'vitest';
import {
  claimDueAttempts,
  closeAttempt,
  earlierCaptures,
  findCapture,
  nextDueAt,
  releaseAttempts,
  renewLease,
  saveCapture,
  saveProgress,
  type Attempt,
} from '../../src/store/attempts.ts';
import { readRun } from '../../src/store/runs.ts';
import { progressOf } from '../../src/store/slack-messages.ts';
import { startTestRun, useTestSchema } from '../support/db.ts';
import { stepSpec } from '../support/engine-fixtures.ts';

// Durable work against the real Postgres. Claimers only see this file's schema, so every attempt
// they find was made here; each test drains what it made before it ends.

const t = useTestSchema({ prefix: 'store_attempts' });
let serial = 0;

async function newRun(steps = [stepSpec('flag', 'flag')]) {
  const { state } = await startTestRun(t.db, { service: `svc-${++serial}`, steps });
  // The run's first attempt is due at once; tests below make their own, so set it aside.
  await t.db.pool.query(`update step_attempts set status = 'done' where run_id = $1`, [state.id]);
  return state.id;
}

async function addAttempt(
  runId: string,
  stepId: string,
  attempt: number,
  opts: { direction?: 'do' | 'undo'; notBefore?: string } = {},
): Promise<number> {
  // Due now as the engine writes it: Ferry's clock, in milliseconds. (The database's now() has
  // microseconds, and would be later than a claim's millisecond `now` taken in the same millisecond.)
  const { rows } = await t.db.pool.query<{ id: number }>(
    `insert into step_attempts (run_id, step_id, attempt, direction, status, not_before)
     values ($1, $2, $3, $4, 'due', ${opts.notBefore ?? '$5'}) returning id`,
    [runId, stepId, attempt, opts.direction ?? 'do', ...(opts.notBefore ? [] : [new Date()])],
  );
  return rows[0]!.id;
}

/** Claims one attempt by id, whatever its status, as an executor would (a fresh fencing token). */
async function claimById(id: number): Promise<{ id: number; claimId: number }> {
  const { rows } = await t.db.pool.query<{ claim_id: number }>(
    `update step_attempts set status = 'running', claim_id = nextval('step_claim_seq') where id = $1 returning claim_id`,
    [id],
  );
  return { id, claimId: rows[0]!.claim_id };
}

/** Commits a capture for an attempt the way the executor does: under a claim of its own. */
async function capture(id: number, captured: unknown): Promise<boolean> {
  const claim = await claimById(id);
  const saved = await saveCapture(t.db, claim, captured, null);
  await finish([id]);
  return saved;
}

async function finish(ids: readonly number[]): Promise<void> {
  await t.db.pool.query(`update step_attempts set status = 'done' where id = any($1)`, [ids]);
}

describe('claimDueAttempts', () => {
  it('claims a due attempt with a lease for its owner, and only once', async () => {
    const runId = await newRun();
    const id = await addAttempt(runId, 'flag', 2);
    const claimed = await claimDueAttempts(t.db, 'worker-a', 30_000, 10);
    expect(claimed).toEqual([
      {
        id,
        runId,
        stepId: 'flag',
        attempt: 2,
        direction: 'do',
        captured: null,
        hasCapture: false,
        claims: 1,
        claimId: expect.any(Number) as number,
      },
    ] satisfies Attempt[]);
    const { rows } = await t.db.pool.query(
      `select status, claimed_by, lease_until > now() + interval '25 seconds' as leased from step_attempts where id = $1`,
      [id],
    );
    expect(rows[0]).toEqual({ status: 'running', claimed_by: 'worker-a', leased: true });
    expect(await claimDueAttempts(t.db, 'worker-b', 30_000, 10)).toEqual([]);
    await finish([id]);
  });

  it('never hands the same attempt to two concurrent claimers', async () => {
    const runId = await newRun();
    const ids = await Promise.all(Array.from({ length: 60 }, (_, i) => addAttempt(runId, 'flag', i + 10)));
    const claimer = async (owner: string) => {
      const got: number[] = [];
      for (;;) {
        const batch = await claimDueAttempts(t.db, owner, 30_000, 3);
        if (batch.length === 0) return got;
        got.push(...batch.map((a) => a.id));
      }
    };
    const [a, b, c] = await Promise.all([claimer('a'), claimer('b'), claimer('c')]);
    const all = [...a, ...b, ...c];
    expect(new Set(all).size).toBe(all.length);
    expect(all.sort((x, y) => x - y)).toEqual(ids.sort((x, y) => x - y));
    // Each claimer got some work: they really ran side by side.
    expect(Math.min(a.length, b.length, c.length)).toBeGreaterThan(0);
    await finish(all);
  });

  it('reclaims an attempt whose lease ran out (its claimant died), and the old claimant loses it', async () => {
    const runId = await newRun();
    const id = await addAttempt(runId, 'flag', 2);
    const [dead] = await claimDueAttempts(t.db, 'dead-worker', 30, 10);
    expect(dead?.id).toBe(id);
    expect(await claimDueAttempts(t.db, 'new-worker', 30_000, 10)).toEqual([]);
    await new Promise((r) => setTimeout(r, 60));
    const [fresh] = await claimDueAttempts(t.db, 'new-worker', 30_000, 10);
    expect(fresh?.id).toBe(id);
    expect(await renewLease(t.db, dead!, 30_000)).toBe(false);
    expect(await renewLease(t.db, fresh!, 30_000)).toBe(true);
    await finish([id]);
  });

  it('keeps a claim alive while its owner renews the lease', async () => {
    const runId = await newRun();
    const id = await addAttempt(runId, 'flag', 2);
    const [claim] = await claimDueAttempts(t.db, 'worker', 40, 10);
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 20));
      expect(await renewLease(t.db, claim!, 40)).toBe(true);
    }
    expect(await claimDueAttempts(t.db, 'other', 30_000, 10)).toEqual([]);
    await finish([id]);
  });

  it('does not renew a lease on a cancelled attempt', async () => {
    const runId = await newRun();
    const id = await addAttempt(runId, 'flag', 2);
    const [claim] = await claimDueAttempts(t.db, 'worker', 30_000, 10);
    await t.db.pool.query(`update step_attempts set status = 'cancelled' where id = $1`, [id]);
    expect(await renewLease(t.db, claim!, 30_000)).toBe(false);
  });

  it('skips attempts whose not_before is in the future, and says when the next one falls due', async () => {
    const runId = await newRun();
    const id = await addAttempt(runId, 'flag', 2, { notBefore: `now() + interval '1 hour'` });
    expect(await claimDueAttempts(t.db, 'worker', 30_000, 10)).toEqual([]);
    const { rows } = await t.db.pool.query<{ not_before: Date }>(
      `select not_before from step_attempts where id = $1`,
      [id],
    );
    expect(await nextDueAt(t.db)).toEqual(rows[0]!.not_before);
    await t.db.pool.query(`update step_attempts set not_before = $2 where id = $1`, [id, new Date()]);
    expect((await claimDueAttempts(t.db, 'worker', 30_000, 10)).map((a) => a.id)).toEqual([id]);
    await finish([id]);
  });

  it('never claims finished or cancelled attempts', async () => {
    const runId = await newRun();
    const id = await addAttempt(runId, 'flag', 2);
    await t.db.pool.query(`update step_attempts set status = 'cancelled' where id = $1`, [id]);
    expect(await claimDueAttempts(t.db, 'worker', 30_000, 10)).toEqual([]);
    expect(await nextDueAt(t.db)).toBeNull();
  });

  it('hands back a committed capture with the claim, so a resumed attempt does not capture again', async () => {
    const runId = await newRun();
    const id = await addAttempt(runId, 'flag', 2);
    const [claim] = await claimDueAttempts(t.db, 'dead-worker', 1, 10);
    expect(await saveCapture(t.db, claim!, { previous: '0' }, null)).toBe(true);
    await new Promise((r) => setTimeout(r, 10));
    const [again] = await claimDueAttempts(t.db, 'new-worker', 30_000, 10);
    expect(again).toMatchObject({ id, captured: { previous: '0' }, hasCapture: true });
    await finish([id]);
  });
});

describe('captures', () => {
  it('returns the first forward attempt’s capture, so retries and undo reuse the original "before"', async () => {
    const runId = await newRun();
    const first = await addAttempt(runId, 'flag', 2);
    const second = await addAttempt(runId, 'flag', 3);
    const undo = await addAttempt(runId, 'flag', 1, { direction: 'undo' });
    await finish([first, second, undo]);
    expect(await findCapture(t.db, runId, 'flag')).toEqual({ found: false, captured: undefined });
    // Saved in the "wrong" order: the later attempt commits first.
    await capture(second, { value: 'already changed' });
    await capture(first, { value: 'original' });
    await capture(undo, { value: 'from the undo' });
    expect(await findCapture(t.db, runId, 'flag')).toEqual({ found: true, captured: { value: 'original' } });
  });

  it('never overwrites a saved capture', async () => {
    const runId = await newRun();
    const id = await addAttempt(runId, 'flag', 2);
    await finish([id]);
    expect(await capture(id, { enabled: ['a', 'b'] })).toBe(true);
    expect(await capture(id, { enabled: [] })).toBe(false);
    expect(await findCapture(t.db, runId, 'flag')).toEqual({
      found: true,
      captured: { enabled: ['a', 'b'] },
    });
  });

  it('records that a capture of nothing was taken (null is a capture, not its absence)', async () => {
    const runId = await newRun();
    const id = await addAttempt(runId, 'flag', 2);
    await finish([id]);
    await capture(id, undefined);
    expect(await findCapture(t.db, runId, 'flag')).toEqual({ found: true, captured: null });
  });

  it('keeps strings, numbers and nested objects as they were captured', async () => {
    const runId = await newRun();
    const id = await addAttempt(runId, 'flag', 2);
    await finish([id]);
    const captured = {
      record: { value: 'old.example.com.', ttl: 300 },
      list: [1, 'two', null],
      s: 'it\'s "quoted"',
    };
    await capture(id, captured);
    expect((await findCapture(t.db, runId, 'flag')).captured).toEqual(captured);
  });

  it('gives a step the first captures of the steps before it, and none of the steps after', async () => {
    const runId = await newRun([
      stepSpec('maintenance', 'maint'),
      stepSpec('crons', 'crons'),
      stepSpec('dns', 'dns'),
    ]);
    const ids = [
      await addAttempt(runId, 'maint', 2),
      await addAttempt(runId, 'crons', 2),
      await addAttempt(runId, 'crons', 3),
      await addAttempt(runId, 'dns', 2),
    ];
    await finish(ids);
    await capture(ids[0]!, { enabled: false });
    await capture(ids[1]!, { jobs: ['a', 'b'] });
    await capture(ids[2]!, { jobs: [] });
    await capture(ids[3]!, { old: 'x' });
    expect(await earlierCaptures(t.db, runId, 'dns')).toEqual(
      new Map<string, unknown>([
        ['maint', { enabled: false }],
        ['crons', { jobs: ['a', 'b'] }],
      ]),
    );
    expect(await earlierCaptures(t.db, runId, 'maint')).toEqual(new Map());
  });
});

describe('saveProgress', () => {
  it('keeps the latest report per step, counts versions, and bumps the run so the publisher re-renders', async () => {
    const runId = await newRun([stepSpec('drain', 'drain')]);
    const before = (await readRun(t.db, runId))!.version;
    await saveProgress(t.db, runId, 'drain', { text: '120 jobs left', fraction: 0.1 });
    await saveProgress(t.db, runId, 'drain', { text: '3 jobs left', fraction: 0.9, figures: { left: 3 } });
    expect(await progressOf(t.db, runId)).toEqual([
      { stepId: 'drain', text: '3 jobs left', fraction: 0.9, version: 2 },
    ]);
    expect((await readRun(t.db, runId))!.version).toBe(before + 2);
  });
});

describe('fencing: every write names the claim that makes it', () => {
  it('refuses a capture, a renewal and an outcome from a claim that was taken over, even by the same owner', async () => {
    const runId = await newRun();
    const id = await addAttempt(runId, 'flag', 2);
    const [old] = await claimDueAttempts(t.db, 'worker', 1, 10);
    await new Promise((r) => setTimeout(r, 10));
    const [again] = await claimDueAttempts(t.db, 'worker', 30_000, 10);
    expect(again).toMatchObject({ id, claims: 2 });
    expect(again!.claimId).not.toBe(old!.claimId);
    expect(await renewLease(t.db, old!, 30_000)).toBe(false);
    expect(await saveCapture(t.db, old!, { stale: true }, null)).toBe(false);
    const client = await t.db.pool.connect();
    try {
      expect(await closeAttempt(client, old!, { stale: true }, new Date())).toBe(false);
      expect(await saveCapture(t.db, again!, { fresh: true }, null)).toBe(true);
      expect(await closeAttempt(client, again!, { fresh: true }, new Date())).toBe(true);
    } finally {
      client.release();
    }
    expect(await findCapture(t.db, runId, 'flag')).toEqual({ found: true, captured: { fresh: true } });
  });

  it('never takes back an attempt its own process is still running, even once its lease lapsed', async () => {
    const runId = await newRun();
    const id = await addAttempt(runId, 'flag', 2);
    await claimDueAttempts(t.db, 'worker', 1, 10);
    await new Promise((r) => setTimeout(r, 10));
    expect(await claimDueAttempts(t.db, 'worker', 30_000, 10, [id])).toEqual([]);
    expect((await claimDueAttempts(t.db, 'other', 30_000, 10)).map((a) => a.id)).toEqual([id]);
    await finish([id]);
  });

  it('hands an attempt back due at once without counting the claim, for its own claim only', async () => {
    const runId = await newRun();
    const id = await addAttempt(runId, 'flag', 2);
    const [claim] = await claimDueAttempts(t.db, 'worker', 30_000, 10);
    await releaseAttempts(t.db, [{ id, claimId: claim!.claimId + 1000 }]);
    expect(await claimDueAttempts(t.db, 'other', 30_000, 10)).toEqual([]);
    await releaseAttempts(t.db, [claim!]);
    const { rows } = await t.db.pool.query(
      `select status, claims, claimed_by, claim_id from step_attempts where id = $1`,
      [id],
    );
    expect(rows[0]).toEqual({ status: 'due', claims: 0, claimed_by: null, claim_id: null });
    const [next] = await claimDueAttempts(t.db, 'other', 30_000, 10);
    expect(next).toMatchObject({ id, claims: 1 });
    await finish([id]);
  });

  it('commits the refreshed title with the capture, and tells the publisher only when it changed', async () => {
    const runId = await newRun();
    const id = await addAttempt(runId, 'flag', 2);
    const before = (await readRun(t.db, runId))!;
    const [claim] = await claimDueAttempts(t.db, 'worker', 30_000, 10);
    expect(await saveCapture(t.db, claim!, { on: false }, before.state.steps[0]!.title)).toBe(true);
    expect((await readRun(t.db, runId))!.version).toBe(before.version);
    await t.db.pool.query(`update step_attempts set captured_at = null where id = $1`, [id]);
    expect(await saveCapture(t.db, claim!, { on: false }, 'flag on -> off, read just now')).toBe(true);
    const after = (await readRun(t.db, runId))!;
    expect(after.state.steps[0]!.title).toBe('flag on -> off, read just now');
    expect(after.version).toBe(before.version + 1);
    await finish([id]);
  });
});
