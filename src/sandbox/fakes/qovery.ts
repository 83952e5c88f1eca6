import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { listenFake, sendJson } from './fake-http.ts';
import type { ListeningFake } from './fake-http.ts';

// A stand-in for the part of the Qovery API Ferry reads (integrations.md §6):
//   GET /application/{id}/environmentVariable -> {"results": [{id, key, value, scope, ...}]}
//   GET /application/{id}/secret              -> {"results": [{id, key, scope, ...}]}  (no values)
// with `Authorization: Token <token>` (API token) checked like the real API.

export interface FakeQoveryOptions {
  token?: string;
  /** Mount point when used inside another server, e.g. "/fake/qovery". Default: none. */
  prefix?: string;
}

export interface FakeQoveryApplication {
  variables: Record<string, string>;
  secrets: Record<string, string>;
}

export class FakeQovery {
  readonly token: string;
  readonly prefix: string;
  readonly requests: Array<{ method: string; path: string; authorization: string | undefined }> = [];
  readonly #apps = new Map<string, FakeQoveryApplication>();
  readonly #faults: number[] = [];

  constructor(options: FakeQoveryOptions = {}) {
    this.token = options.token ?? 'fake-qovery-token';
    this.prefix = (options.prefix ?? '').replace(/\/+$/, '');
  }

  addApplication(
    id: string,
    seed: { variables?: Record<string, string>; secrets?: Record<string, string> } = {},
  ): this {
    this.#apps.set(id, { variables: { ...seed.variables }, secrets: { ...seed.secrets } });
    return this;
  }

  application(id: string): FakeQoveryApplication | undefined {
    const app = this.#apps.get(id);
    return app ? structuredClone(app) : undefined;
  }

  failNext(status: number): this {
    this.#faults.push(status);
    return this;
  }

  listen(): Promise<ListeningFake> {
    return listenFake((req, res) => this.handle(req, res));
  }

  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (this.prefix !== '' && !url.pathname.startsWith(`${this.prefix}/`)) return Promise.resolve(false);
    const path = url.pathname.slice(this.prefix.length);
    const match = /^\/application\/([^/]+)\/(environmentVariable|secret)$/.exec(path);
    if (!match) return Promise.resolve(false);
    const method = req.method ?? 'GET';
    const authorization = req.headers.authorization;
    this.requests.push({ method, path, authorization });

    const fault = this.#faults.shift();
    if (fault !== undefined) {
      sendJson(res, fault, { status: fault, error: 'Injected failure', message: `fake failure ${fault}` });
      return Promise.resolve(true);
    }
    if (authorization !== `Token ${this.token}`) {
      sendJson(res, 401, { status: 401, error: 'Unauthorized', message: 'Invalid or missing API token' });
      return Promise.resolve(true);
    }
    const app = this.#apps.get(decodeURIComponent(match[1] ?? ''));
    if (!app) {
      sendJson(res, 404, { status: 404, error: 'Not Found', message: 'Application not found' });
      return Promise.resolve(true);
    }
    if (method !== 'GET') {
      sendJson(res, 405, {
        status: 405,
        error: 'Method Not Allowed',
        message: `${method} is not served by this fake`,
      });
      return Promise.resolve(true);
    }
    const now = '2024-01-01T00:00:00Z';
    const results =
      match[2] === 'environmentVariable'
        ? Object.entries(app.variables).map(([key, value]) => ({
            id: randomUUID(),
            created_at: now,
            key,
            value,
            mount_path: null,
            scope: 'APPLICATION',
            variable_type: 'VALUE',
          }))
        : Object.keys(app.secrets).map((key) => ({
            id: randomUUID(),
            created_at: now,
            key,
            mount_path: null,
            scope: 'APPLICATION',
            variable_type: 'VALUE',
          }));
    sendJson(res, 200, { results });
    return Promise.resolve(true);
  }
}
