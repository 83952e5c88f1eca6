import type { IncomingMessage, ServerResponse } from 'node:http';
import { listenFake, sendJson, type ListeningFake } from './fake-http.ts';

// The new platform's health endpoint, for any app: `GET <prefix>/<app>/healthz`. It can be down (every
// request 500, the faults panel's failing health check) or erring (one request in `n` 503, the
// panel's error rate up), and it remembers what it answered, so a stand-in Prometheus can report the
// share of 5xx it served.

export interface FakeNewPlatformOptions {
  /** Default "/fake/new-platform"; an app's health is `<prefix>/<app>/healthz`. */
  prefix?: string;
}

export interface ServedRequest {
  at: number;
  app: string;
  status: number;
}

/** How far back the request log reaches: a rate over the last minute needs no more. */
const LOG_MS = 5 * 60_000;

export class FakeNewPlatform {
  readonly prefix: string;
  /** Every request answers 500 while set. */
  down = false;
  #failOneIn = 0;
  /** How long each answer takes, as a slow deployment's would. */
  delayMs = 0;
  readonly #served: ServedRequest[] = [];
  #count = 0;

  constructor(options: FakeNewPlatformOptions = {}) {
    this.prefix = (options.prefix ?? '/fake/new-platform').replace(/\/+$/, '');
  }

  /** One request in this many answers 503 (the n-th, 2n-th, … after it was set); 0 for none. */
  get failOneIn(): number {
    return this.#failOneIn;
  }

  set failOneIn(n: number) {
    if (n !== this.#failOneIn) this.#count = 0;
    this.#failOneIn = n;
  }

  /** The health URL's path of an app, e.g. "/fake/new-platform/billing/healthz". */
  pathFor(app: string): string {
    return `${this.prefix}/${encodeURIComponent(app)}/healthz`;
  }

  /** What was answered in the last `windowMs`, for one app or all of them. */
  served(windowMs: number, app?: string, now = Date.now()): ServedRequest[] {
    return this.#served.filter((r) => r.at > now - windowMs && (app === undefined || r.app === app));
  }

  /** The share of 5xx among the requests of the last `windowMs`; 0 when none came. */
  errorRatio(windowMs: number, app?: string, now = Date.now()): number {
    const served = this.served(windowMs, app, now);
    return served.length === 0 ? 0 : served.filter((r) => r.status >= 500).length / served.length;
  }

  listen(): Promise<ListeningFake> {
    return listenFake((req, res) => this.handle(req, res));
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const prefix = this.prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const match = new RegExp(`^${prefix}/([^/?]+)/healthz(?:\\?.*)?$`).exec(req.url ?? '');
    if (!match || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
    const app = decodeURIComponent(match[1] ?? '');
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    this.#count += 1;
    const erring = this.failOneIn > 0 && this.#count % this.failOneIn === 0;
    const status = this.down ? 500 : erring ? 503 : 200;
    const now = Date.now();
    this.#served.push({ at: now, app, status });
    while (this.#served.length > 0 && this.#served[0]!.at < now - LOG_MS) this.#served.shift();
    if (status === 500) {
      sendJson(res, 500, {
        status: 'error',
        app,
        checks: { database: 'timeout after 5000 ms (pool exhausted)', redis: 'ok' },
      });
    } else if (status === 503) {
      sendJson(res, 503, { status: 'error', app, error: 'upstream connect error: connection reset' });
    } else {
      sendJson(res, 200, { status: 'ok', app, checks: { database: 'ok', redis: 'ok' } });
    }
    return true;
  }
}
