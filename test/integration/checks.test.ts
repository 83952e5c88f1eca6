import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckFailedError, checkHandler } from '../../src/adapters/checks.ts';
import type { CheckStep } from '../../src/adapters/checks.ts';
import { describePostgresUrl, postgresLatencyCheck } from '../../src/adapters/postgres-probe.ts';
import { StepError } from '../../src/errors.ts';
import { stepSchema } from '../../src/plan/schema.ts';
import { listenFake, sendJson } from '../../src/sandbox/fakes/fake-http.ts';
import type { ListeningFake } from '../../src/sandbox/fakes/fake-http.ts';
import { makeAdapterEnv, makeStepContext } from '../support/step-context.ts';

// Real Postgres (trust auth): the password in the URL is ignored by the server but must never show.
const PG_URL = 'postgres://root:pg-secret-pass-987@127.0.0.1:5432/test';
const REDIS_URL = 'redis://:redis-secret-pass-654@127.0.0.1:6379/0';

let site: ListeningFake;
let hits = 0;

beforeAll(async () => {
  site = await listenFake((req, res) => {
    hits += 1;
    if (req.url === '/healthz') sendJson(res, 200, { status: 'ok', db: 'up' });
    else if (req.url === '/down') sendJson(res, 503, { status: 'down' });
    else if (req.url === '/hang') return Promise.resolve(true);
    else return Promise.resolve(false);
    return Promise.resolve(true);
  });
});
afterAll(async () => {
  await site.close();
});

const env = makeAdapterEnv({ httpTimeoutMs: 2_000 });

function checkStep(checks: unknown[]): CheckStep {
  return stepSchema.parse({ id: 'smoke', kind: 'check', checks }) as CheckStep;
}

async function failureOf(promise: Promise<unknown>): Promise<CheckFailedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(CheckFailedError);
  return error as CheckFailedError;
}

describe('check step', () => {
  it('describes every check in one line, without credentials', async () => {
    const step = checkStep([
      { http: { url: `${site.url}/healthz`, expect_status: 200 } },
      { postgres: { url: PG_URL, samples: 20, max_p95_ms: 50 } },
      { redis: { url: REDIS_URL, samples: 5 } },
    ]);
    const text = await checkHandler(env).describe(step, makeStepContext());
    expect(text).toBe(
      `GET ${site.url}/healthz expects 200; postgres ***@127.0.0.1/test p95 ≤ 50 ms over 20 samples; redis redis://***@127.0.0.1:6379/0 latency over 5 samples`,
    );
  });

  it('passes an HTTP check and reports status and latency figures', async () => {
    const before = hits;
    const step = checkStep([
      { http: { url: `${site.url}/healthz`, expect_status: 200, body_contains: '"ok"', samples: 3 } },
    ]);
    const ctx = makeStepContext();
    const result = await checkHandler(env).run(step, null, ctx);
    expect(hits - before).toBe(3);
    expect(result.summary).toMatch(
      new RegExp(
        `^✓ GET ${site.url}/healthz: 200 as expected, p50 [\\d.]+ ms, p95 [\\d.]+ ms over 3 samples$`,
      ),
    );
    expect(result.figures).toMatchObject({
      'http.status': 200,
      'http.samples': 3,
      'checks.total': 1,
      'checks.failed': 0,
    });
    expect(typeof result.figures?.['http.latency.p95_ms']).toBe('number');
    expect(result.figures?.['latency.p95_ms']).toBe(result.figures?.['http.latency.p95_ms']);
    expect(ctx.reports).toHaveLength(1);
  });

  it('fails with the status it got, and keeps the figures', async () => {
    const step = checkStep([{ http: { url: `${site.url}/down`, expect_status: 200 } }]);
    const error = await failureOf(checkHandler(env).run(step, null, makeStepContext()));
    expect(error.message).toMatch(
      new RegExp(`^1 of 1 check failed: GET ${site.url}/down: answered 503, expected 200 \\([\\d.]+ ms\\)$`),
    );
    expect(error.retryable).toBe(false);
    expect(error.figures).toMatchObject({ 'http.status': 503, 'checks.failed': 1 });
  });

  it('fails when the body lacks the expected text', async () => {
    const step = checkStep([{ http: { url: `${site.url}/healthz`, body_contains: 'healthy' } }]);
    const error = await failureOf(checkHandler(env).run(step, null, makeStepContext()));
    expect(error.message).toContain('the body does not contain "healthy"');
  });

  it('fails an HTTP check that does not answer within its timeout', async () => {
    const step = checkStep([{ http: { url: `${site.url}/hang`, timeout: '50ms' } }]);
    const error = await failureOf(checkHandler(env).run(step, null, makeStepContext()));
    expect(error.message).toContain(`GET ${site.url}/hang: no answer within 50 ms`);
  });

  it('runs every check even when an early one fails, and lists only the failed ones', async () => {
    const step = checkStep([
      { http: { url: `${site.url}/down`, expect_status: 200 } },
      { http: { url: `${site.url}/healthz`, expect_status: 200 } },
      { postgres: { url: PG_URL, samples: 5 } },
    ]);
    const error = await failureOf(checkHandler(env).run(step, null, makeStepContext()));
    expect(error.outcomes.map((o) => o.ok)).toEqual([false, true, true]);
    expect(error.message).toMatch(/^1 of 3 checks failed: GET .*\/down: answered 503, expected 200/);
    expect(error.message).not.toContain('/healthz');
    expect(error.figures).toMatchObject({ 'http.status': 503, 'http2.status': 200, 'postgres.samples': 5 });
  });

  it('measures Postgres round trips and reports p50/p95 figures without the password', async () => {
    const step = checkStep([{ postgres: { url: PG_URL, samples: 10, max_p95_ms: 5_000 } }]);
    const result = await checkHandler(env).run(step, null, makeStepContext());
    expect(result.summary).toMatch(
      /^✓ Postgres \*\*\*@127\.0\.0\.1\/test: p50 [\d.]+ ms, p95 [\d.]+ ms, max [\d.]+ ms over 10 round trips, within the p95 bound of 5000 ms$/,
    );
    expect(result.figures).toMatchObject({ 'postgres.samples': 10 });
    const p50 = result.figures?.['postgres.latency.p50_ms'] as number;
    const p95 = result.figures?.['postgres.latency.p95_ms'] as number;
    expect(p50).toBeGreaterThan(0);
    expect(p95).toBeGreaterThanOrEqual(p50);
    expect(JSON.stringify(result)).not.toContain('pg-secret-pass-987');
  });

  it('fails a Postgres check whose p95 is above the bound', async () => {
    const step = checkStep([{ postgres: { url: PG_URL, samples: 3, max_p95_ms: 0.0001 } }]);
    const error = await failureOf(checkHandler(env).run(step, null, makeStepContext()));
    expect(error.message).toMatch(
      /Postgres \*\*\*@127\.0\.0\.1\/test: p95 [\d.]+ ms is above the bound of 0\.0001 ms/,
    );
  });

  it('measures Redis PINGs through the shared redis latency check', async () => {
    const step = checkStep([{ redis: { url: REDIS_URL, samples: 4 } }]);
    const result = await checkHandler(env).run(step, null, makeStepContext());
    expect(result.figures).toMatchObject({ 'redis.samples': 4 });
    expect(typeof result.figures?.['redis.latency.p95_ms']).toBe('number');
    expect(JSON.stringify(result)).not.toContain('redis-secret-pass-654');
  });
});

describe('postgresLatencyCheck', () => {
  it('names a missing database without leaking the password, as a permanent error', async () => {
    const error = await postgresLatencyCheck(
      'postgres://root:pg-secret-pass-987@127.0.0.1:5432/no_such_db_ferry',
      {
        samples: 2,
        timeoutMs: 2_000,
      },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    const stepError = error as StepError;
    expect(stepError.message).toContain('Postgres ***@127.0.0.1/no_such_db_ferry could not be reached');
    expect(stepError.message).toContain('3D000');
    expect(stepError.message).not.toContain('pg-secret-pass-987');
    expect(stepError.retryable).toBe(false);
  });

  it('reports an unreachable server as retryable', async () => {
    const error = await postgresLatencyCheck('postgres://root:pw-xyz-123@127.0.0.1:1/test', {
      samples: 1,
      timeoutMs: 1_000,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    expect((error as StepError).retryable).toBe(true);
    expect((error as StepError).message).not.toContain('pw-xyz-123');
  });

  it('hides credentials when describing a URL', () => {
    expect(describePostgresUrl('postgres://u:p@db.example.com:5433/billing')).toBe(
      '***@db.example.com:5433/billing',
    );
    expect(describePostgresUrl('postgres://db.example.com/billing')).toBe('db.example.com/billing');
  });
});
