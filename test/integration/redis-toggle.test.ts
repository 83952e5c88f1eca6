import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StepError } from '../../src/errors.ts';
import { redisToggleHandler } from '../../src/adapters/redis-toggle.ts';
import type { MaintenanceOrFlagStepWithRedisProvider } from '../../src/adapters/redis-toggle.ts';
import { openTestRedis, redisUrlForDb } from '../support/sidekiq-fixtures.ts';
import { makeAdapterEnv, makeStepContext } from '../support/step-context.ts';

// Redis DB 10 (see test/support/sidekiq-fixtures.ts), flushed before each test.
const DB = 10;
const KEY = 'billing:webhooks:paused';
let redis: Redis;
const handler = redisToggleHandler(makeAdapterEnv());

function step(
  action: 'on' | 'off',
  value = '1',
  kind: 'flag' | 'maintenance' = 'flag',
): MaintenanceOrFlagStepWithRedisProvider {
  return {
    id: 'pause-webhooks',
    kind,
    action,
    provider: { type: 'redis', url: redisUrlForDb(DB), key: KEY, value },
  };
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

describe('redis toggle: on', () => {
  it('sets the key and undo deletes it again when it was absent', async () => {
    const ctx = makeStepContext();
    expect(await handler.describe(step('on'), ctx)).toBe('billing:webhooks:paused = 1 (now unset)');
    const captured = await handler.capture(step('on'), ctx);
    expect(captured).toStrictEqual({ existed: false });
    expect(await redis.get(KEY)).toBeNull();

    const result = await handler.run(step('on'), captured, ctx);
    expect(await redis.get(KEY)).toBe('1');
    expect(result.summary).toBe('billing:webhooks:paused = 1 (was unset)');

    const undone = await handler.undo!(step('on'), captured, ctx);
    expect(await redis.exists(KEY)).toBe(0);
    expect(undone.summary).toBe('billing:webhooks:paused restored: unset');
  });

  it('restores the previous value, without a TTL it did not have', async () => {
    await redis.set(KEY, 'legacy');
    const ctx = makeStepContext();
    expect(await handler.describe(step('on'), ctx)).toBe('billing:webhooks:paused = 1 (now legacy)');
    const captured = await handler.capture(step('on'), ctx);
    expect(captured).toStrictEqual({ existed: true, value: 'legacy' });
    await handler.run(step('on'), captured, ctx);
    expect(await redis.get(KEY)).toBe('1');
    await handler.undo!(step('on'), captured, ctx);
    expect(await redis.get(KEY)).toBe('legacy');
    expect(await redis.pttl(KEY)).toBe(-1);
  });

  it('restores the previous value with its TTL', async () => {
    await redis.set(KEY, '0', 'PX', 60_000);
    const ctx = makeStepContext();
    const captured = await handler.capture(step('on'), ctx);
    expect(captured.existed).toBe(true);
    expect(captured.value).toBe('0');
    expect(captured.ttlMs).toBeGreaterThan(0);
    expect(captured.ttlMs).toBeLessThanOrEqual(60_000);

    await handler.run(step('on'), captured, ctx);
    expect(await redis.get(KEY)).toBe('1');
    expect(await redis.pttl(KEY)).toBe(-1);

    const undone = await handler.undo!(step('on'), captured, ctx);
    expect(await redis.get(KEY)).toBe('0');
    const ttl = await redis.pttl(KEY);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(captured.ttlMs!);
    expect(undone.summary).toMatch(
      /^billing:webhooks:paused restored: 0, expiring in (\d+m|\d+s|\d+m \d\ds) as before$/,
    );
  });

  it('does not bring back a value whose TTL ran out while the step was in effect', async () => {
    await redis.set(KEY, '0', 'PX', 60_000);
    let now = 1_000_000;
    const ctx = makeStepContext({ now: () => now });
    const captured = await handler.capture(step('on'), ctx);
    await handler.run(step('on'), captured, ctx);
    now += 61_000;
    const undone = await handler.undo!(step('on'), captured, ctx);
    expect(await redis.exists(KEY)).toBe(0);
    expect(undone.summary).toMatch(/TTL that has run out/);
  });

  it('replays safely: running or undoing twice has the effect of once', async () => {
    await redis.set(KEY, 'old');
    const ctx = makeStepContext();
    const captured = await handler.capture(step('on'), ctx);
    await handler.run(step('on'), captured, ctx);
    await handler.run(step('on'), captured, ctx);
    expect(await redis.get(KEY)).toBe('1');
    await handler.undo!(step('on'), captured, ctx);
    await handler.undo!(step('on'), captured, ctx);
    expect(await redis.get(KEY)).toBe('old');
  });

  it('says so when the flag is already set', async () => {
    await redis.set(KEY, '1');
    const ctx = makeStepContext();
    expect(await handler.describe(step('on'), ctx)).toBe('billing:webhooks:paused = 1 (already 1)');
    const captured = await handler.capture(step('on'), ctx);
    expect((await handler.run(step('on'), captured, ctx)).summary).toBe(
      'billing:webhooks:paused = 1 (already 1)',
    );
  });
});

describe('redis toggle: off', () => {
  it('deletes the key (off means absent) and undo puts the value back', async () => {
    await redis.set(KEY, 'yes');
    const ctx = makeStepContext();
    expect(await handler.describe(step('off', '1', 'maintenance'), ctx)).toBe(
      'billing:webhooks:paused unset (now yes)',
    );
    const captured = await handler.capture(step('off', '1', 'maintenance'), ctx);
    const result = await handler.run(step('off', '1', 'maintenance'), captured, ctx);
    expect(await redis.exists(KEY)).toBe(0);
    expect(result.summary).toBe('billing:webhooks:paused unset (was yes)');
    await handler.undo!(step('off', '1', 'maintenance'), captured, ctx);
    expect(await redis.get(KEY)).toBe('yes');
  });

  it('leaves an absent key absent, before and after undo', async () => {
    const ctx = makeStepContext();
    const captured = await handler.capture(step('off'), ctx);
    expect((await handler.run(step('off'), captured, ctx)).summary).toBe(
      'billing:webhooks:paused unset (already unset)',
    );
    await handler.undo!(step('off'), captured, ctx);
    expect(await redis.exists(KEY)).toBe(0);
  });
});

it('refuses to capture a key that is not a string, so it is never overwritten', async () => {
  await redis.hset(KEY, 'field', 'x');
  await expect(handler.capture(step('on'), makeStepContext())).rejects.toThrow(StepError);
  await expect(handler.capture(step('on'), makeStepContext())).rejects.toThrow(
    /holds a hash, not a string flag/,
  );
  expect(await redis.hget(KEY, 'field')).toBe('x');
});

it('fails with a retryable error naming the host, not the password, when Redis is unreachable', async () => {
  const unreachable: MaintenanceOrFlagStepWithRedisProvider = {
    ...step('on'),
    provider: { type: 'redis', url: 'redis://:t0ps3cret@127.0.0.1:1/0', key: KEY, value: '1' },
  };
  const error = await handler.capture(unreachable, makeStepContext()).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepError);
  expect((error as StepError).retryable).toBe(true);
  expect((error as StepError).message).toContain('127.0.0.1:1');
  expect((error as StepError).message).not.toContain('t0ps3cret');
});
