import type { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sidekiqCronHandler, type SidekiqCronStep } from '../../src/adapters/sidekiq-cron.ts';
import {
  sidekiqDrainHandler,
  sidekiqPauseHandler,
  type SidekiqDrainStep,
  type SidekiqJobsStep,
} from '../../src/adapters/sidekiq.ts';
import { StepError } from '../../src/errors.ts';
import { keysOf } from '../../src/sandbox/redis-seed.ts';
import { SidekiqSimulation, type SimulatedApp } from '../../src/sandbox/workers.ts';
import { openTestRedis, redisUrlForDb } from '../support/sidekiq-fixtures.ts';
import { makeAdapterEnv, makeStepContext } from '../support/step-context.ts';

// The sandbox's old platform against Ferry's real Sidekiq adapters: the simulated workers write what
// Sidekiq writes, so a drain finishes only once every source of work has stopped, as it would for real.
// Redis database 9 is this file's own.

const DB = 9;
const URL = redisUrlForDb(DB);
const log = pino({ level: 'silent' });
const env = makeAdapterEnv({ sidekiqHeartbeatMs: 100, pollIntervalMs: 20 });

const app: SimulatedApp = {
  app: 'shop',
  namespace: 'shop',
  backlog: { default: 12, low: 6 },
  crons: [
    {
      name: 'nightly_invoices',
      cron: '0 2 * * *',
      klass: 'NightlyInvoicesJob',
      queue: 'default',
      enabled: true,
    },
    { name: 'weekly_report', cron: '0 3 * * 1', klass: 'WeeklyReportJob', queue: 'low', enabled: false },
  ],
  dead: 1,
  concurrency: 3,
  jobMs: 30,
};

const drainStep = (timeout?: number): SidekiqDrainStep => ({
  id: 'drain-old-queues',
  kind: 'drain',
  ...(timeout !== undefined ? { timeout } : {}),
  provider: { type: 'sidekiq', url: URL, namespace: 'shop', queues: 'all' },
});
const cronStep = (action: 'disable' | 'enable'): SidekiqCronStep => ({
  id: `${action}-crons`,
  kind: 'crons',
  action,
  provider: { type: 'sidekiq-cron', url: URL, namespace: 'shop', jobs: 'all' },
});
const quietStep: SidekiqJobsStep = {
  id: 'quiet-workers',
  kind: 'jobs',
  action: 'pause',
  provider: { type: 'sidekiq', url: URL, namespace: 'shop', queues: 'all' },
};

let redis: Redis;
let sim: SidekiqSimulation;
const world = { workers: 2, maintenance: false, reachesOld: true };

function start(): SidekiqSimulation {
  sim = new SidekiqSimulation({
    redisUrl: URL,
    apps: [app],
    workerCount: () => world.workers,
    inMaintenance: () => world.maintenance,
    reachesOld: () => world.reachesOld,
    slow: () => false,
    heartbeatMs: env.sidekiqHeartbeatMs,
    tickMs: 10,
    scheduleAheadMs: { min: 50, max: 200 },
    log,
  });
  sim.start();
  return sim;
}

async function ready(): Promise<void> {
  await expect.poll(() => sim.status().state, { timeout: 15_000 }).toBe('ready');
  await expect.poll(() => sim.snapshot('shop')?.processes, { timeout: 15_000 }).toBe(world.workers);
}

/** Stops the sources of work Ferry's plan stops: maintenance, webhooks (the app's flag) and crons. */
async function stopNewWork(): Promise<void> {
  world.maintenance = true;
  await redis.set(keysOf('shop').webhooksPaused, '1');
  const crons = sidekiqCronHandler(env);
  const ctx = makeStepContext();
  await crons.run(cronStep('disable'), await crons.capture(cronStep('disable'), ctx), ctx);
}

beforeAll(() => {
  redis = openTestRedis(DB);
});
beforeEach(async () => {
  await redis.flushdb();
  Object.assign(world, { workers: 2, maintenance: false, reachesOld: true });
});
afterEach(async () => {
  await sim?.stop();
});
afterAll(async () => {
  await redis.quit();
});

describe('the simulated old platform', () => {
  it('seeds Sidekiq and sidekiq-cron data that Ferry reads as it reads a real app', async () => {
    start();
    await ready();
    expect(await sidekiqCronHandler(env).describe(cronStep('disable'), makeStepContext())).toBe(
      'disable 1 of 2 sidekiq-cron jobs (1 already disabled)',
    );
    const described = await sidekiqDrainHandler(env).describe(drainStep(), makeStepContext());
    expect(described).toMatch(
      /^wait for the old Sidekiq queues to drain: now \d+ enqueued, \d+ busy, \d+ scheduled, 0 retry$/,
    );
    expect(await redis.zcard('shop:dead')).toBe(1);
    const identities = await redis.smembers('shop:processes');
    expect(identities).toHaveLength(2);
    const info = JSON.parse((await redis.hget(`shop:${identities[0]}`, 'info')) ?? '{}') as {
      hostname?: string;
    };
    expect(info.hostname).toMatch(/^worker\.\d$/);
  });

  it('keeps its backlog while the app takes traffic, so a drain started too early times out and says why', async () => {
    start();
    await ready();
    const error = await sidekiqDrainHandler(env)
      .run(drainStep(400), null, makeStepContext())
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(StepError);
    expect((error as StepError).message).toMatch(/^not drained after 400ms: \d+ enqueued/);
    expect((error as StepError).message).toContain('2 Sidekiq processes still running on the old Redis');
  });

  it("drains once maintenance, the webhook flag and the disabled crons stop new work, and Ferry's drain step agrees", async () => {
    start();
    await ready();
    await stopNewWork();
    const ctx = makeStepContext();
    const result = await sidekiqDrainHandler(env).run(drainStep(15_000), null, ctx);
    expect(result.summary).toMatch(
      /^old Sidekiq queues drained: 0 enqueued, 0 busy, 0 scheduled, 0 retry for/,
    );
    expect(result.summary).toContain('1 dead (not retried, informational)');
    expect(ctx.reports.some((r) => /jobs? left/.test(r.text))).toBe(true);
  });

  it('stops processing when the worker dynos scale to zero, putting unfinished jobs back in their queues', async () => {
    start();
    await ready();
    world.maintenance = true;
    world.workers = 0;
    await expect.poll(() => redis.scard('shop:processes'), { timeout: 15_000 }).toBe(0);
    const left = await redis.llen('shop:queue:default');
    expect(left + (await redis.llen('shop:queue:low'))).toBeGreaterThan(0);
    // Nobody works them off now: the drain would wait for ever, as on Heroku with no worker dynos.
    const error = await sidekiqDrainHandler(env)
      .run(drainStep(300), null, makeStepContext())
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect((error as StepError).message).toContain('No Sidekiq process is running on the old Redis');
  });

  it("goes quiet when Ferry's jobs step signals TSTP, at the next heartbeat, and then fetches nothing", async () => {
    start();
    await ready();
    world.maintenance = true;
    const pause = sidekiqPauseHandler(env);
    const ctx = makeStepContext();
    const captured = await pause.capture(quietStep, ctx);
    expect(captured.identities).toHaveLength(2);
    const result = await pause.run(quietStep, captured, ctx);
    expect(result.summary).toContain('quieted 2 of 2 Sidekiq processes');
    await expect.poll(() => sim.snapshot('shop')?.quiet, { timeout: 15_000 }).toBe(2);
    await expect.poll(() => sim.snapshot('shop')?.busy, { timeout: 15_000 }).toBe(0);
    const queued = sim.snapshot('shop')?.enqueued ?? 0;
    expect(queued).toBeGreaterThan(0);
    expect(await pause.describe(quietStep, makeStepContext())).toBe(
      'quiet 0 of 2 Sidekiq processes (2 already quiet)',
    );
  });

  it('leaves Redis as a Sidekiq shutdown does: no processes, unfinished jobs requeued', async () => {
    start();
    await ready();
    world.maintenance = true;
    await sim.stop();
    expect(await redis.scard('shop:processes')).toBe(0);
    expect(await redis.keys('shop:worker.*')).toEqual([]);
  });
});
