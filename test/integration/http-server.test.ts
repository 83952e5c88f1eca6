import type { Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpServer, listen, type Route } from '../../src/http/server.ts';
import type { SlackRequestHandler } from '../../src/slack/http-receiver.ts';
import { createTestSchema, type TestSchema } from '../support/db.ts';

// The one HTTP port: health, readiness against a real Postgres, Prometheus metrics, Slack's request
// URL and extra routes. Real requests with fetch to 127.0.0.1.

interface Started {
  url: string;
  server: Server;
}

async function start(
  overrides: Partial<Parameters<typeof createHttpServer>[0]> = {},
  host = '127.0.0.1',
): Promise<Started> {
  const metrics = new Registry();
  const server = createHttpServer({
    slack: () => 'socket-mode',
    ready: () => Promise.resolve(true),
    metrics,
    routes: () => [],
    ...overrides,
  });
  const port = await listen(server, 0, host);
  return { url: `http://127.0.0.1:${port}`, server };
}

/** This machine's address on a network interface: a request to it comes from a non-loopback peer. */
function externalAddress(): string {
  const address = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  if (!address) throw new Error('this machine has no IPv4 address besides loopback; these tests need one');
  return address;
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
  const slack: SlackRequestHandler = (req, res, body) => {
    slackCalls.push(`${req.method} ${req.url} ${body.toString()}`);
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

  describe('/metrics beyond loopback', () => {
    const metrics = new Registry();
    new Counter({ name: 'ferry_test_scrapes_total', help: 'Scrapes', registers: [metrics] }).inc();

    /** A server on every interface; `local` reaches it over loopback, `remote` over the network. */
    async function exposed(metricsToken?: string): Promise<{ local: string; remote: string }> {
      const s = await start({ metrics, ...(metricsToken ? { metricsToken } : {}) }, '0.0.0.0');
      servers.push(s);
      const port = new URL(s.url).port;
      return { local: s.url, remote: `http://${externalAddress()}:${port}` };
    }

    it('refuses a scrape from another machine with 403 and how to enable it, when FERRY_METRICS_TOKEN is unset', async () => {
      const { local, remote } = await exposed();
      const refused = await fetch(`${remote}/metrics`);
      expect(refused.status).toBe(403);
      expect(await refused.text()).toBe(
        '/metrics answers only this machine: Ferry listens beyond loopback (FERRY_HOST) and FERRY_METRICS_TOKEN is unset. To scrape from elsewhere, set FERRY_METRICS_TOKEN and send "Authorization: Bearer <token>".\n',
      );
      // From this machine it still answers, and orchestrators' probes answer from anywhere.
      expect((await fetch(`${local}/metrics`)).status).toBe(200);
      expect((await fetch(`${remote}/healthz`)).status).toBe(200);
      expect((await fetch(`${remote}/readyz`)).status).toBe(200);
    });

    it('does not take the Host header for a loopback peer', async () => {
      const { remote } = await exposed();
      const res = await fetch(`${remote}/metrics`, { headers: { host: 'localhost' } });
      expect(res.status).toBe(403);
    });

    it('serves a scrape that brings FERRY_METRICS_TOKEN as a bearer token, and asks every other for it', async () => {
      const token = 'metrics-token-0123456789';
      const { local, remote } = await exposed(token);
      const ok = await fetch(`${remote}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toMatch(/^ferry_test_scrapes_total 1$/m);
      for (const headers of [
        {} as Record<string, string>,
        { authorization: 'Bearer metrics-token-wrong' },
        { authorization: token },
      ]) {
        for (const base of [remote, local]) {
          const res = await fetch(`${base}/metrics`, { headers });
          expect(res.status).toBe(401);
          expect(res.headers.get('www-authenticate')).toBe('Bearer realm="ferry metrics"');
          expect(await res.text()).toMatch(
            /^\/metrics needs the header "Authorization: Bearer <FERRY_METRICS_TOKEN>"/,
          );
        }
      }
      expect((await fetch(`${remote}/healthz`)).status).toBe(200);
    });

    it('tells routes whether the peer and the listening address are loopback', async () => {
      const seen: unknown[] = [];
      const route: Route = (_req, res, context) => {
        seen.push(context);
        res.writeHead(204).end();
        return Promise.resolve(true);
      };
      const s = await start({ routes: () => [route] }, '0.0.0.0');
      servers.push(s);
      const loopbackOnly = await start({ routes: () => [route] });
      servers.push(loopbackOnly);
      await fetch(`${s.url}/x`);
      await fetch(`http://${externalAddress()}:${new URL(s.url).port}/x`);
      await fetch(`${loopbackOnly.url}/x`);
      expect(seen).toEqual([
        { peerIsLoopback: true, boundBeyondLoopback: true },
        { peerIsLoopback: false, boundBeyondLoopback: true },
        { peerIsLoopback: true, boundBeyondLoopback: false },
      ]);
    });
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
    expect(slackCalls).toEqual(['POST /slack/events payload=x']);
  });

  it('hands the Slack handler the whole body, read once, however it came in chunks', async () => {
    const seen: string[] = [];
    const url = await serve({
      slack: () => (_req, res, body) => {
        seen.push(body.toString());
        res.writeHead(200).end();
      },
    });
    const chunks = ['command=%2Fmigrate', '&text=', 'help'];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
        controller.close();
      },
    });
    const res = await fetch(`${url}/slack/events`, { method: 'POST', body, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(200);
    expect(seen).toEqual(['command=%2Fmigrate&text=help']);
  });

  it("answers 413 to a body past Bolt's 4 MB without handing it on", async () => {
    let called = false;
    const url = await serve({ slack: () => () => void (called = true) });
    const res = await fetch(`${url}/slack/events`, { method: 'POST', body: 'x'.repeat(4 * 1024 * 1024 + 1) });
    expect(res.status).toBe(413);
    expect(called).toBe(false);
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
