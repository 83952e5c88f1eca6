import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeHeroku } from '../../src/sandbox/fakes/heroku.ts';
import { FakeMaintenance } from '../../src/sandbox/fakes/maintenance.ts';
import { FakeRoute53 } from '../../src/sandbox/fakes/route53.ts';

// The systems a drill's runs change, on one local port: the `http` maintenance protocol, the
// Heroku Platform API, Route 53 and a health endpoint for checks. Every request is followed by a
// look at the state it may have changed, so a drill counts state transitions (maintenance off -> on,
// clock 1 -> 0, CNAME old -> new), not calls: repeating an idempotent call after a crash is allowed,
// changing the state twice is not.

export const ZONE_ID = 'ZDRILL0000001';
export const ZONE_NAME = 'drill.example.com.';
export const MAINTENANCE_TOKEN = 'drill-maintenance-token';
export const HEROKU_TOKEN = 'drill-heroku-token';

/** One observed change of one thing a run changes. */
export interface Transition {
  /** `maintenance:<app>`, `heroku:<app>:<type>` or `dns:<record>`. */
  target: string;
  from: string;
  to: string;
  at: number;
}

export interface WorldOptions {
  /** Maintenance PUTs for these apps wait this long before they are applied (a slow system, to be killed mid-call). */
  slowMaintenance?: { apps: readonly string[]; delayMs: number };
}

export class DrillWorld {
  readonly maintenance = new FakeMaintenance({ token: MAINTENANCE_TOKEN });
  readonly heroku = new FakeHeroku({ token: HEROKU_TOKEN, prefix: '/heroku' });
  readonly route53 = new FakeRoute53({ propagation: { polls: 1, ms: 0 } });
  readonly transitions: Transition[] = [];
  /** Health-check requests answered, by path. */
  readonly healthChecks = new Map<string, number>();
  url = '';
  readonly #options: WorldOptions;
  readonly #last = new Map<string, string>();
  readonly #herokuApps = new Set<string>();
  readonly #records = new Set<string>();
  #server: Server | undefined;

  constructor(options: WorldOptions = {}) {
    this.#options = options;
    this.route53.addZone(ZONE_ID, ZONE_NAME);
  }

  async listen(): Promise<void> {
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(error));
        else res.destroy();
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The environment Ferry needs to reach these fakes. */
  ferryEnv(): Record<string, string> {
    return {
      HEROKU_API_URL: `${this.url}/heroku`,
      HEROKU_API_TOKEN: HEROKU_TOKEN,
      AWS_ENDPOINT_URL_ROUTE_53: this.url,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIADRILL',
      AWS_SECRET_ACCESS_KEY: 'drill-secret-key',
      DRILL_MAINTENANCE_URL: `${this.url}${this.maintenance.prefix}`,
      DRILL_MAINTENANCE_TOKEN: MAINTENANCE_TOKEN,
      DRILL_HEALTH_URL: `${this.url}/healthz`,
    };
  }

  /** A Heroku app with a clock dyno, and the record a cutover moves: what one drill run changes. */
  seedService(name: string): void {
    this.heroku.addApp(name, { formation: { web: 2, clock: 1 } });
    this.#herokuApps.add(name);
    const record = this.recordName(name);
    this.route53.setRecord(ZONE_ID, { name: record, type: 'CNAME', ttl: 60, values: [oldTarget(name)] });
    this.#records.add(record);
    this.maintenance.set(name, false);
    this.maintenance.set(`${name}-flag`, false);
    this.#observe();
  }

  recordName(service: string): string {
    return `${service}.${ZONE_NAME}`;
  }

  /** Transitions of the targets that belong to one service. */
  transitionsOf(service: string): Transition[] {
    return this.transitions.filter(
      (t) =>
        t.target === `maintenance:${service}` ||
        t.target === `maintenance:${service}-flag` ||
        t.target.startsWith(`heroku:${service}:`) ||
        t.target === `dns:${this.recordName(service)}`,
    );
  }

  /** The state of one service's targets now. */
  stateOf(service: string): {
    maintenance: boolean;
    flag: boolean;
    clock: number | undefined;
    cname: string | undefined;
  } {
    return {
      maintenance: this.maintenance.state(service).enabled,
      flag: this.maintenance.state(`${service}-flag`).enabled,
      clock: this.heroku.app(service)?.formation.clock?.quantity,
      cname: this.route53.getRecord(ZONE_ID, this.recordName(service), 'CNAME')?.values[0],
    };
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.once('finish', () => this.#observe());
    const url = new URL(req.url ?? '/', 'http://world');
    if (url.pathname.startsWith('/healthz')) {
      this.healthChecks.set(url.pathname, (this.healthChecks.get(url.pathname) ?? 0) + 1);
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    const slow = this.#options.slowMaintenance;
    if (slow && req.method === 'PUT' && url.pathname.startsWith(`${this.maintenance.prefix}/`)) {
      const app = decodeURIComponent(url.pathname.slice(this.maintenance.prefix.length + 1));
      if (slow.apps.includes(app)) await new Promise((resolve) => setTimeout(resolve, slow.delayMs));
    }
    if (await this.maintenance.handle(req, res)) return;
    if (await this.heroku.handle(req, res)) return;
    if (await this.route53.handle(req, res)) return;
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`no fake serves ${req.method} ${url.pathname}`);
  }

  /** Compares every target with what it was after the previous request and records each change. */
  #observe(): void {
    const now = Date.now();
    const states = new Map<string, string>();
    for (const [app, state] of Object.entries(this.maintenance.apps))
      states.set(`maintenance:${app}`, state.enabled ? 'on' : 'off');
    for (const app of this.#herokuApps) {
      const formation = this.heroku.app(app)?.formation ?? {};
      for (const [type, f] of Object.entries(formation))
        states.set(`heroku:${app}:${type}`, String(f.quantity));
    }
    for (const record of this.#records) {
      const found = this.route53.getRecord(ZONE_ID, record, 'CNAME');
      states.set(`dns:${record}`, found ? found.values.join(' ') : '(none)');
    }
    for (const [target, value] of states) {
      const before = this.#last.get(target);
      if (before !== undefined && before !== value)
        this.transitions.push({ target, from: before, to: value, at: now });
      this.#last.set(target, value);
    }
  }
}

export function oldTarget(service: string): string {
  return `${service}.old-platform.example.net.`;
}

export function newTarget(service: string): string {
  return `${service}.new-platform.example.net.`;
}
