import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenFake, readBody, sendJson } from './fake-http.ts';
import type { ListeningFake } from './fake-http.ts';

// The `http` maintenance/flag protocol (docs/plans.md, providers) for any number of apps:
//   GET  <prefix>/<app>  -> {"enabled": bool}
//   PUT  <prefix>/<app>  {"enabled": bool} with Authorization: Bearer <token>
// Apps spring into existence (off) when first addressed, so sandbox plans can name any app.

export interface FakeMaintenanceOptions {
  /** Default "/fake/maintenance"; an app is served at `<prefix>/<app>`. */
  prefix?: string;
  /** The Bearer token PUT (and GET, with `tokenForReads`) must carry; undefined accepts any. */
  token?: string;
  /** Whether GET needs the token too. Default true when a token is set. */
  tokenForReads?: boolean;
}

export interface FakeMaintenanceApp {
  enabled: boolean;
  /** How many PUTs changed or confirmed the value. */
  writes: number;
}

type Fault = { kind: 'status'; status: number } | { kind: 'hang' };

export class FakeMaintenance {
  readonly prefix: string;
  readonly token: string | undefined;
  readonly tokenForReads: boolean;
  readonly #apps = new Map<string, FakeMaintenanceApp>();
  readonly #faults: Fault[] = [];
  /** Every request served, for tests and the sandbox console. */
  readonly requests: Array<{ method: string; app: string; status: number }> = [];

  constructor(options: FakeMaintenanceOptions = {}) {
    this.prefix = (options.prefix ?? '/fake/maintenance').replace(/\/+$/, '');
    this.token = options.token;
    this.tokenForReads = options.tokenForReads ?? options.token !== undefined;
  }

  /** Sets an app's state directly (a seed, or a person flipping it by hand). */
  set(app: string, enabled: boolean): this {
    this.#app(app).enabled = enabled;
    return this;
  }

  /** A typed view of one app; apps never addressed read as off. */
  state(app: string): Readonly<FakeMaintenanceApp> {
    return { ...(this.#apps.get(app) ?? { enabled: false, writes: 0 }) };
  }

  /** Every app addressed so far, by name. */
  get apps(): Readonly<Record<string, Readonly<FakeMaintenanceApp>>> {
    return Object.fromEntries([...this.#apps].map(([name, app]) => [name, { ...app }]));
  }

  /** The path under which an app is served, e.g. "/fake/maintenance/billing". */
  pathFor(app: string): string {
    return `${this.prefix}/${encodeURIComponent(app)}`;
  }

  failNext(status: number): this {
    this.#faults.push({ kind: 'status', status });
    return this;
  }

  /** The next request is accepted and never answered (for timeout tests). */
  hangNext(): this {
    this.#faults.push({ kind: 'hang' });
    return this;
  }

  listen(): Promise<ListeningFake> {
    return listenFake((req, res) => this.handle(req, res));
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (!url.pathname.startsWith(`${this.prefix}/`)) return false;
    const rest = url.pathname.slice(this.prefix.length + 1);
    if (rest === '' || rest.includes('/')) return false;
    const app = decodeURIComponent(rest);
    const method = req.method ?? 'GET';
    const text = await readBody(req);
    const answer = (status: number, body: unknown): true => {
      this.requests.push({ method, app, status });
      sendJson(res, status, body);
      return true;
    };

    const fault = this.#faults.shift();
    if (fault?.kind === 'hang') {
      this.requests.push({ method, app, status: 0 });
      return true;
    }
    if (fault?.kind === 'status') return answer(fault.status, { error: `injected failure ${fault.status}` });

    const needsToken = this.token !== undefined && (method !== 'GET' || this.tokenForReads);
    if (needsToken) {
      const auth = req.headers.authorization;
      if (auth === undefined) return answer(401, { error: 'missing Authorization header' });
      if (auth !== `Bearer ${this.token}`) return answer(403, { error: 'invalid token' });
    }
    if (method === 'GET') return answer(200, { enabled: this.state(app).enabled });
    if (method === 'PUT') {
      let enabled: unknown;
      try {
        enabled = (JSON.parse(text) as { enabled?: unknown }).enabled;
      } catch {
        return answer(400, { error: 'body must be JSON' });
      }
      if (typeof enabled !== 'boolean') return answer(422, { error: 'enabled must be true or false' });
      const state = this.#app(app);
      state.enabled = enabled;
      state.writes += 1;
      return answer(200, { enabled });
    }
    res.setHeader('Allow', 'GET, PUT');
    return answer(405, { error: `${method} not allowed` });
  }

  #app(name: string): FakeMaintenanceApp {
    let app = this.#apps.get(name);
    if (!app) {
      app = { enabled: false, writes: 0 };
      this.#apps.set(name, app);
    }
    return app;
  }
}
