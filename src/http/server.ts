import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { parse as parseForm } from 'node:querystring';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

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
  /** Bolt's HTTPReceiver listener for `POST /slack/events`, or why there is none. */
  slack: () => RequestListener | 'socket-mode' | 'unavailable';
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
  const server = createServer((req, res) => {
    // Decided from the sockets, never from headers a client writes.
    const bound = server.address();
    const context: RequestContext = {
      peerIsLoopback: isLoopbackAddress(req.socket.remoteAddress),
      // A unix socket reaches only this machine; no address at all (closing) fails closed.
      boundBeyondLoopback: bound === null || (typeof bound === 'object' && !isLoopbackAddress(bound.address)),
    };
    handle(req, res, deps, context).catch((error: unknown) => {
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
  context: RequestContext,
): Promise<void> {
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
    if (req.method !== 'POST') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'POST' }).end('POST only');
      return;
    }
    const body = await readBody(req, SLACK_BODY_LIMIT);
    if (body === 'too large') {
      res.writeHead(413, { 'content-type': 'text/plain' }).end('request body too large');
      return;
    }
    if (!parsesToObject(body, req.headers['content-type'])) {
      res
        .writeHead(400, { 'content-type': 'text/plain' })
        .end('not a Slack request: the body must be a form or a JSON object of a kind Slack sends');
      return;
    }
    // Bolt reads a request it is handed already buffered from `rawBody` (and still checks its signature).
    Object.assign(req, { rawBody: body });
    return void listener(req, res);
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
    const refusal = metricsRefusal(req, deps.metricsToken, context);
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
  for (const route of deps.routes()) {
    if (await route(req, res, context)) return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
}

/** Bolt's own limit on a request body. */
const SLACK_BODY_LIMIT = 4 * 1024 * 1024;

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return 'too large';
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Whether the body parses, as Bolt's receiver parses it, to an object with a `type` (or does not parse at all,
 * which Bolt answers with 400 once the signature holds). Bolt reads `body.ssl_check` on whatever
 * JSON.parse returns, so a `null` or a number throws inside its unawaited handler: an unhandled
 * rejection and a request never answered. Slack sends neither.
 */
function parsesToObject(body: Buffer, contentType: string | undefined): boolean {
  let parsed: unknown;
  try {
    if (contentType === 'application/x-www-form-urlencoded') {
      const form = parseForm(body.toString());
      // A form without a payload is a slash command (or Slack's ssl_check), routed by its fields.
      if (typeof form.payload !== 'string') return boltRoutes(form);
      parsed = JSON.parse(form.payload);
    } else {
      parsed = JSON.parse(body.toString());
    }
  } catch {
    return true;
  }
  return typeof parsed === 'object' && parsed !== null && boltRoutes(parsed as Record<string, unknown>);
}

/** The envelope types Bolt's receiver answers itself. */
const receiverTypes = new Set(['url_verification']);
/** Payload types Bolt routes to a kind of listener (mirroring its `getTypeAndConversation`). */
const routedTypes = new Set([
  'dialog_submission',
  'block_suggestion',
  'shortcut',
  'message_action',
  'view_submission',
  'view_closed',
]);

/**
 * Whether Bolt can tell what kind of request this is. One it cannot (no event, command, actions or
 * known type) reaches no middleware and no listener, and is left unanswered: the sender would see
 * a 3 s wait and a 404. Slack sends none such, so it is answered 400 at once.
 */
function boltRoutes(body: Record<string, unknown>): boolean {
  if (body.ssl_check !== undefined) return true;
  if (typeof body.type === 'string' && (receiverTypes.has(body.type) || routedTypes.has(body.type)))
    return true;
  return (
    body.event !== undefined ||
    body.command !== undefined ||
    body.actions !== undefined ||
    body.name !== undefined
  );
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
