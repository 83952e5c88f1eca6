import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { StepError } from '../../src/errors.ts';
import { HerokuClient, herokuFormationHandler, herokuMaintenanceHandler } from '../../src/adapters/heroku.ts';
import type {
  HerokuFormationCaptured,
  HerokuFormationStep,
  HerokuToggleStep,
} from '../../src/adapters/heroku.ts';
import type { AdapterEnv } from '../../src/adapters/types.ts';
import { stepSchema } from '../../src/plan/schema.ts';
import { FakeHeroku } from '../../src/sandbox/fakes/heroku.ts';
import type { ListeningFake } from '../../src/sandbox/fakes/fake-http.ts';
import { makeAdapterEnv, makeStepContext } from '../support/step-context.ts';

const TOKEN = 'heroku-secret-token-1234567890';

let fake: FakeHeroku;
let server: ListeningFake;
let env: AdapterEnv;
let client: HerokuClient;

beforeAll(async () => {
  fake = new FakeHeroku({ token: TOKEN, pageSize: 1 });
  server = await fake.listen();
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  fake
    .addApp('billing-production', { maintenance: false, formation: { web: 2, worker: 3, clock: 1 } })
    .addApp('billing-staging', { maintenance: false, formation: { web: 1, worker: 3, clock: 1 } });
  fake.rateLimitRemaining = 4500;
  fake.clearFaults();
  fake.requests.length = 0;
  env = makeAdapterEnv({ heroku: { apiUrl: server.url, token: TOKEN }, httpTimeoutMs: 1_000 });
  client = new HerokuClient(env, {
    retry: { baseDelayMs: 1, maxDelayMs: 5 },
    slowDownBelow: 100,
    slowDownMs: 20,
  });
});

function toggleStep(action: 'on' | 'off', app = 'billing-production'): HerokuToggleStep {
  return stepSchema.parse({
    id: `maintenance-${action}`,
    kind: 'maintenance',
    action,
    provider: { type: 'heroku', app },
  }) as HerokuToggleStep;
}

function formationStep(
  id: string,
  kind: 'jobs' | 'crons',
  action: 'pause' | 'resume' | 'disable' | 'enable',
  processTypes: string[],
  app = 'billing-staging',
): HerokuFormationStep {
  return stepSchema.parse({
    id,
    kind,
    action,
    provider: { type: 'heroku-formation', app, process_types: processTypes },
  }) as HerokuFormationStep;
}

function expectStepError(error: unknown): StepError {
  expect(error).toBeInstanceOf(StepError);
  return error as StepError;
}

describe('Heroku maintenance', () => {
  it('turns maintenance on and undo restores the captured value', async () => {
    const handler = herokuMaintenanceHandler(env, client);
    const step = toggleStep('on');
    const ctx = makeStepContext();

    expect(await handler.describe(step, ctx)).toBe('Heroku billing-production maintenance off -> on');
    const captured = await handler.capture(step, ctx);
    expect(captured).toEqual({ maintenance: false });

    const result = await handler.run(step, captured, ctx);
    expect(result.summary).toBe('Heroku billing-production maintenance on (was off)');
    expect(fake.app('billing-production')?.maintenance).toBe(true);

    const undone = await handler.undo!(step, captured, ctx);
    expect(undone.summary).toBe('Heroku billing-production maintenance back off');
    expect(fake.app('billing-production')?.maintenance).toBe(false);

    const patches = fake.requests.filter((r) => r.method === 'PATCH');
    expect(patches.map((r) => r.body)).toEqual([{ maintenance: true }, { maintenance: false }]);
  });

  it('replays safely after a crash between capture and the change: sets, never toggles', async () => {
    const handler = herokuMaintenanceHandler(env, client);
    const step = toggleStep('on');
    const ctx = makeStepContext();
    const captured = await handler.capture(step, ctx);
    // The process dies here; the executor replays run with the committed capture, possibly twice.
    const replayed = JSON.parse(JSON.stringify(captured)) as typeof captured;
    await handler.run(step, replayed, makeStepContext({ attempt: 2 }));
    await handler.run(step, replayed, makeStepContext({ attempt: 3 }));
    expect(fake.app('billing-production')?.maintenance).toBe(true);

    // A second capture now would read "on"; undo uses the first one and puts back "off".
    await handler.undo!(step, replayed, makeStepContext());
    expect(fake.app('billing-production')?.maintenance).toBe(false);
  });

  it('waits out a 429 rate_limit and then succeeds', async () => {
    const handler = herokuMaintenanceHandler(env, client);
    fake.rateLimitNext(2);
    const ctx = makeStepContext();
    const captured = await handler.capture(toggleStep('on'), ctx);
    expect(captured).toEqual({ maintenance: false });
    expect(fake.requests.filter((r) => r.method === 'GET')).toHaveLength(3);
    expect(ctx.sleeps).toHaveLength(2);
  });

  it('gives up on a persistent rate limit with a retryable error in Heroku words', async () => {
    fake.rateLimitNext(3);
    const limited = new HerokuClient(env, { retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
    const error = await herokuMaintenanceHandler(env, limited)
      .capture(toggleStep('on'), makeStepContext())
      .catch((e: unknown) => e);
    const stepError = expectStepError(error);
    expect(stepError.retryable).toBe(true);
    expect(stepError.reason).toBe('rate_limit');
    expect(stepError.message).toContain('rate limit');
    expect(stepError.message).toContain('Your account reached the API rate limit');
    expect(fake.requests).toHaveLength(3);
  });

  it('slows down when RateLimit-Remaining runs low', async () => {
    const handler = herokuMaintenanceHandler(env, client);
    const relaxed = makeStepContext();
    await handler.capture(toggleStep('on'), relaxed);
    await handler.capture(toggleStep('on'), relaxed);
    expect(client.rateLimitRemaining).toBe(4500);
    expect(relaxed.sleeps).toEqual([]);

    fake.rateLimitRemaining = 10;
    const low = makeStepContext();
    await handler.capture(toggleStep('on'), low); // this answer reports 10 remaining
    await handler.capture(toggleStep('on'), low); // so this call waits first
    expect(client.rateLimitRemaining).toBe(10);
    expect(low.sleeps).toHaveLength(1);
    expect(low.sleeps[0]).toBeGreaterThan(0);
  });

  it('says plainly when the app does not exist', async () => {
    const error = await herokuMaintenanceHandler(env, client)
      .capture(toggleStep('on', 'billing-stagin'), makeStepContext())
      .catch((e: unknown) => e);
    const stepError = expectStepError(error);
    expect(stepError.message).toBe(
      "Heroku says app billing-stagin was not found (404 not_found): check the app name and that the token's account can see it",
    );
    expect(stepError.retryable).toBe(false);
  });

  it('explains a refused token without showing it', async () => {
    const badEnv = makeAdapterEnv({ heroku: { apiUrl: server.url, token: 'wrong-token-abcdef123456' } });
    const error = await herokuMaintenanceHandler(badEnv, new HerokuClient(badEnv))
      .capture(toggleStep('on'), makeStepContext())
      .catch((e: unknown) => e);
    const stepError = expectStepError(error);
    expect(stepError.message).toContain(
      'Heroku refused the API token (401 unauthorized: Invalid credentials provided.)',
    );
    expect(stepError.message).toContain('HEROKU_API_TOKEN');
    expect(stepError.message).not.toContain('wrong-token-abcdef123456');
  });

  it('refuses to start without a token', async () => {
    const noToken = makeAdapterEnv({ heroku: { apiUrl: server.url, token: undefined } });
    const error = await herokuMaintenanceHandler(noToken, new HerokuClient(noToken))
      .capture(toggleStep('on'), makeStepContext())
      .catch((e: unknown) => e);
    expect(expectStepError(error).message).toContain('HEROKU_API_TOKEN is not set');
    expect(fake.requests).toHaveLength(0);
  });

  it('times out on a Heroku that never answers, with a retryable error', async () => {
    fake.hangNext();
    const slowEnv = makeAdapterEnv({ heroku: { apiUrl: server.url, token: TOKEN }, httpTimeoutMs: 100 });
    const impatient = new HerokuClient(slowEnv, { retry: { attempts: 1 } });
    const error = await herokuMaintenanceHandler(slowEnv, impatient)
      .capture(toggleStep('on'), makeStepContext())
      .catch((e: unknown) => e);
    const stepError = expectStepError(error);
    expect(stepError.retryable).toBe(true);
    expect(stepError.reason).toBe('timeout');
    expect(stepError.message).toContain('did not answer GET');
    expect(stepError.message).toContain('within 100 ms');
  });
});

describe('Heroku formation', () => {
  it('pauses workers and resume restores the exact quantities the pause step captured', async () => {
    const handler = herokuFormationHandler(env, client);
    const pause = formationStep('pause-workers', 'jobs', 'pause', ['worker', 'clock']);
    const ctx = makeStepContext();

    expect(await handler.describe(pause, ctx)).toBe('scale billing-staging worker 3 -> 0, clock 1 -> 0');
    const pauseCaptured = await handler.capture(pause, ctx);
    expect(pauseCaptured.quantities).toEqual({ worker: 3, clock: 1 });
    // pageSize 1: the list came in pages that Ferry followed with Next-Range.
    const ranges = fake.requests
      .filter((r) => r.path.endsWith('/formation') && r.method === 'GET')
      .map((r) => r.range);
    expect(ranges.slice(0, 3)).toEqual([undefined, ']formation-clock..; max=1', ']formation-web..; max=1']);

    const paused = await handler.run(pause, pauseCaptured, ctx);
    expect(paused.summary).toBe('scaled billing-staging worker 3 -> 0, clock 1 -> 0');
    expect(paused.figures).toEqual({
      'dynos.worker.before': 3,
      'dynos.worker.after': 0,
      'dynos.clock.before': 1,
      'dynos.clock.after': 0,
    });
    expect(fake.app('billing-staging')?.formation.worker?.quantity).toBe(0);
    expect(fake.requests.find((r) => r.method === 'PATCH')?.body).toEqual({
      updates: [
        { type: 'worker', quantity: 0 },
        { type: 'clock', quantity: 0 },
      ],
    });

    const resume = formationStep('resume-workers', 'jobs', 'resume', ['worker', 'clock']);
    const later = makeStepContext({
      earlier: [{ step: pause, captured: JSON.parse(JSON.stringify(pauseCaptured)) }],
    });
    expect(await handler.describe(resume, later)).toBe('scale billing-staging worker 0 -> 3, clock 0 -> 1');
    const resumeCaptured = await handler.capture(resume, later);
    expect(resumeCaptured).toMatchObject({
      quantities: { worker: 0, clock: 0 },
      target: { worker: 3, clock: 1 },
    });
    const resumed = await handler.run(resume, resumeCaptured, later);
    expect(resumed.summary).toBe('scaled billing-staging worker 0 -> 3, clock 0 -> 1');
    expect(fake.app('billing-staging')?.formation).toMatchObject({
      worker: { quantity: 3 },
      clock: { quantity: 1 },
      web: { quantity: 1 },
    });

    // Undoing the resume puts back what the resume captured (0), not a guess.
    await handler.undo!(resume, resumeCaptured, later);
    expect(fake.app('billing-staging')?.formation).toMatchObject({
      worker: { quantity: 0 },
      clock: { quantity: 0 },
    });
  });

  it('undo of a pause restores the captured quantities', async () => {
    const handler = herokuFormationHandler(env, client);
    const pause = formationStep('pause-workers', 'jobs', 'pause', ['worker']);
    const ctx = makeStepContext();
    const captured = await handler.capture(pause, ctx);
    await handler.run(pause, captured, ctx);
    expect(fake.app('billing-staging')?.formation.worker?.quantity).toBe(0);
    const undone = await handler.undo!(pause, captured, ctx);
    expect(undone.summary).toBe('scaled billing-staging worker 0 -> 3 (restored)');
    expect(fake.app('billing-staging')?.formation.worker?.quantity).toBe(3);
  });

  it('enables crons from the latest disable step of the same app, even with another app in between', async () => {
    const handler = herokuFormationHandler(env, client);
    const disableProd = formationStep(
      'disable-crons-prod',
      'crons',
      'disable',
      ['clock'],
      'billing-production',
    );
    const disable = formationStep('disable-crons', 'crons', 'disable', ['clock']);
    const enable = formationStep('enable-crons', 'crons', 'enable', ['clock']);
    const earlier = [
      {
        step: disable,
        captured: {
          app: 'billing-staging',
          quantities: { clock: 2 },
          target: { clock: 0 },
        } satisfies HerokuFormationCaptured,
      },
      {
        step: disableProd,
        captured: { app: 'billing-production', quantities: { clock: 5 }, target: { clock: 0 } },
      },
    ];
    const ctx = makeStepContext({ earlier });
    const captured = await handler.capture(enable, ctx);
    expect(captured.target).toEqual({ clock: 2 });
    expect(captured.restoredFrom).toBe('disable-crons');
    await handler.run(enable, captured, ctx);
    expect(fake.app('billing-staging')?.formation.clock?.quantity).toBe(2);
  });

  it('refuses to resume when no earlier step captured the quantities', async () => {
    const handler = herokuFormationHandler(env, client);
    const error = await handler
      .capture(formationStep('resume-workers', 'jobs', 'resume', ['worker']), makeStepContext())
      .catch((e: unknown) => e);
    const stepError = expectStepError(error);
    expect(stepError.message).toContain('how many to scale to is unknown');
    expect(stepError.message).toContain('heroku ps:scale worker=N -a billing-staging');
    expect(fake.requests.filter((r) => r.method === 'PATCH')).toHaveLength(0);
  });

  it("names the app's process types when the plan names one it does not have", async () => {
    const handler = herokuFormationHandler(env, client);
    const error = await handler
      .capture(formationStep('pause-workers', 'jobs', 'pause', ['worker', 'sidekiq']), makeStepContext())
      .catch((e: unknown) => e);
    const stepError = expectStepError(error);
    expect(stepError.message).toBe(
      'Heroku app billing-staging has no process type "sidekiq"; its process types are: clock, web, worker. Fix process_types in the plan',
    );
    expect(stepError.reason).toBe('unknown_process_type');
  });
});

describe('Heroku config vars', () => {
  it('reads config vars as a flat object', async () => {
    fake.addApp('billing-config', {
      configVars: { DATABASE_URL: 'postgres://u:p@db/x', RAILS_ENV: 'production' },
    });
    const vars = await client.readConfigVars('billing-config', makeStepContext());
    expect(vars).toEqual({ DATABASE_URL: 'postgres://u:p@db/x', RAILS_ENV: 'production' });
  });
});
