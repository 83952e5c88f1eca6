import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StepError } from '../../src/errors.ts';
import { sidekiqDrainHandler } from '../../src/adapters/sidekiq.ts';
import type { SidekiqDrainStep } from '../../src/adapters/sidekiq.ts';
import type { Progress } from '../../src/adapters/types.ts';
import {
  addDead,
  addProcess,
  addRetry,
  enqueueJobs,
  heartbeat,
  openTestRedis,
  redisUrlForDb,
  scheduleJob,
} from '../support/sidekiq-fixtures.ts';
import { makeAdapterEnv, makeStepContext } from '../support/step-context.ts';
import type { TestStepContext } from '../support/step-context.ts';

// Redis DB 13 (see test/support/sidekiq-fixtures.ts), flushed before each test.
//
// Most tests run on a virtual clock: `sleep(ms)` advances time at once and then lets the simulated
// Sidekiq act (pop jobs, write a heartbeat), so production-sized heartbeats (10 s) and timeouts
// (30 m) take milliseconds and "how long was it empty" is exact. One test runs on the real clock
// with a worker on a background interval.

const DB = 13;
let redis: Redis;

function drainStep(
  extra: Partial<SidekiqDrainStep> = {},
  provider: Partial<SidekiqDrainStep['provider']> = {},
): SidekiqDrainStep {
  return {
    id: 'drain-old-queues',
    kind: 'drain',
    provider: { type: 'sidekiq', url: redisUrlForDb(DB), queues: 'all', ...provider },
    ...extra,
  };
}

/** A context whose clock moves only when the adapter sleeps; `onTick` runs after each sleep. */
function virtualContext(
  onTick: (now: number) => Promise<void> = async () => {},
): TestStepContext & { at: number[] } {
  let clock = 0;
  const at: number[] = [];
  const ctx = makeStepContext({
    now: () => clock,
    sleep: async (ms: number) => {
      ctx.sleeps.push(ms);
      clock += ms;
      await onTick(clock);
    },
  });
  ctx.progress = (report: Progress) => {
    at.push(clock);
    ctx.reports.push(report);
    return Promise.resolve();
  };
  return Object.assign(ctx, { at });
}

const productionEnv = makeAdapterEnv({ sidekiqHeartbeatMs: 10_000, pollIntervalMs: 2_000 });

async function failure(promise: Promise<unknown>): Promise<StepError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(StepError);
    return error as StepError;
  }
  throw new Error('expected the drain to fail');
}

beforeAll(() => {
  redis = openTestRedis(DB);
});
beforeEach(async () => {
  await redis.flushdb();
});
afterAll(async () => {
  await redis.quit();
});

describe('sidekiq drain: describe', () => {
  it('reads the counts once, including queue lists missing from the `queues` set', async () => {
    await enqueueJobs(redis, 'default', 40);
    await enqueueJobs(redis, 'mailers', 2);
    // A queue whose name was SREMmed (Queue#clear races, manual cleanups) still holds jobs.
    await redis.lpush('queue:orphan', JSON.stringify({ class: 'X', args: [], jid: 'a', queue: 'orphan' }));
    await addProcess(redis, { busy: 3 });
    for (let i = 0; i < 5; i++) await scheduleJob(redis, 'default', 3600);
    await addDead(redis, 'default');
    const handler = sidekiqDrainHandler(productionEnv);
    expect(await handler.describe(drainStep(), makeStepContext())).toBe(
      'wait for the old Sidekiq queues to drain: now 43 enqueued, 3 busy, 5 scheduled, 0 retry',
    );
  });

  it('counts only the listed queues when given a list', async () => {
    await enqueueJobs(redis, 'default', 4);
    await enqueueJobs(redis, 'mailers', 2);
    await enqueueJobs(redis, 'low', 9);
    const handler = sidekiqDrainHandler(productionEnv);
    expect(await handler.describe(drainStep({}, { queues: ['default', 'mailers'] }), makeStepContext())).toBe(
      'wait for the old Sidekiq queues to drain: now 6 enqueued, 0 busy, 0 scheduled, 0 retry',
    );
  });

  it('applies the redis-namespace prefix', async () => {
    const namespaced = openTestRedis(DB, 'billing:');
    try {
      await enqueueJobs(namespaced, 'default', 7);
      await enqueueJobs(redis, 'default', 100); // another app in the same database
      const handler = sidekiqDrainHandler(productionEnv);
      expect(await handler.describe(drainStep({}, { namespace: 'billing' }), makeStepContext())).toBe(
        'wait for the old Sidekiq queues to drain: now 7 enqueued, 0 busy, 0 scheduled, 0 retry',
      );
    } finally {
      await namespaced.quit();
    }
  });
});

describe('sidekiq drain: watching', () => {
  it('succeeds only once empty has held over the window, with several samples, never on one read', async () => {
    await redis.lpush('queue:default', 'x');
    await redis.sadd('queues', 'default');
    let emptiedAt: number | undefined;
    const ctx = virtualContext(async (now) => {
      if (emptiedAt === undefined && now >= 4_000) {
        await redis.rpop('queue:default');
        emptiedAt = now;
      }
    });
    const handler = sidekiqDrainHandler(productionEnv);
    const result = await handler.run(drainStep(), null, ctx);

    expect(emptiedAt).toBe(4_000);
    const done = ctx.at.at(-1)!;
    expect(done - emptiedAt!).toBeGreaterThanOrEqual(10_000); // one heartbeat
    const zeroReports = ctx.reports.filter((r) => r.figures?.left === 0);
    expect(zeroReports.length).toBeGreaterThanOrEqual(3);
    expect(zeroReports[0]!.text).toMatch(/^0 jobs left .* making sure it stays empty for 10s/);
    expect(result.summary).toMatch(
      /^old Sidekiq queues drained: 0 enqueued, 0 busy, 0 scheduled, 0 retry for 10s \(\d+ samples\)$/,
    );
  });

  it('uses the step settle time when it is longer than a heartbeat', async () => {
    const ctx = virtualContext();
    const result = await sidekiqDrainHandler(productionEnv).run(drainStep({ settle: 30_000 }), null, ctx);
    expect(ctx.at.at(-1)! - ctx.at[0]!).toBeGreaterThanOrEqual(30_000);
    expect(result.summary).toMatch(/for 30s/);
  });

  it('starts over when jobs reappear during the window', async () => {
    const ctx = virtualContext(async (now) => {
      if (now === 6_000) await enqueueJobs(redis, 'default', 1); // the scheduled poller moved one in
      if (now === 8_000) await redis.del('queue:default');
    });
    await sidekiqDrainHandler(productionEnv).run(drainStep(), null, ctx);
    expect(ctx.at.at(-1)!).toBeGreaterThanOrEqual(8_000 + 10_000);
  });

  it('is kept from draining by a job in flight until the heartbeat reports it done', async () => {
    const identity = await addProcess(redis, { hostname: 'worker.1', busy: 1 });
    const ctx = virtualContext(async (now) => {
      if (now === 20_000) await heartbeat(redis, identity, { busy: 0 });
    });
    await sidekiqDrainHandler(productionEnv).run(drainStep(), null, ctx);
    const busyReports = ctx.reports.filter((r) => r.figures?.busy === 1);
    expect(busyReports.length).toBeGreaterThan(0);
    expect(busyReports[0]!.text).toMatch(/^1 job left \(0 enqueued, 1 busy, 0 scheduled, 0 retry\)/);
    expect(ctx.at.at(-1)!).toBeGreaterThanOrEqual(20_000 + 10_000);
  });

  it('counts work in `<identity>:work` even before `busy` catches up', async () => {
    const identity = await addProcess(redis, { hostname: 'worker.1' });
    await redis.hset(
      `${identity}:work`,
      'tid1',
      JSON.stringify({ queue: 'default', payload: '{}', run_at: 1 }),
    );
    const error = await failure(
      sidekiqDrainHandler(productionEnv).run(drainStep({ timeout: 20_000 }), null, virtualContext()),
    );
    expect(error.message).toMatch(/^not drained after 20s: 0 enqueued, 1 busy, 0 scheduled, 0 retry\./);
  });

  it('is blocked by a scheduled job', async () => {
    await scheduleJob(redis, 'default', 3600);
    const error = await failure(
      sidekiqDrainHandler(productionEnv).run(drainStep({ timeout: 60_000 }), null, virtualContext()),
    );
    expect(error.message).toMatch(/^not drained after 1m: 0 enqueued, 0 busy, 1 scheduled, 0 retry\./);
    expect(error.message).toMatch(/Scheduled and retry jobs are enqueued later on the old Redis/);
  });

  it('fails at its timeout with the counts per queue, and does not ask to be retried automatically', async () => {
    await enqueueJobs(redis, 'default', 10);
    await enqueueJobs(redis, 'mailers', 2);
    await addProcess(redis, { busy: 1 });
    for (let i = 0; i < 3; i++) await addRetry(redis, 'default', 600);
    await addDead(redis, 'default');
    const ctx = virtualContext();
    const error = await failure(sidekiqDrainHandler(productionEnv).run(drainStep(), null, ctx));
    expect(error.message).toMatch(
      /^not drained after 30m: 12 enqueued \(default 10, mailers 2\), 1 busy, 0 scheduled, 3 retry\. /,
    );
    expect(error.message).toMatch(/Retry to keep waiting\.$/);
    expect(error.retryable).toBe(false);
    expect(error.reason).toBe('timeout');
    expect(ctx.at.at(-1)).toBe(30 * 60_000);
  });

  it('reports progress with jobs left, a bar, the rate and the time left', async () => {
    await enqueueJobs(redis, 'default', 100);
    const ctx = virtualContext(async () => {
      await redis.rpop('queue:default', 10); // ten jobs every two seconds: 300 a minute
    });
    await sidekiqDrainHandler(productionEnv).run(drainStep(), null, ctx);

    const first = ctx.reports[0]!;
    expect(first.text).toMatch(
      /^100 jobs left \(100 enqueued \(default 100\), 0 busy, 0 scheduled, 0 retry\) ░{10} 0% · measuring the rate$/,
    );
    const half = ctx.reports.find((r) => r.figures?.left === 50)!;
    expect(half.fraction).toBe(0.5);
    expect(half.figures).toMatchObject({ enqueued: 50, ratePerMin: 300, etaSeconds: 10 });
    expect(half.text).toBe(
      '50 jobs left (50 enqueued (default 50), 0 busy, 0 scheduled, 0 retry) ▓▓▓▓▓░░░░░ 50% · 300 jobs/min · about 10s left',
    );
    const fractions = ctx.reports.map((r) => r.fraction ?? 0);
    expect(fractions).toStrictEqual([...fractions].sort((a, b) => a - b));
    expect(ctx.reports.at(-1)!.text).toMatch(/^drained: empty for 10s over \d+ samples ▓{10} 100%$/);
  });

  it('says when nothing is moving', async () => {
    await enqueueJobs(redis, 'default', 5);
    const ctx = virtualContext();
    await failure(sidekiqDrainHandler(productionEnv).run(drainStep({ timeout: 10_000 }), null, ctx));
    expect(ctx.reports.at(-1)!.text).toMatch(/· no progress in the last 10s$/);
  });

  it('drains a queue that a worker empties on the real clock, only after the settle window', async () => {
    await enqueueJobs(redis, 'default', 20);
    const worker = openTestRedis(DB);
    let emptiedAt: number | undefined;
    const timer = setInterval(() => {
      void worker.rpop('queue:default').then(async () => {
        if (emptiedAt === undefined && (await worker.llen('queue:default')) === 0) emptiedAt = Date.now();
      });
    }, 5);
    try {
      const env = makeAdapterEnv({ sidekiqHeartbeatMs: 50, pollIntervalMs: 5 });
      const ctx = makeStepContext();
      const result = await sidekiqDrainHandler(env).run(drainStep({ settle: 150 }), null, ctx);
      const finished = Date.now();
      expect(emptiedAt).toBeDefined();
      expect(finished - emptiedAt!).toBeGreaterThanOrEqual(150);
      expect(ctx.reports.some((r) => (r.figures?.left as number) > 0)).toBe(true);
      expect(ctx.reports.some((r) => /making sure it stays empty/.test(r.text))).toBe(true);
      expect(result.summary).toMatch(/^old Sidekiq queues drained/);
    } finally {
      clearInterval(timer);
      await worker.quit();
    }
  });

  it('stops promptly when the run is aborted', async () => {
    await enqueueJobs(redis, 'default', 5);
    const ctx = makeStepContext();
    const reason = new Error('run aborted by @alice');
    ctx.progress = () => {
      ctx.controller.abort(reason);
      return Promise.resolve();
    };
    const env = makeAdapterEnv({ sidekiqHeartbeatMs: 60_000, pollIntervalMs: 60_000 });
    await expect(sidekiqDrainHandler(env).run(drainStep(), null, ctx)).rejects.toBe(reason);
  });

  it('fails with a retryable error naming the host, not the password, when Redis is unreachable', async () => {
    const step = drainStep({}, { url: 'redis://:dr41nsecret@127.0.0.1:1/0' });
    const error = await failure(sidekiqDrainHandler(productionEnv).run(step, null, virtualContext()));
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('127.0.0.1:1');
    expect(error.message).not.toContain('dr41nsecret');
  });

  it('has no undo: it changes nothing', () => {
    expect('undo' in sidekiqDrainHandler(productionEnv)).toBe(false);
  });
});
