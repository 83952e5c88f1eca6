import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** A route that answers the requests it owns and returns false for the others. */
export type Route = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

export interface HttpServerDeps {
  /** Bolt's HTTPReceiver listener for `POST /slack/events`, or why there is none. */
  slack: () => RequestListener | 'socket-mode' | 'unavailable';
  ready: () => Promise<boolean>;
  metrics: Registry;
  /** The sandbox's console, fake Slack Web API and protocol fakes, in local mode. */
  routes: () => readonly Route[];
  onError?: (error: unknown) => void;
  /** How long /readyz waits for the database before answering 503. */
  readyTimeoutMs?: number;
}

/** One port for Slack, health, metrics and (in local mode) the sandbox. */
export function createHttpServer(deps: HttpServerDeps): Server {
  return createServer((req, res) => {
    handle(req, res, deps).catch((error: unknown) => {
      deps.onError?.(error);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error'); // the details go to the log, never to the client
    });
  });
}

async function handle(req: IncomingMessage, res: ServerResponse, deps: HttpServerDeps): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/slack/events') {
    const listener = deps.slack();
    if (listener === 'socket-mode') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Slack is connected over Socket Mode');
      return;
    }
    if (listener === 'unavailable') {
      // Starting or stopping: Slack retries events; a person clicking now sees an error, not nothing.
      res
        .writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' })
        .end('Ferry is not taking requests right now');
      return;
    }
    if (req.method === 'POST') return void listener(req, res);
    res.writeHead(405, { 'content-type': 'text/plain', allow: 'POST' }).end('POST only');
    return;
  }
  if (path === '/healthz' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    return;
  }
  if (path === '/readyz' && req.method === 'GET') {
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      deps.ready().catch(() => false),
      new Promise<false>(
        (resolve) => (timer = setTimeout(() => resolve(false), deps.readyTimeoutMs ?? 2_000)),
      ),
    ]);
    clearTimeout(timer);
    res
      .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
      .end(JSON.stringify({ ok, database: ok ? 'reachable' : 'unreachable' }));
    return;
  }
  if (path === '/metrics' && req.method === 'GET') {
    res.writeHead(200, { 'content-type': deps.metrics.contentType }).end(await deps.metrics.metrics());
    return;
  }
  for (const route of deps.routes()) {
    if (await route(req, res)) return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
}

export function listen(server: Server, port: number, host?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
