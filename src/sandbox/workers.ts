import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { describeRedisUrl, parseRedisUrl } from '../adapters/redis-url.ts';
import { enqueue, isSeeded, keysOf, seedApp, sidekiqJobJson, type RedisAppSeed } from './redis-seed.ts';

// The old platform, alive: for each example app, Sidekiq processes that fetch and work jobs and write
// heartbeats as Sidekiq 7 does; web traffic that keeps a backlog queued while the app is out of
// maintenance and its DNS name still points at it; incoming webhooks until the app's pause flag is set
// (or the cutover sends them elsewhere); sidekiq-cron firing its enabled
// jobs; the scheduler moving due jobs. So a drain only finishes when the plan stopped every source of
// work, and scaling the workers to zero before draining leaves the queues full, as it would in real life.

export interface SimulatedApp extends RedisAppSeed {
  /** Heroku app name: its `worker` dynos are the Sidekiq processes. */
  app: string;
  /** Sidekiq threads per process. */
  concurrency: number;
  /** How long one job takes, on average. */
  jobMs: number;
  /** Queues whose jobs take longer (reports), by queue. */
  jobMsByQueue?: Record<string, number>;
}

export interface SimulationOptions {
  redisUrl: string;
  apps: readonly SimulatedApp[];
  /** Worker dynos the app runs now (FakeHeroku's formation). */
  workerCount: (app: string) => number;
  /** Whether the app is in maintenance (FakeMaintenance): no web traffic, so no new jobs from it. */
  inMaintenance: (app: string) => boolean;
  /** Whether the app's public name still points at the old platform (after the cutover, nothing arrives). */
  reachesOld: (app: string) => boolean;
  /** The "slow drain" fault: jobs take ten times longer. */
  slow: () => boolean;
  /** How often processes write heartbeats; Ferry's drain settle window matches it. */
  heartbeatMs: number;
  tickMs?: number;
  /** While the app takes traffic it schedules a few jobs this far ahead (default 3 to 8 s). */
  scheduleAheadMs?: { min: number; max: number };
  log: Logger;
}

export interface RedisStatus {
  state: 'connecting' | 'ready' | 'unavailable';
  /** The URL without its password. */
  url: string;
  /** One sentence for the console and the log. */
  message: string;
}

export interface SidekiqSnapshot {
  enqueued: number;
  queues: Record<string, number>;
  busy: number;
  scheduled: number;
  dead: number;
  processes: number;
  quiet: number;
  cronsEnabled: number;
  cronsTotal: number;
  webhooksPaused: boolean;
}

interface Job {
  queue: string;
  payload: string;
  tid: string;
  runAt: number;
  doneAt: number;
}

interface SimProcess {
  identity: string;
  hostname: string;
  pid: number;
  quiet: boolean;
  startedAt: number;
  lastBeat: number;
  inFlight: Job[];
}

interface AppState {
  spec: SimulatedApp;
  processes: SimProcess[];
  lastWebhook: number;
  lastCron: number;
  snapshot: SidekiqSnapshot | undefined;
}

interface SimulationEvents {
  status: [RedisStatus];
  snapshot: [];
}

const SLOW_FACTOR = 10;
const WEBHOOK_EVERY_MS = 2_000;
const CRON_EVERY_MS = 5_000;
const SCHEDULED_WHILE_LIVE = 3;
const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

export class SidekiqSimulation extends EventEmitter<SimulationEvents> {
  readonly #options: SimulationOptions;
  readonly #apps: AppState[];
  readonly #shownUrl: string;
  #redis: Redis | undefined;
  #status: RedisStatus;
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> | undefined;
  #stopped = false;
  #seeded = false;
  #dynoCounter = 0;

  constructor(options: SimulationOptions) {
    super();
    this.setMaxListeners(1000);
    this.#options = options;
    this.#apps = options.apps.map((spec) => ({
      spec,
      processes: [],
      lastWebhook: 0,
      lastCron: 0,
      snapshot: undefined,
    }));
    this.#shownUrl = describeRedisUrl(options.redisUrl);
    this.#status = {
      state: 'connecting',
      url: this.#shownUrl,
      message: `Connecting to Redis at ${this.#shownUrl}…`,
    };
  }

  status(): RedisStatus {
    return this.#status;
  }

  snapshot(app: string): SidekiqSnapshot | undefined {
    return this.#status.state === 'ready' ? this.#apps.find((a) => a.spec.app === app)?.snapshot : undefined;
  }

  /** Connects (retrying every few seconds while no Redis answers), seeds the apps, and runs the loop. */
  start(): void {
    const target = parseRedisUrl(this.#options.redisUrl);
    const redis = new Redis({
      host: target.host,
      port: target.port,
      db: target.db,
      ...(target.username !== undefined ? { username: target.username } : {}),
      ...(target.password !== undefined ? { password: target.password } : {}),
      ...(target.tls ? { tls: {} } : {}),
      connectTimeout: 1_000,
      commandTimeout: 2_000,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => 3_000,
      connectionName: 'ferry-sandbox',
      disableClientInfo: true,
    });
    this.#redis = redis;
    let lastError = '';
    redis.on('error', (error: Error) => {
      lastError = error.message;
      if (this.#status.state !== 'unavailable') this.#setUnavailable(lastError);
    });
    redis.on('close', () => {
      if (!this.#stopped && this.#status.state === 'ready')
        this.#setUnavailable(lastError || 'connection closed');
    });
    redis.on('ready', () => {
      this.#onReady(redis).catch((error: unknown) => this.#setUnavailable((error as Error).message));
    });
    const tickMs = this.#options.tickMs ?? 250;
    this.#timer = setInterval(() => {
      if (this.#tick || this.#status.state !== 'ready') return;
      this.#tick = this.#runTick(redis).finally(() => {
        this.#tick = undefined;
      });
    }, tickMs);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    await this.#tick;
    const redis = this.#redis;
    if (!redis) return;
    if (this.#status.state === 'ready') {
      // A clean Sidekiq shutdown: unfinished jobs go back to their queues, the process leaves the set.
      for (const app of this.#apps) {
        for (const p of app.processes) await this.#stopProcess(redis, app, p).catch(() => undefined);
        app.processes = [];
      }
    }
    redis.disconnect();
  }

  async #onReady(redis: Redis): Promise<void> {
    // A fresh world on every start, like the in-memory fakes; after a reconnect, only what was lost.
    for (const app of this.#apps) {
      if (!this.#seeded || !(await isSeeded(redis, app.spec.namespace))) {
        app.processes = [];
        await seedApp(redis, app.spec);
      }
    }
    this.#seeded = true;
    this.#status = {
      state: 'ready',
      url: this.#shownUrl,
      message: `Redis at ${this.#shownUrl} answers: the example's Sidekiq, sidekiq-cron and flag steps run against it.`,
    };
    this.#options.log.info(
      { redis: this.#shownUrl },
      'sandbox Redis ready: old Sidekiq workers simulated there',
    );
    this.emit('status', this.#status);
  }

  #setUnavailable(reason: string): void {
    if (this.#stopped) return;
    for (const app of this.#apps) app.processes = [];
    this.#status = {
      state: 'unavailable',
      url: this.#shownUrl,
      message:
        `No Redis answers at ${this.#shownUrl} (${reason}). Steps that use Redis (flags, sidekiq-cron, ` +
        'Sidekiq drains) will fail until one does: start Redis (for example `redis-server`) and press Retry, ' +
        'or press Skip on those steps. Set SANDBOX_REDIS_URL to use another Redis.',
    };
    this.#options.log.warn({ redis: this.#shownUrl, reason }, this.#status.message);
    this.emit('status', this.#status);
  }

  async #runTick(redis: Redis): Promise<void> {
    try {
      for (const app of this.#apps) await this.#tickApp(redis, app);
      this.emit('snapshot');
    } catch (error) {
      this.#options.log.debug({ err: error }, 'sandbox Sidekiq simulation tick failed');
    }
  }

  async #tickApp(redis: Redis, app: AppState): Promise<void> {
    const now = Date.now();
    const { spec } = app;
    const k = keysOf(spec.namespace);

    // Dynos: Heroku's formation decides how many Sidekiq processes run.
    const desired = Math.max(0, this.#options.workerCount(spec.app));
    while (app.processes.length < desired) {
      const p = this.#newProcess(app.processes.length + 1, now);
      app.processes.push(p);
      await this.#heartbeat(redis, app, p, now);
    }
    while (app.processes.length > desired) {
      const p = app.processes.pop();
      if (p) await this.#stopProcess(redis, app, p);
    }
    for (const p of app.processes) p.inFlight = p.inFlight.filter((job) => job.doneAt > now);

    // Sources of work.
    const reachesOld = this.#options.reachesOld(spec.app);
    if (reachesOld && !this.#options.inMaintenance(spec.app)) {
      const lengths = await Promise.all(Object.keys(spec.backlog).map((q) => redis.llen(k.queue(q))));
      await Promise.all(
        Object.entries(spec.backlog).map(([queue, target], i) =>
          enqueue(redis, spec.namespace, queue, target - (lengths[i] ?? 0)),
        ),
      );
      const scheduled = await redis.zcard(k.schedule);
      for (let i = scheduled; i < SCHEDULED_WHILE_LIVE; i++) {
        const ahead = this.#options.scheduleAheadMs ?? { min: 3_000, max: 8_000 };
        const dueAt = (now + ahead.min + Math.random() * (ahead.max - ahead.min)) / 1000;
        await redis.zadd(k.schedule, dueAt.toFixed(6), sidekiqJobJson('mailers'));
      }
    }
    const webhooksPaused = (await redis.get(k.webhooksPaused)) !== null;
    // Webhook endpoints stay up in maintenance mode (senders would retry for days); the app's own
    // flag is what holds them off.
    if (reachesOld && !webhooksPaused && now - app.lastWebhook >= WEBHOOK_EVERY_MS) {
      app.lastWebhook = now;
      await enqueue(redis, spec.namespace, 'webhooks', 1);
    }
    const cronKeys = await redis.smembers(k.cronSet);
    const statuses = await Promise.all(cronKeys.map((key) => redis.hmget(key, 'status', 'message')));
    const enabled = statuses.filter(([status]) => (status ?? 'enabled') === 'enabled');
    // sidekiq-cron's poller runs inside the Sidekiq processes.
    if (app.processes.length > 0 && now - app.lastCron >= CRON_EVERY_MS) {
      app.lastCron = now;
      for (const [, message] of enabled) {
        const queue = (JSON.parse(message ?? '{}') as { queue?: string }).queue ?? 'default';
        await enqueue(redis, spec.namespace, queue, 1);
      }
    }
    if (app.processes.length > 0) await this.#moveDueScheduled(redis, spec.namespace, now);

    // Work: each process fills its free threads from the queues, in priority order.
    const factor = this.#options.slow() ? SLOW_FACTOR : 1;
    const order = [
      ...new Set([...Object.keys(spec.backlog), 'webhooks', ...(await redis.smembers(k.queues))]),
    ];
    for (const p of app.processes) {
      if (p.quiet) continue;
      let free = spec.concurrency - p.inFlight.length;
      for (const queue of order) {
        while (free > 0) {
          const payload = await redis.rpop(k.queue(queue));
          if (payload === null) break;
          const jobMs = (spec.jobMsByQueue?.[queue] ?? spec.jobMs) * factor;
          p.inFlight.push({
            queue,
            payload,
            tid: hex(6),
            runAt: now,
            doneAt: now + jobMs * (0.5 + Math.random()),
          });
          free--;
        }
        if (free === 0) break;
      }
    }
    for (const p of app.processes) {
      if (now - p.lastBeat >= this.#options.heartbeatMs) await this.#heartbeat(redis, app, p, now);
    }
    app.snapshot = await this.#read(
      redis,
      spec,
      enabled.length,
      cronKeys.length,
      webhooksPaused,
      app.processes,
    );
  }

  #newProcess(index: number, now: number): SimProcess {
    this.#dynoCounter += 1;
    const hostname = `worker.${index}`;
    const pid = 4 + this.#dynoCounter;
    return {
      identity: `${hostname}:${pid}:${hex(6)}`,
      hostname,
      pid,
      quiet: false,
      startedAt: now,
      lastBeat: 0,
      inFlight: [],
    };
  }

  /** Launcher#❤: read one signal (TSTP = quiet), then rewrite `:work` and the process hash, EXPIRE 60. */
  async #heartbeat(redis: Redis, app: AppState, p: SimProcess, now: number): Promise<void> {
    const k = keysOf(app.spec.namespace);
    const signal = await redis.rpop(k.signals(p.identity));
    if (signal === 'TSTP') p.quiet = true;
    const work = redis.multi().unlink(k.work(p.identity));
    if (p.inFlight.length > 0) {
      const entries = p.inFlight.flatMap((job) => [
        job.tid,
        JSON.stringify({ queue: job.queue, payload: job.payload, run_at: Math.floor(job.runAt / 1000) }),
      ]);
      work.hset(k.work(p.identity), ...entries).expire(k.work(p.identity), 60);
    }
    await work.exec();
    const info = {
      hostname: p.hostname,
      started_at: p.startedAt / 1000,
      pid: p.pid,
      tag: app.spec.app,
      concurrency: app.spec.concurrency,
      queues: Object.keys(app.spec.backlog),
      weights: [{}],
      labels: ['heroku'],
      identity: p.identity,
      version: '7.3.9',
      embedded: false,
    };
    await redis
      .multi()
      .sadd(k.processes, p.identity)
      .hset(
        k.process(p.identity),
        'info',
        JSON.stringify(info),
        'busy',
        String(p.inFlight.length),
        'beat',
        String(now / 1000),
        'rtt_us',
        '412',
        'quiet',
        String(p.quiet),
        'rss',
        '212480',
      )
      .expire(k.process(p.identity), 60)
      .exec();
    p.lastBeat = now;
  }

  async #stopProcess(redis: Redis, app: AppState, p: SimProcess): Promise<void> {
    const k = keysOf(app.spec.namespace);
    const pipeline = redis.multi();
    // BasicFetch#bulk_requeue: unfinished jobs go back where they came from.
    for (const job of p.inFlight) pipeline.rpush(k.queue(job.queue), job.payload);
    pipeline
      .srem(k.processes, p.identity)
      .unlink(k.process(p.identity), k.work(p.identity), k.signals(p.identity));
    await pipeline.exec();
    p.inFlight = [];
  }

  async #moveDueScheduled(redis: Redis, ns: string, now: number): Promise<void> {
    const k = keysOf(ns);
    const due = await redis.zrangebyscore(k.schedule, '-inf', (now / 1000).toFixed(6), 'LIMIT', 0, 50);
    for (const payload of due) {
      if ((await redis.zrem(k.schedule, payload)) === 0) continue;
      const queue = (JSON.parse(payload) as { queue?: string }).queue ?? 'default';
      await redis.multi().sadd(k.queues, queue).lpush(k.queue(queue), payload).exec();
    }
  }

  async #read(
    redis: Redis,
    spec: SimulatedApp,
    cronsEnabled: number,
    cronsTotal: number,
    webhooksPaused: boolean,
    processes: readonly SimProcess[],
  ): Promise<SidekiqSnapshot> {
    const k = keysOf(spec.namespace);
    const names = (await redis.smembers(k.queues)).sort();
    const lengths = await Promise.all(names.map((q) => redis.llen(k.queue(q))));
    const queues: Record<string, number> = {};
    names.forEach((name, i) => {
      const n = lengths[i] ?? 0;
      if (n > 0) queues[name] = n;
    });
    const [scheduled, dead] = await Promise.all([redis.zcard(k.schedule), redis.zcard(k.dead)]);
    return {
      enqueued: Object.values(queues).reduce((a, b) => a + b, 0),
      queues,
      busy: processes.reduce((n, p) => n + p.inFlight.length, 0),
      scheduled,
      dead,
      processes: processes.length,
      quiet: processes.filter((p) => p.quiet).length,
      cronsEnabled,
      cronsTotal,
      webhooksPaused,
    };
  }
}
