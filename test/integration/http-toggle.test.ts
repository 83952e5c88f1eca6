import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StepError } from '../../src/errors.ts';
import { httpToggleHandler } from '../../src/adapters/http-toggle.ts';
import type { HttpToggleStep } from '../../src/adapters/http-toggle.ts';
import { stepSchema } from '../../src/plan/schema.ts';
import { FakeMaintenance } from '../../src/sandbox/fakes/maintenance.ts';
import { listenFake, sendJson } from '../../src/sandbox/fakes/fake-http.ts';
import type { ListeningFake } from '../../src/sandbox/fakes/fake-http.ts';
import { makeAdapterEnv, makeStepContext } from '../support/step-context.ts';

const TOKEN = 'billing-admin-token-0123456789';

let fake: FakeMaintenance;
let server: ListeningFake;

beforeAll(async () => {
  fake = new FakeMaintenance({ token: TOKEN });
  server = await fake.listen();
});
afterAll(async () => {
  await server.close();
});

const env = makeAdapterEnv({ httpTimeoutMs: 1_000 });
const fastRetry = { retry: { baseDelayMs: 1, maxDelayMs: 5 } };

function step(
  app: string,
  action: 'on' | 'off',
  extra: Record<string, unknown> = {},
  kind = 'maintenance',
): HttpToggleStep {
  return stepSchema.parse({
    id: `${kind}-${action}`,
    kind,
    action,
    provider: { type: 'http', url: `${server.url}${fake.pathFor(app)}`, token: TOKEN, ...extra },
  }) as HttpToggleStep;
}

async function failure(promise: Promise<unknown>): Promise<StepError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepError);
  return error as StepError;
}

describe('http maintenance toggle', () => {
  it('turns maintenance on with a Bearer PUT and undo restores the captured value', async () => {
    const handler = httpToggleHandler(env, fastRetry);
    const s = step('billing', 'on');
    const ctx = makeStepContext();
    expect(await handler.describe(s, ctx)).toBe(`${server.url}/fake/maintenance/billing: off -> on`);
    const captured = await handler.capture(s, ctx);
    expect(captured).toEqual({ enabled: false });
    const result = await handler.run(s, captured, ctx);
    expect(result.summary).toBe(`${server.url}/fake/maintenance/billing: on (was off)`);
    expect(fake.state('billing')).toEqual({ enabled: true, writes: 1 });
    await handler.undo!(s, captured, ctx);
    expect(fake.state('billing').enabled).toBe(false);
  });

  it('keeps apps apart and sets values idempotently on replay', async () => {
    const handler = httpToggleHandler(env, fastRetry);
    fake.set('payments', true);
    const s = step('search', 'on', {}, 'flag');
    const captured = await handler.capture(s, makeStepContext());
    await handler.run(s, captured, makeStepContext());
    await handler.run(s, captured, makeStepContext({ attempt: 2 }));
    expect(fake.state('search').enabled).toBe(true);
    expect(fake.state('payments').enabled).toBe(true);
    const off = step('payments', 'off');
    const offCaptured = await handler.capture(off, makeStepContext());
    expect(offCaptured).toEqual({ enabled: true });
    await handler.run(off, offCaptured, makeStepContext());
    expect(fake.state('payments').enabled).toBe(false);
    await handler.undo!(off, offCaptured, makeStepContext());
    expect(fake.state('payments').enabled).toBe(true);
  });

  it('explains a wrong token without showing it', async () => {
    const handler = httpToggleHandler(env, fastRetry);
    const s = step('billing', 'on', { token: 'not-the-right-token-42' });
    const error = await failure(handler.capture(s, makeStepContext()));
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('refused the token (403: invalid token)');
    expect(error.message).toContain('provider.token');
    expect(error.message).not.toContain('not-the-right-token-42');
  });

  it('asks for a token when the plan gives none', async () => {
    const handler = httpToggleHandler(env, fastRetry);
    const s = step('billing', 'on', { token: undefined });
    const error = await failure(handler.capture(s, makeStepContext()));
    expect(error.message).toContain('wants a token (401: missing Authorization header)');
  });

  it('retries a 503 and succeeds', async () => {
    const handler = httpToggleHandler(env, fastRetry);
    fake.failNext(503);
    const ctx = makeStepContext();
    expect(await handler.capture(step('retry-app', 'on'), ctx)).toEqual({ enabled: false });
    expect(ctx.sleeps).toHaveLength(1);
  });

  it('gives up on a server that never answers with a retryable timeout error', async () => {
    const handler = httpToggleHandler(makeAdapterEnv({ httpTimeoutMs: 80 }), {
      retry: { attempts: 2, baseDelayMs: 1 },
    });
    fake.hangNext().hangNext();
    const error = await failure(handler.capture(step('slow', 'on'), makeStepContext()));
    expect(error.retryable).toBe(true);
    expect(error.reason).toBe('timeout');
    expect(error.message).toContain('did not answer GET');
    expect(error.message).toContain('within 80 ms (2 attempts)');
  });

  it("honours the provider's own timeout over the default", async () => {
    const handler = httpToggleHandler(makeAdapterEnv({ httpTimeoutMs: 60_000 }), { retry: { attempts: 1 } });
    fake.hangNext();
    const error = await failure(handler.capture(step('slow', 'on', { timeout: '50ms' }), makeStepContext()));
    expect(error.message).toContain('within 50 ms');
  });

  it('stops at once when the step is aborted', async () => {
    const handler = httpToggleHandler(makeAdapterEnv({ httpTimeoutMs: 60_000 }));
    fake.hangNext();
    const ctx = makeStepContext();
    const pending = handler.capture(step('slow', 'on'), ctx);
    setTimeout(() => ctx.controller.abort(new Error('run aborted')), 20);
    const error = await failure(pending);
    expect(error.reason).toBe('aborted');
  });

  it('says when the endpoint is not there', async () => {
    const handler = httpToggleHandler(env, fastRetry);
    const s = stepSchema.parse({
      id: 'm',
      kind: 'maintenance',
      action: 'on',
      provider: { type: 'http', url: `${server.url}/nothing-here` },
    }) as HttpToggleStep;
    const error = await failure(handler.capture(s, makeStepContext()));
    expect(error.message).toContain('was not found (404');
  });

  it('rejects an endpoint that does not speak {"enabled": bool}', async () => {
    const other = await listenFake((_req, res) => {
      sendJson(res, 200, { status: 'ok' });
      return Promise.resolve(true);
    });
    try {
      const handler = httpToggleHandler(env, fastRetry);
      const s = stepSchema.parse({
        id: 'm',
        kind: 'maintenance',
        action: 'on',
        provider: { type: 'http', url: `${other.url}/healthz` },
      }) as HttpToggleStep;
      const error = await failure(handler.capture(s, makeStepContext()));
      expect(error.message).toContain('not {"enabled": true|false}');
      expect(error.retryable).toBe(false);
    } finally {
      await other.close();
    }
  });

  it('never puts userinfo from the URL into a message', async () => {
    const handler = httpToggleHandler(makeAdapterEnv({ httpTimeoutMs: 50 }), { retry: { attempts: 1 } });
    const url = `${server.url.replace('http://', 'http://admin:hunter2secret@')}${fake.pathFor('x')}`;
    const s = stepSchema.parse({
      id: 'm',
      kind: 'maintenance',
      action: 'on',
      provider: { type: 'http', url },
    }) as HttpToggleStep;
    const text = await handler.describe(s, makeStepContext());
    expect(text).not.toContain('hunter2secret');
    expect(text).toContain('***@127.0.0.1');
  });
});
