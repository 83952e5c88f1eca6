import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StepError } from '../../src/errors.ts';
import { sidekiqPauseHandler } from '../../src/adapters/sidekiq.ts';
import type { SidekiqJobsStep } from '../../src/adapters/sidekiq.ts';
import { addProcess, openTestRedis, readSignal, redisUrlForDb } from '../support/sidekiq-fixtures.ts';
import { makeAdapterEnv, makeStepContext } from '../support/step-context.ts';

// Redis DB 12 (see test/support/sidekiq-fixtures.ts), flushed before each test.
const DB = 12;
let redis: Redis;
const handler = sidekiqPauseHandler(makeAdapterEnv());

function pauseStep(action: 'pause' | 'resume' = 'pause', namespace?: string): SidekiqJobsStep {
  return {
    id: 'pause-workers',
    kind: 'jobs',
    action,
    provider: { type: 'sidekiq', url: redisUrlForDb(DB), queues: 'all', ...(namespace ? { namespace } : {}) },
  };
}

/** Four processes on three dynos, one of them already quiet. */
async function fleet(r: Redis = redis): Promise<{ live: string[]; quiet: string }> {
  const live = [
    await addProcess(r, { hostname: 'worker.1', busy: 2 }),
    await addProcess(r, { hostname: 'worker.2' }),
    await addProcess(r, { hostname: 'worker.3', busy: 1 }),
  ];
  const quiet = await addProcess(r, { hostname: 'worker.4', quiet: true });
  return { live, quiet };
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

describe('sidekiq pause', () => {
  it('quiets only the live processes that are not quiet yet, as Sidekiq::Process#quiet! does', async () => {
    const { live, quiet } = await fleet();
    const ctx = makeStepContext();
    expect(await handler.describe(pauseStep(), ctx)).toBe('quiet 3 of 4 Sidekiq processes (1 already quiet)');
    const captured = await handler.capture(pauseStep(), ctx);
    expect(captured.identities.sort()).toStrictEqual([...live].sort());
    expect(captured.hostnames.sort()).toStrictEqual(['worker.1', 'worker.2', 'worker.3']);

    const result = await handler.run(pauseStep(), captured, ctx);
    expect(result.summary).toMatch(/^quieted 3 of 4 Sidekiq processes \(1 already quiet\)/);
    for (const id of live) {
      expect(await redis.lrange(`${id}-signals`, 0, -1)).toStrictEqual(['TSTP']);
      const ttl = await redis.ttl(`${id}-signals`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60);
    }
    expect(await redis.exists(`${quiet}-signals`)).toBe(0);
  });

  it('skips members of `processes` whose heartbeat hash has expired', async () => {
    const alive = await addProcess(redis, { hostname: 'worker.1' });
    await redis.sadd('processes', 'worker.9:4242:0123456789ab');
    const captured = await handler.capture(pauseStep(), makeStepContext());
    expect(captured.identities).toStrictEqual([alive]);
    expect(captured.total).toBe(1);
    await handler.run(pauseStep(), captured, makeStepContext());
    expect(await redis.exists('worker.9:4242:0123456789ab-signals')).toBe(0);
  });

  it('replays without sending a second signal, before or after the heartbeat read the first', async () => {
    const { live } = await fleet();
    const captured = await handler.capture(pauseStep(), makeStepContext());
    await handler.run(pauseStep(), captured, makeStepContext());
    await handler.run(pauseStep(), captured, makeStepContext());
    for (const id of live) expect(await redis.lrange(`${id}-signals`, 0, -1)).toStrictEqual(['TSTP']);

    // Each process's heartbeat pops TSTP and the process reports quiet.
    for (const id of live) expect(await readSignal(redis, id)).toBe('TSTP');
    const again = await handler.run(pauseStep(), captured, makeStepContext());
    expect(again.summary).toMatch(/^quieted 3 of 4/);
    for (const id of live) {
      expect(await redis.exists(`${id}-signals`)).toBe(0);
      expect(await redis.hget(id, 'quiet')).toBe('true');
    }
  });

  it('undo is honest: it cannot un-quiet, names the processes to restart, and touches no other process', async () => {
    const { live, quiet } = await fleet();
    const captured = await handler.capture(pauseStep(), makeStepContext());
    await handler.run(pauseStep(), captured, makeStepContext());
    for (const id of live) await readSignal(redis, id);

    const undone = await handler.undo!(pauseStep(), captured, makeStepContext());
    expect(undone.summary).toBe(
      'Sidekiq processes cannot be un-quieted; restart the 3 quieted processes (worker.1, worker.2, worker.3) to resume',
    );
    for (const id of live) expect(await redis.hget(id, 'quiet')).toBe('true');
    expect(await redis.hget(quiet, 'quiet')).toBe('true');
    expect(await redis.exists(`${quiet}-signals`)).toBe(0);
  });

  it('undo withdraws a quiet signal no heartbeat has read yet', async () => {
    const { live } = await fleet();
    const captured = await handler.capture(pauseStep(), makeStepContext());
    await handler.run(pauseStep(), captured, makeStepContext());
    const [first, ...others] = live;
    await readSignal(redis, first!);

    const undone = await handler.undo!(pauseStep(), captured, makeStepContext());
    expect(undone.summary).toBe(
      'Sidekiq processes cannot be un-quieted; restart the 1 quieted process (worker.1) to resume; ' +
        'withdrew the pending quiet signal of 2 more',
    );
    for (const id of others) {
      expect(await redis.exists(`${id}-signals`)).toBe(0);
      expect(await redis.hget(id, 'quiet')).toBe('false');
    }
  });

  it('refuses resume with an explanation of what resuming takes', async () => {
    const step = pauseStep('resume');
    const ctx = makeStepContext();
    expect(await handler.blocker!(step, ctx)).toMatch(
      /a quiet process only stops.*restart the worker processes.*heroku-formation/,
    );
    expect(await handler.describe(step, ctx)).toMatch(/^cannot resume Sidekiq processes/);
    const error = await handler.capture(step, ctx).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(StepError);
    expect((error as StepError).retryable).toBe(false);
    expect((error as StepError).message).toMatch(/Cannot resume Sidekiq through Redis/);
  });

  it('applies the redis-namespace prefix', async () => {
    const namespaced = openTestRedis(DB, 'billing:');
    try {
      const { live } = await fleet(namespaced);
      // A process of another app in the same database, without the prefix.
      const stranger = await addProcess(redis, { hostname: 'other.1' });
      const captured = await handler.capture(pauseStep('pause', 'billing'), makeStepContext());
      expect(captured.identities.sort()).toStrictEqual([...live].sort());
      await handler.run(pauseStep('pause', 'billing'), captured, makeStepContext());
      for (const id of live)
        expect(await redis.lrange(`billing:${id}-signals`, 0, -1)).toStrictEqual(['TSTP']);
      expect(await redis.exists(`${stranger}-signals`)).toBe(0);
    } finally {
      await namespaced.quit();
    }
  });
});
