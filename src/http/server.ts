import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { SlackRequestHandler } from '../slack/http-receiver.ts';

/** Slack's request URL: slash commands, interactivity and events all come here (HTTP mode). */
export const SLACK_EVENTS_PATH = '/slack/events';

/** Where a request came from and how far the server listens, as the TCP connection says. */
export interface RequestContext {
  /** The peer is this machine (req.socket.remoteAddress), whatever the Host header claims. */
  peerIsLoopback: boolean;
  /** The server listens on more than loopback (0.0.0.0, ::, an interface), so others can reach it. */
  boundBeyondLoopback: boolean;
}

/** A route that answers the requests it owns and returns false for the others. */
export type Route = (req: IncomingMessage, res: ServerResponse, context: RequestContext) => Promise<boolean>;

export interface HttpServerDeps {
  /** What answers `POST /slack/events` once its body is read, or why nothing does. */
  slack: () => SlackRequestHandler | 'socket-mode' | 'unavailable';
  ready: () => Promise<boolean>;
  metrics: Registry;
  /** The sandbox's console, fake Slack Web API and protocol fakes, in local mode. */
  routes: () => readonly Route[];
  onError?: (error: unknown) => void;
  /** How long /readyz waits for the database before answering 503. */
  readyTimeoutMs?: number;
  /**
   * Socket Mode: whether the link to Slack counts as up for /readyz (it is not once it has been
   * down longer than FERRY_SOCKET_DOWN_READY_SECONDS). Unset in HTTP and local mode.
   */
  slackSocket?: () => { ready: boolean; state: string };
  /** FERRY_METRICS_TOKEN: when set, /metrics asks every scraper for `Authorization: Bearer <it>`. */
  metricsToken?: string | undefined;
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and the name localhost. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const bare = address.replace(/^\[|\]$/g, '').replace(/^::ffff:/i, '');
  return bare === '::1' || bare.toLowerCase() === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

/** Whether listening on `host` (FERRY_HOST; unset means every interface) lets other machines in. */
export function listensBeyondLoopback(host: string | undefined): boolean {
  return !isLoopbackAddress(host);
}

/** Compares a presented secret with the expected one in constant time, whatever their lengths. */
export function sameSecret(presented: string | undefined, expected: string): boolean {
  if (presented === undefined) return false;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(expected));
}

/** One port for Slack, health, metrics and (in local mode) the sandbox. */
export function createHttpServer(deps: HttpServerDeps): Server {
  // Decided from the sockets, never from headers a client writes; only for the routes that ask (not
  // on Slack's path, where the signature decides).
  const contextOf = (req: IncomingMessage): RequestContext => {
    const bound = server.address();
    return {
      peerIsLoopback: isLoopbackAddress(req.socket.remoteAddress),
      // A unix socket reaches only this machine; no address at all (closing) fails closed.
      boundBeyondLoopback: bound === null || (typeof bound === 'object' && !isLoopbackAddress(bound.address)),
    };
  };
  const server = createServer((req, res) => {
    handle(req, res, deps, contextOf).catch((error: unknown) => {
      deps.onError?.(error);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error'); // the details go to the log, never to the client
    });
  });
  return server;
}

/** Why /metrics refuses this request (status and a line to read), or null to serve it. */
function metricsRefusal(
  req: IncomingMessage,
  token: string | undefined,
  context: RequestContext,
): { status: 401 | 403; text: string } | null {
  if (token !== undefined) {
    const presented = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (sameSecret(presented, token)) return null;
    return {
      status: 401,
      text: `/metrics needs the header "Authorization: Bearer <FERRY_METRICS_TOKEN>"; this request ${presented === undefined ? 'had none' : 'had another token'}. Configure the scraper with the token Ferry was started with.\n`,
    };
  }
  if (!context.boundBeyondLoopback || context.peerIsLoopback) return null;
  return {
    status: 403,
    text: '/metrics answers only this machine: Ferry listens beyond loopback (FERRY_HOST) and FERRY_METRICS_TOKEN is unset. To scrape from elsewhere, set FERRY_METRICS_TOKEN and send "Authorization: Bearer <token>".\n',
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  deps: HttpServerDeps,
  contextOf: (req: IncomingMessage) => RequestContext,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path === SLACK_EVENTS_PATH) {
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
    if (req.method !== 'POST') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'POST' }).end('POST only');
      return;
    }
    const body = await readBody(req, SLACK_BODY_LIMIT);
    if (body === 'too large') {
      res.writeHead(413, { 'content-type': 'text/plain' }).end('request body too large');
      return;
    }
    return listener(req, res, body);
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
    const socket = deps.slackSocket?.();
    const ready = ok && (socket?.ready ?? true);
    res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        ok: ready,
        database: ok ? 'reachable' : 'unreachable',
        ...(socket ? { slack_socket: socket.state } : {}),
      }),
    );
    return;
  }
  if (path === '/metrics' && req.method === 'GET') {
    const refusal = metricsRefusal(req, deps.metricsToken, contextOf(req));
    if (refusal) {
      res
        .writeHead(refusal.status, {
          'content-type': 'text/plain; charset=utf-8',
          ...(refusal.status === 401 ? { 'www-authenticate': 'Bearer realm="ferry metrics"' } : {}),
        })
        .end(refusal.text);
      return;
    }
    res.writeHead(200, { 'content-type': deps.metrics.contentType }).end(await deps.metrics.metrics());
    return;
  }
  const routes = deps.routes();
  if (routes.length > 0) {
    const context = contextOf(req);
    for (const route of routes) {
      if (await route(req, res, context)) return;
    }
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
}

/** Bolt's own limit on a request body. */
const SLACK_BODY_LIMIT = 4 * 1024 * 1024;

/** The whole body, or 'too large' past `limit` (the rest is not read). */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      req.off('data', onData).off('end', onEnd);
      resolve('too large');
    };
    const onEnd = () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    req.on('data', onData).once('end', onEnd).once('error', reject);
  });
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
