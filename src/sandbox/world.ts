import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Route } from '../http/server.ts';
import type { Faults } from './faults.ts';
import { sendJson } from './fakes/fake-http.ts';
import { FakeHeroku } from './fakes/heroku.ts';
import { FakeMaintenance } from './fakes/maintenance.ts';
import { FakeNewPlatform } from './fakes/new-platform.ts';
import { FakePrometheus } from './fakes/prometheus.ts';
import { FakeRoute53 } from './fakes/route53.ts';
import type { CronSeed } from './redis-seed.ts';
import type { SidekiqSnapshot, SimulatedApp } from './workers.ts';

// The world the example plan (examples/plans/billing.yml) migrates: the billing service's staging and
// production apps on the old platform (Heroku, with Sidekiq on Redis), their DNS records in Route 53,
// their maintenance endpoints, the new platform's health endpoint and a Prometheus that reports its
// 5xx rate. The HTTP fakes are seeded here
// and wrapped with the faults panel's hooks; `snapshot` is what the console's "Systems" panel shows.

export const HOSTED_ZONE = { id: 'Z0FERRYSANDBOX', name: 'billing.example.com.' } as const;
export const HEROKU_PREFIX = '/fake/heroku';
export const MAINTENANCE_PREFIX = '/fake/maintenance';
export const NEW_PLATFORM_PREFIX = '/fake/new-platform';
/** Prometheus' base URL on Ferry's port; its API is under it, as a real server's is. */
export const PROMETHEUS_PREFIX = '/fake/prometheus';
/** The window the stand-in Prometheus rates the new platform's 5xx over, as `rate(…[1m])` would. */
const RATE_WINDOW_MS = 60_000;
/** One request in this many answers 503 while the error-rate fault is armed. */
const ERROR_RATE_ONE_IN = 4;
/** Placeholder credentials the fakes check, so the plan passes them as a real one would. */
export const SANDBOX_HEROKU_TOKEN = 'sandbox-heroku-token';
export const SANDBOX_MAINTENANCE_TOKEN = 'sandbox-maintenance-token';

export interface ExampleApp extends SimulatedApp {
  environment: string;
  /** The public name the cutover moves, and where it points before and after. */
  record: string;
  oldTarget: string;
  newTarget: string;
  /** Heroku dynos per process type. */
  formation: Record<string, number>;
}

const crons = (env: string): CronSeed[] => [
  {
    name: 'invoice_run',
    cron: '0 2 * * *',
    klass: 'Invoices::NightlyRunJob',
    queue: 'default',
    enabled: true,
  },
  {
    name: 'dunning_emails',
    cron: '30 8 * * *',
    klass: 'Dunning::SendRemindersJob',
    queue: 'mailers',
    enabled: true,
  },
  { name: 'usage_rollup', cron: '*/15 * * * *', klass: 'Usage::RollupJob', queue: 'default', enabled: true },
  {
    name: 'ledger_reconcile',
    cron: '0 * * * *',
    klass: 'Ledger::ReconcileJob',
    queue: 'default',
    enabled: true,
  },
  {
    name: 'exchange_rates_sync',
    cron: '5 * * * *',
    klass: 'Fx::SyncRatesJob',
    queue: 'default',
    enabled: true,
  },
  {
    name: 'stale_carts_cleanup',
    cron: '0 4 * * 0',
    klass: 'Carts::CleanupJob',
    queue: 'reports',
    enabled: env !== 'production',
  },
  {
    name: 'nightly_export',
    cron: '0 3 * * *',
    klass: 'Reports::NightlyExportJob',
    queue: 'reports',
    enabled: false,
  },
];

export const EXAMPLE_APPS: readonly ExampleApp[] = [
  {
    environment: 'staging',
    app: 'billing-staging',
    namespace: 'billing-staging',
    record: 'api.staging.billing.example.com.',
    oldTarget: 'billing-staging.herokudns.com.',
    newTarget: 'billing-staging.eu-central.example.net.',
    formation: { web: 1, worker: 2, clock: 1 },
    backlog: { default: 40, webhooks: 15, mailers: 25, reports: 30 },
    crons: crons('staging'),
    dead: 2,
    concurrency: 5,
    jobMs: 1_000,
    jobMsByQueue: { reports: 3_000 },
  },
  {
    environment: 'production',
    app: 'billing-production',
    namespace: 'billing-production',
    record: 'api.billing.example.com.',
    oldTarget: 'billing-production.herokudns.com.',
    newTarget: 'billing-production.eu-central.example.net.',
    formation: { web: 3, worker: 3, clock: 1 },
    backlog: { default: 80, webhooks: 30, mailers: 40, reports: 45 },
    crons: crons('production'),
    dead: 5,
    concurrency: 5,
    jobMs: 1_000,
    jobMsByQueue: { reports: 3_000 },
  },
];

export interface AppSnapshot {
  environment: string;
  app: string;
  maintenance: boolean;
  dns: {
    record: string;
    value: string | null;
    ttl: number | null;
    pointsAt: 'old' | 'new' | 'other' | 'missing';
  };
  formation: Record<string, number>;
  /** failing: every request 500 (health-check fault); erring: one in four 503 (error-rate fault). */
  health: 'ok' | 'failing' | 'erring';
  /** The share of 5xx the new platform answered this app in the last minute, as Prometheus reports it. */
  errorRatio: number;
  /** Null while no Redis answers. */
  sidekiq: SidekiqSnapshot | null;
}

export class ExampleWorld {
  readonly route53: FakeRoute53;
  readonly heroku: FakeHeroku;
  readonly maintenance: FakeMaintenance;
  readonly newPlatform: FakeNewPlatform;
  readonly prometheus: FakePrometheus;
  readonly apps: readonly ExampleApp[];
  readonly #faults: Faults;

  constructor(faults: Faults, apps: readonly ExampleApp[] = EXAMPLE_APPS) {
    this.#faults = faults;
    this.apps = apps;
    // Route 53 reports PENDING for a couple of seconds, as it does while its name servers catch up.
    this.route53 = new FakeRoute53({ propagation: { polls: 1, ms: 2_000 } });
    this.heroku = new FakeHeroku({ prefix: HEROKU_PREFIX, token: SANDBOX_HEROKU_TOKEN });
    this.maintenance = new FakeMaintenance({ prefix: MAINTENANCE_PREFIX, token: SANDBOX_MAINTENANCE_TOKEN });
    this.newPlatform = new FakeNewPlatform({ prefix: NEW_PLATFORM_PREFIX });
    // No PromQL here: every query is taken to ask for the new platform's 5xx rate over the last
    // minute, of the app it names (all apps when it names none), as the example plan's query does.
    this.prometheus = new FakePrometheus({
      prefix: PROMETHEUS_PREFIX,
      answer: (query, at) => {
        const app = apps.find((a) => query.includes(a.app))?.app;
        return [this.newPlatform.errorRatio(RATE_WINDOW_MS, app, at)];
      },
    });
    this.route53.addZone(HOSTED_ZONE.id, HOSTED_ZONE.name);
    for (const app of apps) {
      // TTL 60, below the plan's max_ttl: the team lowered it a day ahead, as the cutover advice says.
      this.route53.setRecord(HOSTED_ZONE.id, {
        name: app.record,
        type: 'CNAME',
        ttl: 60,
        values: [app.oldTarget],
      });
      this.heroku.addApp(app.app, {
        formation: app.formation,
        configVars: {
          RAILS_ENV: 'production',
          DATABASE_URL: `postgres://sandbox:not-a-secret@db.${app.app}.invalid:5432/billing`,
          REDIS_URL: `rediss://:not-a-secret@redis.${app.app}.invalid:6380`,
          WEB_CONCURRENCY: '2',
        },
      });
      this.maintenance.set(app.app, false);
    }
  }

  /** The fakes on Ferry's port, in the order they are tried. */
  routes(): Route[] {
    return [
      (req, res) => this.#route53(req, res),
      (req, res) => this.#herokuRoute(req, res),
      (req, res) => this.#maintenanceRoute(req, res),
      (req, res) => this.#health(req, res),
      (req, res) => this.prometheus.handle(req, res),
    ];
  }

  workerCount(app: string): number {
    return this.heroku.app(app)?.formation.worker?.quantity ?? 0;
  }

  inMaintenance(app: string): boolean {
    return this.maintenance.state(app).enabled;
  }

  /** True while the app's public name points at the old platform: requests and webhooks still reach it. */
  reachesOld(app: string): boolean {
    const spec = this.apps.find((a) => a.app === app);
    if (!spec) return false;
    return this.route53.getRecord(HOSTED_ZONE.id, spec.record, 'CNAME')?.values[0] === spec.oldTarget;
  }

  snapshot(sidekiq: (app: string) => SidekiqSnapshot | undefined): AppSnapshot[] {
    return this.apps.map((app) => {
      const record = this.route53.getRecord(HOSTED_ZONE.id, app.record, 'CNAME');
      const value = record?.values[0] ?? null;
      const formation = Object.fromEntries(
        Object.entries(this.heroku.app(app.app)?.formation ?? {}).map(([type, f]) => [type, f.quantity]),
      );
      return {
        environment: app.environment,
        app: app.app,
        maintenance: this.inMaintenance(app.app),
        dns: {
          record: app.record,
          value,
          ttl: record?.ttl ?? null,
          pointsAt:
            value === null
              ? 'missing'
              : value === app.oldTarget
                ? 'old'
                : value === app.newTarget
                  ? 'new'
                  : 'other',
        },
        formation,
        health: this.#faults.healthFailing ? 'failing' : this.#faults.errorRateUp ? 'erring' : 'ok',
        errorRatio: this.newPlatform.errorRatio(RATE_WINDOW_MS, app.app),
        sidekiq: sidekiq(app.app) ?? null,
      };
    });
  }

  #route53(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if ((req.url ?? '').startsWith('/2013-04-01/') && this.#faults.takeRoute53Throttle()) {
      this.route53.throttleNext(1);
    }
    return this.route53.handle(req, res);
  }

  #herokuRoute(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    // Apps a user's own plan names spring into existence, so such plans run in the sandbox too.
    const match = new RegExp(`^${HEROKU_PREFIX}/apps/([^/?]+)`).exec(req.url ?? '');
    const name = match?.[1] === undefined ? undefined : decodeURIComponent(match[1]);
    if (name !== undefined && /^[a-z][a-z0-9-]{1,29}$/.test(name) && !this.heroku.app(name)) {
      this.heroku.addApp(name, { formation: { web: 1, worker: 1 } });
    }
    return this.heroku.handle(req, res);
  }

  #maintenanceRoute(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    if (this.#faults.maintenance502 && (req.url ?? '').startsWith(`${MAINTENANCE_PREFIX}/`)) {
      req.resume();
      sendJson(res, 502, {
        error: 'Bad Gateway: the upstream app did not answer (injected by the sandbox faults panel)',
      });
      return Promise.resolve(true);
    }
    return this.maintenance.handle(req, res);
  }

  #health(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    // The faults panel decides how the new platform answers, request by request.
    this.newPlatform.down = this.#faults.healthFailing;
    this.newPlatform.failOneIn = this.#faults.errorRateUp ? ERROR_RATE_ONE_IN : 0;
    return this.newPlatform.handle(req, res);
  }
}
