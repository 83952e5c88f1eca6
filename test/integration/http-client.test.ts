import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { displayUrl, httpCall, retryAfterMs } from '../../src/adapters/http-client.ts';
import { StepError } from '../../src/errors.ts';
import { listenFake, sendJson } from '../../src/sandbox/fakes/fake-http.ts';
import type { ListeningFake } from '../../src/sandbox/fakes/fake-http.ts';
import { makeStepContext } from '../support/step-context.ts';

// A scripted server: each path answers from its own queue of responses, then 200.
const scripts = new Map<string, Array<(res: ServerResponse) => void>>();
const hits = new Map<string, number>();
let server: ListeningFake;

beforeAll(async () => {
  server = await listenFake((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const next = scripts.get(path)?.shift();
    if (next) next(res);
    else sendJson(res, 200, { ok: true, path });
    return Promise.resolve(true);
  });
});
afterAll(async () => {
  await server.close();
});

function script(path: string, ...steps: Array<(res: ServerResponse) => void>) {
  scripts.set(path, steps);
  hits.set(path, 0);
  return `${server.url}${path}`;
}

const status =
  (code: number, body: unknown = { message: `status ${code}` }, headers: Record<string, string> = {}) =>
  (res: ServerResponse) =>
    sendJson(res, code, body, headers);

async function failure(promise: Promise<unknown>): Promise<StepError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(StepError);
  return error as StepError;
}

const opts = { timeoutMs: 1_000, system: 'Example', retry: { baseDelayMs: 1, maxDelayMs: 50 } };

describe('httpCall', () => {
  it('parses a JSON answer and counts attempts', async () => {
    const res = await httpCall(fetch, script('/ok'), opts, makeStepContext());
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ok: true, path: '/ok' });
    expect(res.attempts).toBe(1);
  });

  it('waits as long as Retry-After says on a 429', async () => {
    const url = script('/limited', status(429, { message: 'slow down' }, { 'Retry-After': '0.03' }));
    const ctx = makeStepContext();
    const res = await httpCall(fetch, url, opts, ctx);
    expect(res.attempts).toBe(2);
    expect(ctx.sleeps).toEqual([30]);
  });

  it('does not sit out a Retry-After longer than its longest wait: the executor retries later', async () => {
    const url = script('/long', status(503, { message: 'maintenance window' }, { 'Retry-After': '3600' }));
    const ctx = makeStepContext();
    const error = await failure(httpCall(fetch, url, opts, ctx));
    expect(error.retryable).toBe(true);
    expect(error.message).toBe(
      `Example answered 503 to GET ${url}: maintenance window; it may be temporary; retry in a moment`,
    );
    expect(ctx.sleeps).toEqual([]);
    expect(hits.get('/long')).toBe(1);
  });

  it('backs off on 5xx and gives up after the last attempt with a retryable error', async () => {
    const url = script('/flaky', status(502), status(502), status(502));
    const ctx = makeStepContext();
    const error = await failure(
      httpCall(fetch, url, { ...opts, retry: { attempts: 3, baseDelayMs: 2, maxDelayMs: 50 } }, ctx),
    );
    expect(error.retryable).toBe(true);
    expect(hits.get('/flaky')).toBe(3);
    expect(ctx.sleeps).toHaveLength(2);
    // Equal jitter: the second wait's range [2, 4) sits above the first's [1, 2).
    expect(ctx.sleeps[1]!).toBeGreaterThanOrEqual(ctx.sleeps[0]!);
  });

  it('does not retry a 4xx and says what the system said', async () => {
    const url = script('/bad', status(422, { message: 'quantity must be a number' }));
    const ctx = makeStepContext();
    const error = await failure(
      httpCall(fetch, url, { ...opts, method: 'PATCH', json: { quantity: 'x' } }, ctx),
    );
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(
      `Example answered 422 to PATCH ${url}: quantity must be a number; check the request in the plan`,
    );
    expect(hits.get('/bad')).toBe(1);
  });

  it('scrubs a token the system echoes back', async () => {
    const token = 'tok-abcdef-0123456789';
    const url = script('/echo', status(401, { message: `token ${token} is not valid` }));
    const error = await failure(
      httpCall(
        fetch,
        url,
        { ...opts, headers: { Authorization: `Bearer ${token}` }, secrets: [token] },
        makeStepContext(),
      ),
    );
    expect(error.message).toContain('token *** is not valid');
    expect(error.message).not.toContain(token);
  });

  it('retries a refused connection and ends with a retryable error naming the cause', async () => {
    const ctx = makeStepContext();
    const error = await failure(
      httpCall(fetch, 'http://127.0.0.1:1/x', { ...opts, retry: { attempts: 2, baseDelayMs: 1 } }, ctx),
    );
    expect(error.retryable).toBe(true);
    expect(error.reason).toBe('network');
    expect(error.message).toContain('Example could not be reached for GET http://127.0.0.1:1/x');
    expect(error.message).toContain('2 attempts');
    expect(ctx.sleeps).toHaveLength(1);
  });
});

describe('helpers', () => {
  it('reads Retry-After as seconds or as a date', () => {
    expect(retryAfterMs(new Headers({ 'Retry-After': '2' }))).toBe(2000);
    const now = Date.parse('2024-01-01T00:00:00Z');
    expect(retryAfterMs(new Headers({ 'Retry-After': 'Mon, 01 Jan 2024 00:00:05 GMT' }), now)).toBe(5000);
    expect(retryAfterMs(new Headers())).toBeUndefined();
  });

  it('shows URLs without credentials or secret query values', () => {
    expect(displayUrl('https://user:pw@example.com/admin?token=abc&page=2')).toBe(
      'https://***@example.com/admin?token=***&page=2',
    );
    expect(displayUrl('https://example.com/healthz')).toBe('https://example.com/healthz');
  });
});
