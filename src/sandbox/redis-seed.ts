import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

// The old platform's Redis for the sandbox's example apps, written in the layouts the real gems use
// (integrations.md §3, §4), so Ferry's adapters meet what they would meet on Heroku:
//   Sidekiq (redis-namespace prefix `<ns>:`): queues (SET) · queue:<q> (LIST) · schedule / dead (ZSET)
//     · processes (SET) · <identity> (HASH) · <identity>:work (HASH) · <identity>-signals (LIST)
//   sidekiq-cron 2.x: SET cron_jobs:<ns> of `cron_job:<ns>:<name>` HASHes (status enabled|disabled)
//   the app's own flag: <ns>:webhooks:paused
// The example's staging and production share the sandbox's one Redis database and keep apart the way
// apps sharing a Redis do: each under its own namespace.

export interface CronSeed {
  name: string;
  cron: string;
  klass: string;
  queue: string;
  enabled: boolean;
}

export interface RedisAppSeed {
  /** Prefix of every Sidekiq key and the sidekiq-cron namespace, e.g. "billing-staging". */
  namespace: string;
  /** Jobs waiting per queue while the app takes traffic. */
  backlog: Record<string, number>;
  crons: CronSeed[];
  /** Jobs out of retries: the drain reports them, never waits for them. */
  dead: number;
}

const nowSeconds = (): number => Date.now() / 1000;
const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

/** Keys of one app: Sidekiq's under its prefix, sidekiq-cron's in its namespace. */
export const keysOf = (ns: string) => ({
  prefix: `${ns}:`,
  queues: `${ns}:queues`,
  queue: (name: string) => `${ns}:queue:${name}`,
  schedule: `${ns}:schedule`,
  dead: `${ns}:dead`,
  processes: `${ns}:processes`,
  process: (identity: string) => `${ns}:${identity}`,
  work: (identity: string) => `${ns}:${identity}:work`,
  signals: (identity: string) => `${ns}:${identity}-signals`,
  webhooksPaused: `${ns}:webhooks:paused`,
  cronSet: `cron_jobs:${ns}`,
  cronJob: (name: string) => `cron_job:${ns}:${name}`,
});

const JOB_CLASSES: Record<string, string[]> = {
  default: ['Invoices::RenderPdfJob', 'Ledger::PostEntryJob', 'Accounts::SyncTaxIdJob'],
  mailers: ['ActionMailer::MailDeliveryJob'],
  webhooks: ['Stripe::HandleEventJob', 'Webhooks::DeliverJob'],
  reports: ['Reports::MonthlyUsageJob', 'Reports::ExportCsvJob'],
};

/** A job as Sidekiq 7's client pushes it (jid: 12 random bytes in hex; times in float epoch seconds). */
export function sidekiqJobJson(queue: string, klass?: string): string {
  const classes = JOB_CLASSES[queue] ?? ['ApplicationJob'];
  const chosen = klass ?? classes[Math.floor(Math.random() * classes.length)] ?? 'ApplicationJob';
  const at = nowSeconds();
  return JSON.stringify({
    retry: true,
    queue,
    class: chosen,
    args: [Math.floor(Math.random() * 100_000)],
    jid: hex(12),
    created_at: at,
    enqueued_at: at,
  });
}

/** Client#push for immediate jobs: SADD queues + LPUSH queue:<q> (workers BRPOP the tail). */
export async function enqueue(
  redis: Redis,
  ns: string,
  queue: string,
  count: number,
  klass?: string,
): Promise<void> {
  if (count <= 0) return;
  const k = keysOf(ns);
  const jobs = Array.from({ length: count }, () => sidekiqJobJson(queue, klass));
  await redis
    .multi()
    .sadd(k.queues, queue)
    .lpush(k.queue(queue), ...jobs)
    .exec();
}

async function scan(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found;
}

/** Removes everything the sandbox wrote for one app, and nothing else in the database. */
export async function resetApp(redis: Redis, ns: string): Promise<void> {
  const k = keysOf(ns);
  const keys = [
    ...(await scan(redis, `${k.prefix}*`)),
    ...(await scan(redis, `cron_job:${ns}:*`)),
    k.cronSet,
  ];
  for (let i = 0; i < keys.length; i += 500) await redis.unlink(...keys.slice(i, i + 500));
}

function lastEnqueueTime(): string {
  // '%Y-%m-%d %H:%M:%S %z' in UTC, as sidekiq-cron stores it.
  const iso = new Date(Date.now() - 3_600_000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} +0000`;
}

/** sidekiq-cron 2.x Job#save: SADD cron_jobs:<ns> cron_job:<ns>:<name>, HSET its fields. */
async function saveCronJob(redis: Redis, ns: string, job: CronSeed): Promise<void> {
  const k = keysOf(ns);
  const key = k.cronJob(job.name);
  const fields: Record<string, string> = {
    name: job.name,
    namespace: ns,
    klass: job.klass,
    cron: job.cron,
    description: '',
    source: 'schedule',
    args: '[]',
    date_as_argument: '0',
    message: JSON.stringify({ queue: job.queue, class: job.klass, args: [] }),
    status: job.enabled ? 'enabled' : 'disabled',
    active_job: '0',
    queue_name_prefix: '',
    queue_name_delimiter: '',
    last_enqueue_time: lastEnqueueTime(),
    symbolize_args: '0',
    retry: '',
  };
  await redis
    .multi()
    .sadd(k.cronSet, key)
    .hset(key, ...Object.entries(fields).flat())
    .zadd(`${key}:enqueued`, nowSeconds().toFixed(6), lastEnqueueTime())
    .exec();
}

/** A fresh old platform for one app: its cron jobs, a few dead jobs and the backlog it carries while live. */
export async function seedApp(redis: Redis, seed: RedisAppSeed): Promise<void> {
  await resetApp(redis, seed.namespace);
  const k = keysOf(seed.namespace);
  for (const job of seed.crons) await saveCronJob(redis, seed.namespace, job);
  for (let i = 0; i < seed.dead; i++) {
    const job = {
      ...(JSON.parse(sidekiqJobJson('default')) as Record<string, unknown>),
      error_message: 'PG::UniqueViolation: duplicate key value violates unique constraint "invoices_number"',
      error_class: 'ActiveRecord::RecordNotUnique',
      retry_count: 25,
      failed_at: nowSeconds() - 86_400,
    };
    await redis.zadd(k.dead, (nowSeconds() - 3600 * (i + 1)).toFixed(6), JSON.stringify(job));
  }
  for (const [queue, count] of Object.entries(seed.backlog))
    await enqueue(redis, seed.namespace, queue, count);
}

/** Whether the app's data is there (a Redis restarted without persistence loses it). */
export async function isSeeded(redis: Redis, ns: string): Promise<boolean> {
  return (await redis.exists(keysOf(ns).cronSet)) === 1;
}
