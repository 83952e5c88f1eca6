import type { RequestListener, Server } from 'node:http';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, listen, type Route } from '../../src/http/server.ts';
import { createTestSchema, type TestSchema } from '../support/db.ts';

// The one HTTP port: health, readiness against a real Postgres, Prometheus metrics, Slack's request
// URL and extra routes. Real requests with fetch to 127.0.0.1.

interface Started {
  url: string;
  server: Server;
}

async function start(overrides: Partial<Parameters<typeof createHttpServer>[0]> = {}): Promise<Started> {
  const metrics = new Registry();
  const server = createHttpServer({
    slack: () => 'socket-mode',
    ready: () => Promise.resolve(true),
    metrics,
    routes: () => [],
    ...overrides,
  });
  const port = await listen(server, 0, '127.0.0.1');
  return { url: `http://127.0.0.1:${port}`, server };
}

const stopServer = (s: Started | undefined) =>
  new Promise<void>((resolve) => {
    if (!s) return resolve();
    s.server.closeAllConnections();
    s.server.close(() => resolve());
  });

describe('http server', () => {
  let pg: TestSchema;
  let servers: Started[] = [];
  const slackCalls: string[] = [];
  const slack: RequestListener = (req, res) => {
    slackCalls.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('acked by bolt');
  };

  beforeAll(async () => {
    pg = await createTestSchema({ prefix: 'http' });
  });
  afterAll(async () => {
    await Promise.all(servers.map(stopServer));
    servers = [];
    await pg.dispose();
  });

  const serve = async (overrides: Partial<Parameters<typeof createHttpServer>[0]> = {}) => {
    const s = await start(overrides);
    servers.push(s);
    return s.url;
  };

  it('answers GET /healthz with 200', async () => {
    const url = await serve();
    const res = await fetch(`${url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });
  });

  it('answers GET /readyz with 200 while the database answers', async () => {
    const url = await serve({ ready: async () => (await pg.db.pool.query('select 1')).rowCount === 1 });
    const res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, database: 'reachable' });
  });

  it('answers GET /readyz with 503 when the database check fails or throws', async () => {
    const falseUrl = await serve({ ready: () => Promise.resolve(false) });
    const res = await fetch(`${falseUrl}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ok: false, database: 'unreachable' });

    // A real failure: a pool that has been closed refuses every query.
    const closed = await createTestSchema({ prefix: 'http_closed' });
    await closed.db.close();
    const throwingUrl = await serve({
      ready: async () => (await closed.db.pool.query('select 1')).rowCount === 1,
    });
    const thrown = await fetch(`${throwingUrl}/readyz`);
    expect(thrown.status).toBe(503);
    expect(await thrown.json()).toEqual({ ok: false, database: 'unreachable' });
    await closed.dispose();
  });

  it('serves Prometheus text on GET /metrics', async () => {
    const metrics = new Registry();
    const counter = new Counter({
      name: 'ferry_test_clicks_total',
      help: 'Clicks seen in this test',
      registers: [metrics],
    });
    counter.inc(3);
    const url = await serve({ metrics });
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    expect(body).toContain('# HELP ferry_test_clicks_total Clicks seen in this test');
    expect(body).toContain('# TYPE ferry_test_clicks_total counter');
    expect(body).toMatch(/^ferry_test_clicks_total 3$/m);
  });

  it('answers an unknown path with 404', async () => {
    const url = await serve();
    const res = await fetch(`${url}/nope`);
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('not found');
  });

  it('hands POST /slack/events to Bolt and answers GET with 405', async () => {
    const url = await serve({ slack: () => slack });
    const post = await fetch(`${url}/slack/events`, { method: 'POST', body: 'payload=x' });
    expect(post.status).toBe(200);
    expect(await post.text()).toBe('acked by bolt');
    const get = await fetch(`${url}/slack/events`);
    expect(get.status).toBe(405);
    expect(slackCalls).toEqual(['POST /slack/events']);
  });

  it('answers /slack/events with 404 in Socket Mode, where Slack sends nothing over HTTP', async () => {
    const url = await serve({ slack: () => 'socket-mode' });
    const res = await fetch(`${url}/slack/events`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(404);
  });

  it('answers /slack/events with 503 and Retry-After while the Slack listener is not wired yet', async () => {
    const url = await serve({ slack: () => 'unavailable' });
    const res = await fetch(`${url}/slack/events`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
  });

  it('ignores the query string when routing', async () => {
    const url = await serve();
    expect((await fetch(`${url}/healthz?probe=kubelet`)).status).toBe(200);
  });

  it('asks extra routes before answering 404, in order', async () => {
    const seen: string[] = [];
    const routes: Route[] = [
      (req) => {
        seen.push(`first ${req.url}`);
        return Promise.resolve(false);
      },
      (req, res) => {
        seen.push(`second ${req.url}`);
        if (req.url !== '/console') return Promise.resolve(false);
        res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>console</h1>');
        return Promise.resolve(true);
      },
    ];
    const url = await serve({ routes: () => routes });
    const res = await fetch(`${url}/console`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('<h1>console</h1>');
    expect(seen).toEqual(['first /console', 'second /console']);
    // Health endpoints do not depend on the extra routes.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(seen).toHaveLength(2);
  });

  it('answers 500 when a route throws, logs the error, tells the client nothing of it, and keeps serving', async () => {
    const logged: unknown[] = [];
    const url = await serve({
      routes: () => [() => Promise.reject(new Error('route broke at postgres://ferry:pw@db'))],
      onError: (error) => logged.push(error),
    });
    const res = await fetch(`${url}/anything`);
    expect(res.status).toBe(500);
    expect(await res.text()).toBe('internal error');
    expect(logged).toHaveLength(1);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('answers /readyz with 503 when the database does not answer within the bound', async () => {
    const url = await serve({ ready: () => new Promise<boolean>(() => undefined), readyTimeoutMs: 50 });
    const res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ ok: false, database: 'unreachable' });
  });
});
