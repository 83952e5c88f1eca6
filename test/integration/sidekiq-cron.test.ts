import type { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StepError } from '../../src/errors.ts';
import { sidekiqCronHandler } from '../../src/adapters/sidekiq-cron.ts';
import type { SidekiqCronCapture, SidekiqCronStep } from '../../src/adapters/sidekiq-cron.ts';
import type { EarlierStep } from '../../src/adapters/types.ts';
import {
  addCronJobV1,
  addCronJobV2,
  cronStatuses,
  openTestRedis,
  redisUrlForDb,
} from '../support/sidekiq-fixtures.ts';
import { makeAdapterEnv, makeStepContext } from '../support/step-context.ts';

// Redis DB 11 (see test/support/sidekiq-fixtures.ts), flushed before each test.
const DB = 11;
let redis: Redis;
const handler = sidekiqCronHandler(makeAdapterEnv());

const NAMES = [
  'nightly_report',
  'invoice_run',
  'cleanup',
  'sync_rates',
  'digest',
  'reindex',
  'purge',
  'ping',
  'audit',
];
const ALREADY_DISABLED = ['purge', 'audit'];

function cronStep(
  action: 'disable' | 'enable',
  extra: Partial<SidekiqCronStep['provider']> = {},
  id = action === 'disable' ? 'disable-crons' : 'enable-crons',
): SidekiqCronStep {
  return {
    id,
    kind: 'crons',
    action,
    provider: { type: 'sidekiq-cron', url: redisUrlForDb(DB), jobs: 'all', ...extra },
  };
}

const after = (step: SidekiqCronStep, captured: SidekiqCronCapture): EarlierStep[] => [{ step, captured }];

async function seed(layout: 'v1' | 'v2', namespace = 'default'): Promise<Record<string, string | null>> {
  for (const name of NAMES) {
    const status = ALREADY_DISABLED.includes(name) ? 'disabled' : 'enabled';
    if (layout === 'v1') await addCronJobV1(redis, { name, status });
    else await addCronJobV2(redis, { name, status, namespace });
  }
  return cronStatuses(redis);
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

describe.each(['v1', 'v2'] as const)('sidekiq-cron %s layout', (layout) => {
  it('disables only the enabled jobs, and the closing enable re-enables exactly those', async () => {
    const before = await seed(layout);
    expect(Object.values(before).filter((s) => s === 'enabled')).toHaveLength(7);
    const disable = cronStep('disable');
    const ctx = makeStepContext();

    expect(await handler.describe(disable, ctx)).toBe(
      'disable 7 of 9 sidekiq-cron jobs (2 already disabled)',
    );
    const captured = await handler.capture(disable, ctx);
    expect(captured.keys).toHaveLength(7);
    expect(captured.names.sort()).toStrictEqual(NAMES.filter((n) => !ALREADY_DISABLED.includes(n)).sort());

    const result = await handler.run(disable, captured, ctx);
    expect(result.summary).toBe('disabled 7 of 9 sidekiq-cron jobs (2 were already disabled)');
    expect(Object.values(await cronStatuses(redis)).every((s) => s === 'disabled')).toBe(true);

    const enable = cronStep('enable');
    const later = makeStepContext({ earlier: after(disable, captured) });
    expect(await handler.describe(enable, later)).toBe(
      'enable 7 sidekiq-cron jobs that step disable-crons disabled',
    );
    const enableCaptured = await handler.capture(enable, later);
    const enabled = await handler.run(enable, enableCaptured, later);
    expect(enabled.summary).toBe('enabled 7 sidekiq-cron jobs that step disable-crons disabled');
    // The two that were disabled before the run stay disabled.
    expect(await cronStatuses(redis)).toStrictEqual(before);
  });

  it('changes nothing but the status field, in the hashes sidekiq-cron reads', async () => {
    await seed(layout);
    const key = layout === 'v1' ? 'cron_job:nightly_report' : 'cron_job:default:nightly_report';
    const fieldsBefore = await redis.hgetall(key);
    const disable = cronStep('disable');
    await handler.run(disable, await handler.capture(disable, makeStepContext()), makeStepContext());
    expect(await redis.hgetall(key)).toStrictEqual({ ...fieldsBefore, status: 'disabled' });
  });
});

it('handles 1.x and 2.x keys side by side, and every 2.x namespace found', async () => {
  await addCronJobV1(redis, { name: 'legacy_job' });
  await addCronJobV2(redis, { name: 'report', namespace: 'default' });
  await addCronJobV2(redis, { name: 'report', namespace: 'billing' });
  await addCronJobV2(redis, { name: 'settle', namespace: 'billing', status: 'disabled' });
  const disable = cronStep('disable');
  const ctx = makeStepContext();
  expect(await handler.describe(disable, ctx)).toBe('disable 3 of 4 sidekiq-cron jobs (1 already disabled)');
  const captured = await handler.capture(disable, ctx);
  expect(captured.keys.sort()).toStrictEqual([
    'cron_job:billing:report',
    'cron_job:default:report',
    'cron_job:legacy_job',
  ]);
  await handler.run(disable, captured, ctx);
  expect(await cronStatuses(redis)).toStrictEqual({
    'cron_job:legacy_job': 'disabled',
    'cron_job:default:report': 'disabled',
    'cron_job:billing:report': 'disabled',
    'cron_job:billing:settle': 'disabled',
  });
});

it('restricts itself to the given 2.x namespace', async () => {
  await addCronJobV1(redis, { name: 'legacy_job' });
  await addCronJobV2(redis, { name: 'report', namespace: 'default' });
  await addCronJobV2(redis, { name: 'report', namespace: 'billing' });
  const disable = cronStep('disable', { namespace: 'billing' });
  const captured = await handler.capture(disable, makeStepContext());
  expect(captured.keys).toStrictEqual(['cron_job:billing:report']);
  await handler.run(disable, captured, makeStepContext());
  expect(await cronStatuses(redis)).toStrictEqual({
    'cron_job:legacy_job': 'enabled',
    'cron_job:default:report': 'enabled',
    'cron_job:billing:report': 'disabled',
  });
});

it('disables only the listed jobs', async () => {
  const before = await seed('v2');
  const disable = cronStep('disable', { jobs: ['digest', 'purge'] });
  const ctx = makeStepContext();
  expect(await handler.describe(disable, ctx)).toBe('disable 1 of 2 sidekiq-cron jobs (1 already disabled)');
  const captured = await handler.capture(disable, ctx);
  await handler.run(disable, captured, ctx);
  expect(await cronStatuses(redis)).toStrictEqual({ ...before, 'cron_job:default:digest': 'disabled' });
});

it('names an unknown job and lists the known ones', async () => {
  await seed('v1');
  const disable = cronStep('disable', { jobs: ['digest', 'nightly_reports'] });
  const error = await handler.capture(disable, makeStepContext()).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepError);
  expect((error as StepError).retryable).toBe(false);
  expect((error as StepError).message).toMatch(
    /sidekiq-cron job "nightly_reports" not found at redis:\/\/127\.0\.0\.1:6379\/11/,
  );
  expect((error as StepError).message).toContain(`Known jobs: ${[...NAMES].sort().join(', ')}`);
  expect(Object.values(await cronStatuses(redis)).filter((s) => s === 'enabled')).toHaveLength(7);
});

it('reports a Redis without sidekiq-cron jobs instead of succeeding on nothing', async () => {
  await expect(handler.capture(cronStep('disable'), makeStepContext())).rejects.toThrow(
    /No sidekiq-cron jobs found at redis:\/\/127\.0\.0\.1:6379\/11/,
  );
});

it('replays after a crash between capture and act: same result, and undo restores the original', async () => {
  const before = await seed('v2');
  const disable = cronStep('disable');
  const captured = await handler.capture(disable, makeStepContext());
  // The capture is committed; the process dies; the step runs again with the committed capture.
  await handler.run(disable, captured, makeStepContext());
  const second = await handler.run(disable, captured, makeStepContext());
  expect(second.summary).toBe('disabled 7 of 9 sidekiq-cron jobs (2 were already disabled)');
  expect(Object.values(await cronStatuses(redis)).every((s) => s === 'disabled')).toBe(true);

  const undone = await handler.undo!(disable, captured, makeStepContext());
  expect(undone.summary).toBe('re-enabled the 7 sidekiq-cron jobs this step disabled');
  expect(await cronStatuses(redis)).toStrictEqual(before);
  await handler.undo!(disable, captured, makeStepContext());
  expect(await cronStatuses(redis)).toStrictEqual(before);
});

it('undoes an enable by disabling exactly the jobs it enabled', async () => {
  await seed('v1');
  const disable = cronStep('disable');
  const disabled = await handler.capture(disable, makeStepContext());
  await handler.run(disable, disabled, makeStepContext());
  const afterDisable = await cronStatuses(redis);

  const enable = cronStep('enable');
  const ctx = makeStepContext({ earlier: after(disable, disabled) });
  const enabled = await handler.capture(enable, ctx);
  await handler.run(enable, enabled, ctx);
  const undone = await handler.undo!(enable, enabled, ctx);
  expect(undone.summary).toBe('disabled again the 7 sidekiq-cron jobs this step enabled');
  expect(await cronStatuses(redis)).toStrictEqual(afterDisable);
});

it('uses the latest disable step on the same Redis, ignoring other Redis instances', async () => {
  await seed('v1');
  const other: SidekiqCronStep = {
    ...cronStep('disable', {}, 'disable-other-crons'),
    provider: { type: 'sidekiq-cron', url: redisUrlForDb(5), jobs: 'all' },
  };
  const disable = cronStep('disable', { jobs: ['digest', 'cleanup'] });
  const captured = await handler.capture(disable, makeStepContext());
  await handler.run(disable, captured, makeStepContext());
  const bogus: SidekiqCronCapture = {
    action: 'disable',
    keys: ['cron_job:ping'],
    names: ['ping'],
    asked: 'all',
    total: 1,
    unchanged: 0,
  };
  const ctx = makeStepContext({
    earlier: [
      { step: disable, captured },
      { step: other, captured: bogus },
    ],
  });
  const enable = cronStep('enable');
  const enableCaptured = await handler.capture(enable, ctx);
  expect(enableCaptured.source).toBe('disable-crons');
  expect(enableCaptured.keys.sort()).toStrictEqual(['cron_job:cleanup', 'cron_job:digest']);
});

it('ad hoc enable (no earlier disable step) enables the disabled jobs and says so', async () => {
  const before = await seed('v2');
  const enable = cronStep('enable');
  const ctx = makeStepContext();
  expect(await handler.describe(enable, ctx)).toBe(
    'enable 2 of 9 sidekiq-cron jobs (ad hoc: no earlier disable step in this run, so every disabled job; 7 already enabled)',
  );
  const captured = await handler.capture(enable, ctx);
  expect(captured.source).toBeUndefined();
  const result = await handler.run(enable, captured, ctx);
  expect(result.summary).toMatch(
    /^enabled 2 of 9 sidekiq-cron jobs \(ad hoc: no earlier disable step in this run/,
  );
  expect(Object.values(await cronStatuses(redis)).every((s) => s === 'enabled')).toBe(true);
  await handler.undo!(enable, captured, ctx);
  expect(await cronStatuses(redis)).toStrictEqual(before);
});

it('does not resurrect a job deleted between the disable and the enable', async () => {
  await seed('v1');
  const disable = cronStep('disable');
  const captured = await handler.capture(disable, makeStepContext());
  await handler.run(disable, captured, makeStepContext());
  // A deploy reloads schedule.yml without `digest`: sidekiq-cron destroys it.
  await redis
    .multi()
    .srem('cron_jobs', 'cron_job:digest')
    .del('cron_job:digest', 'cron_job:digest:enqueued')
    .exec();

  const enable = cronStep('enable');
  const ctx = makeStepContext({ earlier: after(disable, captured) });
  const enableCaptured = await handler.capture(enable, ctx);
  const result = await handler.run(enable, enableCaptured, ctx);
  expect(result.summary).toBe(
    'enabled 6 sidekiq-cron jobs that step disable-crons disabled; 1 job no longer exists: digest',
  );
  expect(await redis.exists('cron_job:digest')).toBe(0);
});

it('never creates a hash for a job deleted between capture and run', async () => {
  await seed('v2');
  const disable = cronStep('disable');
  const captured = await handler.capture(disable, makeStepContext());
  await redis.multi().srem('cron_jobs:default', 'cron_job:default:ping').del('cron_job:default:ping').exec();
  const result = await handler.run(disable, captured, makeStepContext());
  expect(result.summary).toBe(
    'disabled 6 of 9 sidekiq-cron jobs (2 were already disabled); 1 job no longer exists: ping',
  );
  expect(await redis.exists('cron_job:default:ping')).toBe(0);
});

it('counts a job hash without a status field as enabled, as sidekiq-cron does', async () => {
  const key = await addCronJobV1(redis, { name: 'old_style' });
  await redis.hdel(key, 'status');
  const disable = cronStep('disable');
  const captured = await handler.capture(disable, makeStepContext());
  expect(captured.keys).toStrictEqual([key]);
  await handler.run(disable, captured, makeStepContext());
  expect(await redis.hget(key, 'status')).toBe('disabled');
});
