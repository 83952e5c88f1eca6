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
  /**
   * What the console's Reset the world calls: Ferry starts over on the same port, with fresh fakes,
   * a freshly seeded Redis and an empty database (`resettable`). Without it the console says it
   * cannot reset (a sandbox without Ferry, in tests).
   */
  reset?: () => void;
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
    role: 'starts runs and approves, but not her own production runs (four eyes)',
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
    ...(options.reset ? { reset: options.reset } : {}),
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

/** What `resettable` needs of a running Ferry: its port, and a stop that can drop steps in flight. */
export interface ResettableFerry {
  port: number;
  stop(options?: { graceMs?: number }): Promise<void>;
}

/** How often a reset tries the port again when the old server has not let go of it yet. */
const REBIND_ATTEMPTS = 10;

/**
 * Local mode's Ferry, which the console's Reset the world starts over on the same port: the old one
 * stops (steps in flight at once, since their world is thrown away), and a new one starts as
 * `npm start` would, deleting the sandbox's PGlite and seeding fresh fakes and Redis. Anything less
 * leaves a run, a Slack message or a migrated DNS record from before, and the next rehearsal starts
 * from a world the last one already changed. The handle returned always reaches the Ferry running
 * now, so `stop()` stops the latest one.
 */
export async function resettable<T extends ResettableFerry>(
  start: (port: number | undefined, reset: () => void) => Promise<T>,
  log: Logger,
): Promise<T> {
  let resetting: Promise<void> | undefined;
  const reset = (): void => {
    resetting ??= (async () => {
      const port = current.port;
      log.info({ port }, 'sandbox: resetting the world: Ferry, its database, the fakes and Redis start over');
      await current.stop({ graceMs: 0 });
      for (let attempt = 1; ; attempt++) {
        try {
          current = await start(port, reset);
          break;
        } catch (error) {
          if ((error as { code?: unknown }).code !== 'EADDRINUSE' || attempt >= REBIND_ATTEMPTS) throw error;
          await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
        }
      }
      log.info({ port }, 'sandbox: the world was reset');
    })()
      .catch((error: unknown) =>
        log.error(
          { err: error },
          'sandbox: the reset failed, so Ferry is not running; stop this process and start it again (npm start)',
        ),
      )
      .finally(() => {
        resetting = undefined;
      });
  };
  let current = await start(undefined, reset);
  const stop = async (options?: { graceMs?: number }): Promise<void> => {
    while (resetting) await resetting;
    await current.stop(options);
  };
  return new Proxy(current, {
    get(_target, key) {
      if (key === 'stop') return stop;
      const value: unknown = Reflect.get(current, key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(current) : value;
    },
  });
}
