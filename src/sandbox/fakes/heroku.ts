import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenFake, readBody, sendJson } from './fake-http.ts';
import type { ListeningFake } from './fake-http.ts';

// A stand-in for the Heroku Platform API (integrations.md §2), enough for Ferry's adapters: apps
// (maintenance), formation (list with Range/Next-Range, batch and single update) and config vars.
// It checks the Accept header and the Bearer token like the real API, reports RateLimit-Remaining,
// and can be told to fail, rate-limit or hang.

export interface FakeHerokuOptions {
  token?: string;
  /** Mount point when used inside another server, e.g. "/fake/heroku". Default: none. */
  prefix?: string;
  /** Largest page the fake returns for lists, whatever Range asks for. */
  pageSize?: number;
}

export interface FakeHerokuAppSeed {
  maintenance?: boolean;
  /** type -> quantity, or quantity and size. */
  formation?: Record<string, number | { quantity: number; size?: string }>;
  configVars?: Record<string, string>;
}

export interface FakeHerokuAppState {
  name: string;
  maintenance: boolean;
  formation: Record<string, { quantity: number; size: string }>;
  configVars: Record<string, string>;
}

export interface FakeHerokuRequest {
  method: string;
  path: string;
  range: string | undefined;
  body: unknown;
}

type Fault = { kind: 'status'; status: number; body: unknown } | { kind: 'hang' };

const ACCEPT = 'application/vnd.heroku+json; version=3';

export class FakeHeroku {
  readonly token: string;
  readonly prefix: string;
  readonly pageSize: number;
  readonly requests: FakeHerokuRequest[] = [];
  /** What RateLimit-Remaining says on the next responses. */
  rateLimitRemaining = 4500;
  readonly #apps = new Map<string, FakeHerokuAppState>();
  readonly #faults: Fault[] = [];

  constructor(options: FakeHerokuOptions = {}) {
    this.token = options.token ?? 'fake-heroku-token';
    this.prefix = (options.prefix ?? '').replace(/\/+$/, '');
    this.pageSize = options.pageSize ?? 200;
  }

  addApp(name: string, seed: FakeHerokuAppSeed = {}): this {
    const formation: FakeHerokuAppState['formation'] = {};
    for (const [type, value] of Object.entries(seed.formation ?? { web: 1 })) {
      formation[type] =
        typeof value === 'number'
          ? { quantity: value, size: 'standard-1X' }
          : { quantity: value.quantity, size: value.size ?? 'standard-1X' };
    }
    this.#apps.set(name, {
      name,
      maintenance: seed.maintenance ?? false,
      formation,
      configVars: { ...seed.configVars },
    });
    return this;
  }

  /** A copy of an app's state, or undefined. */
  app(name: string): FakeHerokuAppState | undefined {
    const app = this.#apps.get(name);
    return app ? structuredClone(app) : undefined;
  }

  /** The next request gets this status and body (Heroku's `{id, message}` by default). */
  failNext(status: number, body?: unknown): this {
    this.#faults.push({
      kind: 'status',
      status,
      body: body ?? { id: statusId(status), message: `fake failure ${status}` },
    });
    return this;
  }

  /** The next `count` requests get 429 rate_limit, as when the account's pool is empty. */
  rateLimitNext(count = 1): this {
    for (let i = 0; i < count; i++) {
      this.#faults.push({
        kind: 'status',
        status: 429,
        body: {
          id: 'rate_limit',
          message:
            'Your account reached the API rate limit\nPlease wait a few minutes before making new requests',
        },
      });
    }
    return this;
  }

  /** Drops injected faults that no request consumed. */
  clearFaults(): this {
    this.#faults.length = 0;
    return this;
  }

  /** The next request is accepted and never answered. */
  hangNext(): this {
    this.#faults.push({ kind: 'hang' });
    return this;
  }

  listen(): Promise<ListeningFake> {
    return listenFake((req, res) => this.handle(req, res));
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (this.prefix !== '' && !url.pathname.startsWith(`${this.prefix}/`)) return false;
    const path = url.pathname.slice(this.prefix.length);
    const route = /^\/apps\/([^/]+)(\/formation(?:\/([^/]+))?|\/config-vars)?$/.exec(path);
    if (!route) return false;
    const method = req.method ?? 'GET';
    const text = await readBody(req);
    let body: unknown;
    try {
      body = text === '' ? undefined : (JSON.parse(text) as unknown);
    } catch {
      this.#send(res, 400, { id: 'bad_request', message: 'Request body could not be parsed as JSON.' });
      return true;
    }
    const range = header(req, 'range');
    this.requests.push({ method, path, range, body });

    const fault = this.#faults.shift();
    if (fault?.kind === 'hang') return true;
    if (fault?.kind === 'status') {
      this.#send(res, fault.status, fault.body);
      return true;
    }
    if (header(req, 'accept') !== ACCEPT) {
      this.#send(res, 406, {
        id: 'not_acceptable',
        message:
          "Please specify a version along with Heroku's API MIME type. For example, `Accept: application/vnd.heroku+json; version=3`.",
      });
      return true;
    }
    if (header(req, 'authorization') !== `Bearer ${this.token}`) {
      this.#send(res, 401, { id: 'unauthorized', message: 'Invalid credentials provided.' });
      return true;
    }
    const appName = decodeURIComponent(route[1] ?? '');
    const app = this.#apps.get(appName);
    if (!app) {
      this.#send(res, 404, { id: 'not_found', message: "Couldn't find that app.", resource: 'app' });
      return true;
    }
    const part = route[2];
    const type = route[3] === undefined ? undefined : decodeURIComponent(route[3]);

    if (part === undefined) {
      if (method === 'GET') return this.#send(res, 200, appJson(app));
      if (method === 'PATCH') {
        const maintenance = (body as { maintenance?: unknown } | undefined)?.maintenance;
        if (maintenance !== undefined && typeof maintenance !== 'boolean') {
          return this.#send(res, 422, {
            id: 'invalid_params',
            message: 'Invalid maintenance: must be a boolean.',
          });
        }
        if (typeof maintenance === 'boolean') app.maintenance = maintenance;
        return this.#send(res, 200, appJson(app));
      }
    }
    if (part === '/config-vars' && method === 'GET') return this.#send(res, 200, { ...app.configVars });
    if (part?.startsWith('/formation') && type === undefined) {
      if (method === 'GET') return this.#sendFormationPage(res, app, range);
      if (method === 'PATCH') {
        const updates = (body as { updates?: unknown } | undefined)?.updates;
        if (!Array.isArray(updates)) {
          return this.#send(res, 422, { id: 'invalid_params', message: 'Missing required params: updates.' });
        }
        const parsed = updates as Array<{ type?: unknown; quantity?: unknown; size?: unknown }>;
        for (const u of parsed) {
          if (typeof u.type !== 'string' || !app.formation[u.type]) {
            return this.#send(res, 404, {
              id: 'not_found',
              message: "Couldn't find that process type.",
              resource: 'formation',
            });
          }
          if (u.quantity !== undefined && (typeof u.quantity !== 'number' || u.quantity < 0)) {
            return this.#send(res, 422, { id: 'invalid_params', message: 'Invalid quantity.' });
          }
        }
        for (const u of parsed) {
          const f = app.formation[u.type as string]!;
          if (typeof u.quantity === 'number') f.quantity = u.quantity;
          if (typeof u.size === 'string') f.size = u.size;
        }
        return this.#send(
          res,
          200,
          parsed.map((u) => formationJson(app, u.type as string)),
        );
      }
    }
    if (type !== undefined) {
      const f = app.formation[type];
      if (!f)
        return this.#send(res, 404, {
          id: 'not_found',
          message: "Couldn't find that process type.",
          resource: 'formation',
        });
      if (method === 'GET') return this.#send(res, 200, formationJson(app, type));
      if (method === 'PATCH') {
        const quantity = (body as { quantity?: unknown } | undefined)?.quantity;
        if (typeof quantity === 'number') f.quantity = quantity;
        return this.#send(res, 200, formationJson(app, type));
      }
    }
    this.#send(res, 405, { id: 'method_not_allowed', message: `${method} is not allowed here.` });
    return true;
  }

  /** Ranges as Heroku writes them: `id ..; max=200`, then `]<last id>..; max=200` from Next-Range. */
  #sendFormationPage(res: ServerResponse, app: FakeHerokuAppState, range: string | undefined): boolean {
    const all = Object.keys(app.formation)
      .sort()
      .map((type) => formationJson(app, type));
    let start = 0;
    let max = this.pageSize;
    if (range !== undefined) {
      const m =
        /^id\s+(\]?)([^.]*)\.\.[^;]*(?:;\s*max=(\d+))?/.exec(range) ??
        /^(\]?)([^.]*)\.\.[^;]*(?:;\s*max=(\d+))?/.exec(range);
      if (!m) return this.#send(res, 400, { id: 'bad_request', message: `Invalid Range header: ${range}` });
      const exclusive = m[1] === ']';
      const from = m[2]?.trim() ?? '';
      if (from !== '') {
        const index = all.findIndex((f) => f.id === from);
        start = index === -1 ? all.length : exclusive ? index + 1 : index;
      }
      if (m[3] !== undefined) max = Math.min(Number(m[3]), this.pageSize);
    }
    const page = all.slice(start, start + max);
    const more = start + max < all.length;
    const last = page[page.length - 1];
    if (more && last) {
      return this.#send(res, 206, page, {
        'Content-Range': `id ${page[0]?.id ?? ''}..${last.id}; max=${max}`,
        'Next-Range': `]${last.id}..; max=${max}`,
      });
    }
    return this.#send(res, 200, page);
  }

  #send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): true {
    sendJson(res, status, body, {
      'RateLimit-Remaining': String(this.rateLimitRemaining),
      'Request-Id': `fake-${this.requests.length}`,
      ...headers,
    });
    return true;
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function statusId(status: number): string {
  const ids: Record<number, string> = {
    400: 'bad_request',
    401: 'unauthorized',
    403: 'forbidden',
    404: 'not_found',
    422: 'invalid_params',
    429: 'rate_limit',
    500: 'internal_server_error',
    503: 'service_unavailable',
  };
  return ids[status] ?? 'error';
}

function appJson(app: FakeHerokuAppState): Record<string, unknown> {
  return {
    id: `app-${app.name}`,
    name: app.name,
    maintenance: app.maintenance,
    stack: { name: 'heroku-24' },
    region: { name: 'eu' },
    web_url: `https://${app.name}.herokuapp.com/`,
  };
}

function formationJson(app: FakeHerokuAppState, type: string): { id: string } & Record<string, unknown> {
  const f = app.formation[type]!;
  return {
    id: `formation-${type}`,
    app: { id: `app-${app.name}`, name: app.name },
    command: type === 'web' ? 'bundle exec puma' : `bundle exec ${type}`,
    quantity: f.quantity,
    size: f.size,
    type,
    created_at: '2024-01-01T00:00:00Z',
    updated_at: '2024-01-01T00:00:00Z',
  };
}
