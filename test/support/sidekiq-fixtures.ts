import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

// Writes Sidekiq 7 and sidekiq-cron data in the layouts those gems use (integrations.md §3, §4;
// sidekiq `lib/sidekiq/{client,launcher,processor,api}.rb`, sidekiq-cron `lib/sidekiq/cron/job.rb`),
// so the adapters are tested against what they will meet in a real Redis.
//
// Sidekiq's keys have fixed names (`queues`, `processes`, `schedule`), so each test file gets its
// own database index and flushes only that one. Indexes in use by the Redis adapter tests:
//   10 redis-toggle.test.ts · 11 sidekiq-cron.test.ts · 12 sidekiq-pause.test.ts
//   13 sidekiq-drain.test.ts · 14 redis-client.test.ts (client, latency)

export const REDIS_HOST = '127.0.0.1';
export const REDIS_PORT = 6379;

export function redisUrlForDb(db: number): string {
  return `redis://${REDIS_HOST}:${REDIS_PORT}/${db}`;
}

/** A direct connection for arranging and inspecting data. `keyPrefix` mimics redis-namespace. */
export function openTestRedis(db: number, keyPrefix?: string): Redis {
  return new Redis({ host: REDIS_HOST, port: REDIS_PORT, db, ...(keyPrefix ? { keyPrefix } : {}) });
}

export const hex = (bytes: number): string => randomBytes(bytes).toString('hex');
const nowSeconds = (): number => Date.now() / 1000;

// ---------------------------------------------------------------------------------------------
// Jobs

export interface SidekiqJob {
  retry: boolean | number;
  queue: string;
  class: string;
  args: unknown[];
  jid: string;
  created_at: number;
  enqueued_at?: number;
  [field: string]: unknown;
}

/** A job hash as Sidekiq 7's client builds it (jid = 12 random bytes in hex, float epoch seconds). */
export function sidekiqJob(queue = 'default', klass = 'HardJob', args: unknown[] = [1, 'two']): SidekiqJob {
  return { retry: true, queue, class: klass, args, jid: hex(12), created_at: nowSeconds() };
}

/** Client#push for an immediate job: SADD queues + LPUSH queue:<q> (the fetcher BRPOPs the tail). */
export async function enqueueJobs(
  redis: Redis,
  queue: string,
  count: number,
  klass = 'HardJob',
): Promise<void> {
  if (count <= 0) return;
  const payloads = Array.from({ length: count }, () =>
    JSON.stringify({ ...sidekiqJob(queue, klass), enqueued_at: nowSeconds() }),
  );
  await redis
    .multi()
    .sadd('queues', queue)
    .lpush(`queue:${queue}`, ...payloads)
    .exec();
}

/** Client#push with `at`: ZADD schedule <float epoch> <job json>. */
export async function scheduleJob(redis: Redis, queue: string, inSeconds: number): Promise<SidekiqJob> {
  const job = sidekiqJob(queue);
  await redis.zadd('schedule', (nowSeconds() + inSeconds).toFixed(6), JSON.stringify(job));
  return job;
}

/** A failed job waiting for its retry, as the retry middleware writes it. */
export async function addRetry(redis: Redis, queue: string, inSeconds: number): Promise<SidekiqJob> {
  const job: SidekiqJob = {
    ...sidekiqJob(queue),
    enqueued_at: nowSeconds() - 60,
    error_message: 'boom',
    error_class: 'RuntimeError',
    failed_at: nowSeconds() - 30,
    retry_count: 0,
  };
  await redis.zadd('retry', (nowSeconds() + inSeconds).toFixed(6), JSON.stringify(job));
  return job;
}

/** A job out of retries: ZADD dead <now> <job json>. */
export async function addDead(redis: Redis, queue: string): Promise<void> {
  const job = {
    ...sidekiqJob(queue),
    error_message: 'gave up',
    error_class: 'RuntimeError',
    retry_count: 25,
  };
  await redis.zadd('dead', nowSeconds().toFixed(6), JSON.stringify(job));
}

// ---------------------------------------------------------------------------------------------
// Processes

export interface ProcessOptions {
  hostname?: string;
  pid?: number;
  quiet?: boolean;
  queues?: string[];
  concurrency?: number;
  /** Jobs in flight: written to `<identity>:work` and counted in `busy`. */
  busy?: number;
}

/**
 * What Launcher#❤ writes every heartbeat: SADD processes; `<identity>` hash with info JSON, busy,
 * beat, rtt_us, quiet, rss and EXPIRE 60; `<identity>:work` with one entry per job in flight.
 * Identity: "<hostname>:<pid>:<hex12>".
 */
export async function addProcess(redis: Redis, opts: ProcessOptions = {}): Promise<string> {
  const hostname = opts.hostname ?? `worker.${hex(2)}`;
  const pid = opts.pid ?? 1000 + Math.floor(Math.random() * 30_000);
  const identity = `${hostname}:${pid}:${hex(6)}`;
  const queues = opts.queues ?? ['default'];
  const info = {
    hostname,
    started_at: nowSeconds() - 3600,
    pid,
    tag: 'app',
    concurrency: opts.concurrency ?? 5,
    queues,
    weights: [Object.fromEntries(queues.map((q) => [q, 0]))],
    labels: [],
    identity,
    version: '7.3.9',
    embedded: false,
  };
  await heartbeat(redis, identity, {
    info: JSON.stringify(info),
    quiet: opts.quiet ?? false,
    busy: opts.busy ?? 0,
  });
  return identity;
}

/** One heartbeat: rewrite `:work` and the process hash (as Sidekiq does, without reading signals). */
export async function heartbeat(
  redis: Redis,
  identity: string,
  state: { info?: string; quiet?: boolean; busy: number },
): Promise<void> {
  const workKey = `${identity}:work`;
  const work = redis.multi().unlink(workKey);
  if (state.busy > 0) {
    const entries: string[] = [];
    for (let i = 0; i < state.busy; i++) {
      const job = sidekiqJob('default');
      entries.push(
        hex(6),
        JSON.stringify({ queue: 'default', payload: JSON.stringify(job), run_at: Math.floor(nowSeconds()) }),
      );
    }
    work.hset(workKey, ...entries).expire(workKey, 60);
  }
  await work.exec();
  const fields: string[] = [
    'busy',
    String(state.busy),
    'beat',
    String(nowSeconds()),
    'rtt_us',
    '312',
    'rss',
    '183240',
  ];
  if (state.info !== undefined) fields.push('info', state.info);
  if (state.quiet !== undefined) fields.push('quiet', String(state.quiet));
  await redis
    .multi()
    .sadd('processes', identity)
    .hset(identity, ...fields)
    .expire(identity, 60)
    .exec();
}

/**
 * The signal half of a heartbeat: RPOP `<identity>-signals`; on TSTP the process goes quiet and
 * reports `quiet: "true"` from then on. Returns the signal read, if any.
 */
export async function readSignal(redis: Redis, identity: string): Promise<string | null> {
  const signal = await redis.rpop(`${identity}-signals`);
  if (signal === 'TSTP') await redis.hset(identity, 'quiet', 'true');
  return signal;
}

/** A clean shutdown: SREM processes, UNLINK the hash and `:work`. */
export async function stopProcess(redis: Redis, identity: string): Promise<void> {
  await redis.multi().srem('processes', identity).unlink(identity, `${identity}:work`).exec();
}

// ---------------------------------------------------------------------------------------------
// sidekiq-cron

export interface CronJobOptions {
  name: string;
  status?: 'enabled' | 'disabled';
  cron?: string;
  klass?: string;
  queue?: string;
  args?: unknown[];
}

const lastEnqueueTime = (): string => {
  // '%Y-%m-%d %H:%M:%S %z' in UTC, as sidekiq-cron stores it.
  const iso = new Date(Date.now() - 3_600_000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} +0000`;
};

function cronFields(job: CronJobOptions, extra: Record<string, string>): string[] {
  const klass = job.klass ?? `${job.name.replace(/(^|_)(\w)/g, (_, __, c: string) => c.toUpperCase())}Job`;
  const args = job.args ?? [];
  const fields: Record<string, string> = {
    name: job.name,
    klass,
    cron: job.cron ?? '0 3 * * *',
    description: `${job.name} (fixture)`,
    source: 'schedule',
    args: JSON.stringify(args),
    date_as_argument: '0',
    message: JSON.stringify({ queue: job.queue ?? 'default', class: klass, args }),
    status: job.status ?? 'enabled',
    active_job: '0',
    queue_name_prefix: '',
    queue_name_delimiter: '',
    last_enqueue_time: lastEnqueueTime(),
    symbolize_args: '0',
    ...extra,
  };
  return Object.entries(fields).flat();
}

/** sidekiq-cron 1.x Job#save: SADD cron_jobs cron_job:<name>; HSET the hash; ZADD …:enqueued. */
export async function addCronJobV1(redis: Redis, job: CronJobOptions): Promise<string> {
  const key = `cron_job:${job.name}`;
  await redis
    .multi()
    .sadd('cron_jobs', key)
    .hset(key, ...cronFields(job, {}))
    .zadd(`${key}:enqueued`, nowSeconds().toFixed(6), lastEnqueueTime())
    .exec();
  return key;
}

/** sidekiq-cron 2.x Job#save: SADD cron_jobs:<ns> cron_job:<ns>:<name>; HSET (with namespace, retry). */
export async function addCronJobV2(
  redis: Redis,
  job: CronJobOptions & { namespace?: string },
): Promise<string> {
  const ns = job.namespace ?? 'default';
  const key = `cron_job:${ns}:${job.name}`;
  await redis
    .multi()
    .sadd(`cron_jobs:${ns}`, key)
    .hset(key, ...cronFields(job, { namespace: ns, retry: '' }))
    .zadd(`${key}:enqueued`, nowSeconds().toFixed(6), lastEnqueueTime())
    .exec();
  return key;
}

/** `status` of every job hash named in the 1.x and 2.x sets, by key. */
export async function cronStatuses(redis: Redis): Promise<Record<string, string | null>> {
  const sets = ['cron_jobs', ...(await redis.keys('cron_jobs:*'))];
  const out: Record<string, string | null> = {};
  for (const set of sets) {
    for (const key of await redis.smembers(set)) out[key] = await redis.hget(key, 'status');
  }
  return out;
}
