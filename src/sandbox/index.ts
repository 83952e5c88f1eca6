import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AdapterEnv } from '../adapters/types.ts';
import { listensBeyondLoopback, type Route } from '../http/server.ts';
import { ConsoleRoutes, type ConsoleUser, type ConsoleUsergroup } from './console-routes.ts';
import { FakeSlack, type RateLimitOptions } from './fake-slack.ts';
import { Faults } from './faults.ts';
import { SidekiqSimulation, type RedisStatus } from './workers.ts';
import {
  ExampleWorld,
  HEROKU_PREFIX,
  SANDBOX_HEROKU_TOKEN,
  SANDBOX_MAINTENANCE_TOKEN,
  type AppSnapshot,
} from './world.ts';

// Local mode: everything a rehearsal needs on Ferry's own port, with no Slack, AWS or Heroku. A fake
// Slack with a console page to drive it, local stand-ins for Route 53, Heroku and the maintenance
// endpoint, the new platform's health endpoint, and (when a Redis answers) the old platform's Sidekiq
// and sidekiq-cron, simulated. Ferry itself runs unchanged: the console signs what it sends, and the
// adapters talk to the fakes over their real wire protocols. See docs/sandbox.md.

export interface Sandbox {
  fakeSlack: FakeSlack;
  routes: Route[];
  /** Variables the example plans use (`${SANDBOX_URL}`, tokens); the real environment wins. */
  planEnv: Record<string, string>;
  /** Adapter settings that point Route 53 and Heroku at the local fakes. */
  adapterEnv: Partial<AdapterEnv>;
  /** The faults panel's switches (tests arm them directly). */
  faults: Faults;
  /** The seeded HTTP fakes (Route 53, Heroku, maintenance) and what the systems panel shows. */
  world: ExampleWorld;
  /** Whether the sandbox's Redis answers, in words for the console and the log. */
  redisStatus(): RedisStatus;
  stop(): Promise<void>;
}

export interface SandboxOptions {
  /** Ferry's own base URL, e.g. http://127.0.0.1:3000. */
  url: string;
  signingSecret: string;
  log: Logger;
  /**
   * The environment, for the sandbox's own settings: `SANDBOX_REDIS_URL` (default
   * DEFAULT_SANDBOX_REDIS_URL). Pass the same snapshot the plans read (`config.planEnv`), so the
   * Redis the sandbox seeds is the one the example plan's steps use.
   */
  env?: Readonly<Record<string, string | undefined>>;
  /** The fake Slack's rate limits (default on, as Slack's). */
  rateLimits?: boolean | number | RateLimitOptions;
  /** Sidekiq heartbeat of the simulated workers and Ferry's drain settle window (default 2 s). */
  sidekiqHeartbeatMs?: number;
  /** The console's token when Ferry listens beyond loopback (config.consoleToken; default random). */
  consoleToken?: string;
}

/** Database 15 of a local Redis: the last of the 16 a default Redis has, where no app's data usually lives. */
export const DEFAULT_SANDBOX_REDIS_URL = 'redis://127.0.0.1:6379/15';
/** Ferry's default heartbeat (10 s) makes a drain wait 10 s after the queues empty; a rehearsal needs less. */
export const SANDBOX_SIDEKIQ_HEARTBEAT_MS = 2_000;

export const SANDBOX_CHANNEL = { id: 'C0MIGRATIONS', name: 'migrations' } as const;

export const SANDBOX_USERS: readonly ConsoleUser[] = [
  {
    id: 'U01ALICE',
    name: 'alice',
    realName: 'Alice',
    role: 'may start runs (a starter in the example plan)',
  },
  { id: 'U02BOB', name: 'bob', realName: 'Bob', role: 'approves risky steps (an approver, in @platform)' },
  { id: 'U03MALLORY', name: 'mallory', realName: 'Mallory', role: 'neither a starter nor an approver' },
];

export const SANDBOX_USERGROUPS: readonly ConsoleUsergroup[] = [
  { id: 'S0PLATFORM', handle: 'platform', name: 'Platform team', users: ['U02BOB'] },
];

/**
 * What Ferry prints at start in local mode: the console's address, with its token when Ferry
 * listens beyond loopback (`host` is FERRY_HOST; unset means every interface), since the console
 * then asks for it.
 */
export function sandboxBanner(host: string | undefined, token: string, port: number): string {
  const url = `http://localhost:${port}`;
  if (!listensBeyondLoopback(host)) return `Ferry sandbox: ${url}\n`;
  return (
    `Ferry sandbox: ${url}/?token=${token}\n` +
    `  Ferry listens on ${host ?? 'every interface'}, beyond this machine's loopback, so the console asks for ` +
    'this token: open this address (it leaves the token in a cookie). A restart makes a new one unless FERRY_CONSOLE_TOKEN is set.\n'
  );
}

export function createSandbox(options: SandboxOptions): Promise<Sandbox> {
  const url = options.url.replace(/\/+$/, '');
  const env = options.env ?? {};
  const redisUrl = env.SANDBOX_REDIS_URL?.trim() || DEFAULT_SANDBOX_REDIS_URL;
  const heartbeatMs = options.sidekiqHeartbeatMs ?? SANDBOX_SIDEKIQ_HEARTBEAT_MS;
  const log = options.log;

  const fakeSlack = new FakeSlack({
    baseUrl: url,
    rateLimits: options.rateLimits ?? true,
    users: SANDBOX_USERS.map((u) => ({
      id: u.id,
      name: u.name,
      real_name: u.realName,
      display_name: u.realName,
    })),
    usergroups: Object.fromEntries(SANDBOX_USERGROUPS.map((g) => [g.id, g.users])),
    channels: [
      {
        id: SANDBOX_CHANNEL.id,
        name: SANDBOX_CHANNEL.name,
        topic: 'Service migrations: type /migrate start billing staging',
      },
    ],
  });
  const faults = new Faults();
  const world = new ExampleWorld(faults);
  const simulation = new SidekiqSimulation({
    redisUrl,
    apps: world.apps,
    workerCount: (app) => world.workerCount(app),
    inMaintenance: (app) => world.inMaintenance(app),
    reachesOld: (app) => world.reachesOld(app),
    slow: () => faults.slowDrain,
    heartbeatMs,
    log,
  });
  simulation.start();
  const worldSnapshot = (): AppSnapshot[] => world.snapshot((app) => simulation.snapshot(app));
  const consoleRoutes = new ConsoleRoutes({
    fakeSlack,
    ferryUrl: url,
    signingSecret: options.signingSecret,
    faults,
    users: SANDBOX_USERS,
    usergroups: SANDBOX_USERGROUPS,
    channel: SANDBOX_CHANNEL,
    world: worldSnapshot,
    redis: () => simulation.status(),
    log,
    token: options.consoleToken ?? randomBytes(18).toString('base64url'),
  });

  log.info(
    { redis: simulation.status().url, heartbeatMs },
    `sandbox: fake Slack, Route 53, Heroku and maintenance endpoint on ${url}; Sidekiq heartbeat ${heartbeatMs} ms`,
  );

  return Promise.resolve({
    fakeSlack,
    faults,
    world,
    routes: [consoleRoutes.route, (req, res) => fakeSlack.handle(req, res), ...world.routes()],
    planEnv: {
      SANDBOX_URL: url,
      SANDBOX_REDIS_URL: redisUrl,
      SANDBOX_MAINTENANCE_TOKEN,
    },
    adapterEnv: {
      route53: {
        endpoint: url,
        region: 'us-east-1',
        credentials: { accessKeyId: 'AKIASANDBOXEXAMPLE', secretAccessKey: 'sandbox-not-a-secret' },
      },
      heroku: { apiUrl: `${url}${HEROKU_PREFIX}`, token: SANDBOX_HEROKU_TOKEN },
      sidekiqHeartbeatMs: heartbeatMs,
    },
    redisStatus: () => simulation.status(),
    async stop() {
      consoleRoutes.close();
      await simulation.stop();
    },
  });
}
