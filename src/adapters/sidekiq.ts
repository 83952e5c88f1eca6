import { formatDuration } from '../duration.ts';
import type { Redis } from 'ioredis';
import { StepError } from '../errors.ts';
import type { SidekiqProvider, StepSpec } from '../plan/schema.ts';
import { connectOptions, withRedis } from './redis-client.ts';
import type { AdapterEnv, StepContext, StepHandler, StepResult } from './types.ts';

// Sidekiq's own data in Redis (integrations.md §3), read and written in its real layout:
//   queues (SET) · queue:<q> (LIST) · schedule / retry / dead (ZSET) · processes (SET of identities)
//   <identity> (HASH: info, busy, beat, quiet; EXPIRE 60) · <identity>:work (HASH tid -> job)
//   <identity>-signals (LIST: the heartbeat RPOPs it and signals itself; "TSTP" = quiet)
// Apps on Sidekiq <= 6 with redis-namespace prefix every key with `<namespace>:`.

type JobsStep = Extract<StepSpec, { kind: 'jobs' }>;
export type SidekiqJobsStep = JobsStep & { provider: SidekiqProvider };
export type SidekiqDrainStep = Extract<StepSpec, { kind: 'drain' }>;

const DEFAULT_DRAIN_TIMEOUT_MS = 30 * 60_000;
/** Zero must be seen on at least this many consecutive samples, whatever the window. */
const MIN_CONFIRMING_SAMPLES = 3;
/** Rate and ETA come from the samples of the last minute. */
const RATE_WINDOW_MS = 60_000;

const plural = (n: number, word: string): string =>
  `${n} ${word}${n === 1 ? '' : word.endsWith('s') ? 'es' : 's'}`;
const prefixOf = (provider: SidekiqProvider): string | undefined =>
  provider.namespace ? `${provider.namespace}:` : undefined;

function openSidekiq<T>(
  env: AdapterEnv,
  provider: SidekiqProvider,
  fn: (redis: Redis) => Promise<T>,
): Promise<T> {
  return withRedis(provider.url, connectOptions(env, provider, prefixOf(provider)), fn);
}

// ---------------------------------------------------------------------------------------------
// Processes

interface LiveProcess {
  identity: string;
  hostname: string;
  quiet: boolean;
}

function hostnameOf(identity: string, info: string | null): string {
  if (info) {
    try {
      const parsed = JSON.parse(info) as { hostname?: unknown };
      if (typeof parsed.hostname === 'string' && parsed.hostname !== '') return parsed.hostname;
    } catch {
      // fall back to the identity's first part
    }
  }
  return identity.split(':')[0] ?? identity;
}

/** Members of `processes` whose heartbeat hash still exists (a dead process's expires after 60 s). */
async function liveProcesses(redis: Redis): Promise<LiveProcess[]> {
  const identities = (await redis.smembers('processes')).sort();
  if (identities.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of identities) pipeline.hmget(id, 'quiet', 'info', 'beat');
  const replies = (await pipeline.exec()) ?? [];
  const out: LiveProcess[] = [];
  identities.forEach((identity, i) => {
    const reply = replies[i];
    if (!reply || reply[0]) return;
    const [quiet, info, beat] = reply[1] as [string | null, string | null, string | null];
    if (quiet === null && info === null && beat === null) return;
    out.push({ identity, hostname: hostnameOf(identity, info), quiet: quiet === 'true' });
  });
  return out;
}

export interface SidekiqPauseCapture {
  /** Identities that were live and not quiet: the ones this step quiets. */
  identities: string[];
  hostnames: string[];
  /** Live processes seen. */
  total: number;
  alreadyQuiet: number;
}

// Quiet as Sidekiq::Process#quiet! does (LPUSH TSTP + EXPIRE 60), but only once: a replay finds the
// signal pending or the process already quiet and pushes nothing.
const QUIET = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 'gone' end
if redis.call('HGET', KEYS[1], 'quiet') == 'true' then return 'quiet' end
for _, signal in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  if signal == 'TSTP' then
    redis.call('EXPIRE', KEYS[2], 60)
    return 'pending'
  end
end
redis.call('LPUSH', KEYS[2], 'TSTP')
redis.call('EXPIRE', KEYS[2], 60)
return 'signalled'`;

const resumeExplanation =
  'Sidekiq has no resume: a quiet process only stops. To resume, restart the worker processes ' +
  '(e.g. `heroku ps:restart worker`), or pause and resume with a heroku-formation jobs step instead.';

function listHosts(hostnames: readonly string[]): string {
  const unique = [...new Set(hostnames)];
  return unique.length <= 5
    ? unique.join(', ')
    : `${unique.slice(0, 5).join(', ')} and ${unique.length - 5} more`;
}

export function sidekiqPauseHandler(env: AdapterEnv): StepHandler<SidekiqJobsStep, SidekiqPauseCapture> {
  const refuseResume = (): StepError =>
    new StepError(`Cannot resume Sidekiq through Redis. ${resumeExplanation}`, {
      retryable: false,
      reason: 'sidekiq_resume_unsupported',
    });

  async function read(step: SidekiqJobsStep): Promise<SidekiqPauseCapture> {
    const live = await openSidekiq(env, step.provider, liveProcesses);
    const toQuiet = live.filter((p) => !p.quiet);
    return {
      identities: toQuiet.map((p) => p.identity),
      hostnames: toQuiet.map((p) => p.hostname),
      total: live.length,
      alreadyQuiet: live.length - toQuiet.length,
    };
  }

  return {
    async describe(step) {
      if (step.action === 'resume') return `cannot resume Sidekiq processes: ${resumeExplanation}`;
      const c = await read(step);
      if (c.total === 0) return 'quiet Sidekiq processes: none running now';
      return `quiet ${c.identities.length} of ${plural(c.total, 'Sidekiq process')} (${c.alreadyQuiet} already quiet)`;
    },

    // eslint-disable-next-line @typescript-eslint/require-await
    async blocker(step) {
      return step.action === 'resume' ? resumeExplanation : null;
    },

    async capture(step) {
      if (step.action === 'resume') throw refuseResume();
      return read(step);
    },

    async run(step, captured): Promise<StepResult> {
      if (step.action === 'resume') throw refuseResume();
      const outcomes = await openSidekiq(env, step.provider, async (redis) => {
        const out: string[] = [];
        for (const id of captured.identities)
          out.push((await redis.eval(QUIET, 2, id, `${id}-signals`)) as string);
        return out;
      });
      const gone = outcomes.filter((o) => o === 'gone').length;
      const quieted = captured.identities.length - gone;
      const figures = { quieted, total: captured.total, alreadyQuiet: captured.alreadyQuiet, stopped: gone };
      if (captured.total === 0) {
        return { summary: 'no Sidekiq processes running: nothing to quiet', figures };
      }
      return {
        summary:
          `quieted ${quieted} of ${plural(captured.total, 'Sidekiq process')} (${captured.alreadyQuiet} already quiet` +
          `${gone > 0 ? `, ${gone} stopped meanwhile` : ''}); they stop fetching jobs at their next heartbeat`,
        figures,
      };
    },

    async undo(step, captured): Promise<StepResult> {
      // A quiet Sidekiq process never resumes; the one thing that can be taken back is a TSTP this
      // step pushed that no heartbeat has read yet.
      const withdrawn = await openSidekiq(env, step.provider, async (redis) => {
        const out: string[] = [];
        for (const id of captured.identities) {
          const removed = await redis.lrem(`${id}-signals`, 0, 'TSTP');
          if (removed > 0) out.push(id);
        }
        return out;
      });
      const stillQuiet = captured.identities
        .map((id, i) => ({ id, host: captured.hostnames[i] ?? id }))
        .filter((p) => !withdrawn.includes(p.id));
      const figures = { withdrawn: withdrawn.length, quieted: stillQuiet.length };
      if (captured.identities.length === 0) {
        return { summary: 'nothing to undo: this step quieted no Sidekiq process', figures };
      }
      if (stillQuiet.length === 0) {
        return {
          summary: `withdrew the quiet signal before ${plural(withdrawn.length, 'Sidekiq process')} read it; they keep working`,
          figures,
        };
      }
      const n = stillQuiet.length;
      return {
        summary:
          `Sidekiq processes cannot be un-quieted; restart the ${n} quieted ${n === 1 ? 'process' : 'processes'} ` +
          `(${listHosts(stillQuiet.map((p) => p.host))}) to resume` +
          (withdrawn.length > 0 ? `; withdrew the pending quiet signal of ${withdrawn.length} more` : ''),
        figures,
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Drain

export interface DrainCounts {
  enqueued: number;
  /** Jobs waiting per queue, non-empty queues only. */
  queues: Record<string, number>;
  busy: number;
  scheduled: number;
  retry: number;
  dead: number;
  /** Live processes (heartbeat hash present). */
  processes: number;
}

const left = (c: DrainCounts): number => c.enqueued + c.busy + c.scheduled + c.retry;

async function scanQueueNames(redis: Redis, prefix: string): Promise<string[]> {
  const names = new Set<string>();
  let cursor = '0';
  do {
    // ioredis does not prefix SCAN patterns nor strip the prefix from what SCAN returns.
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}queue:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) names.add(key.slice(prefix.length + 'queue:'.length));
  } while (cursor !== '0');
  return [...names];
}

/**
 * One reading of the old Redis. `scan` also looks for `queue:*` lists missing from the `queues`
 * set (SCAN walks the whole keyspace, so the watcher does it only when the rest reads empty).
 */
export async function sampleSidekiq(
  redis: Redis,
  opts: { queues: 'all' | string[]; prefix: string; scan: boolean },
): Promise<DrainCounts> {
  let names: string[];
  if (opts.queues === 'all') {
    const known = new Set(await redis.smembers('queues'));
    if (opts.scan) for (const name of await scanQueueNames(redis, opts.prefix)) known.add(name);
    names = [...known].sort();
  } else {
    names = [...opts.queues];
  }
  const identities = await redis.smembers('processes');

  const pipeline = redis.pipeline();
  for (const name of names) pipeline.llen(`queue:${name}`);
  for (const id of identities) pipeline.hget(id, 'busy').hlen(`${id}:work`);
  pipeline.zcard('schedule').zcard('retry').zcard('dead');
  const replies = (await pipeline.exec()) ?? [];
  const value = (i: number): unknown => {
    const reply = replies[i];
    if (!reply) throw new Error('Redis pipeline returned fewer replies than commands');
    if (reply[0]) throw reply[0];
    return reply[1];
  };

  const queues: Record<string, number> = {};
  let enqueued = 0;
  let i = 0;
  for (const name of names) {
    // LLEN on a key that is not a list is a WRONGTYPE error, caught by value(); a missing key is 0.
    const n = Number(value(i++));
    if (n > 0) queues[name] = n;
    enqueued += n;
  }
  let busy = 0;
  let processes = 0;
  for (let p = 0; p < identities.length; p++) {
    const busyField = value(i++) as string | null;
    const working = Number(value(i++));
    if (busyField !== null) processes++;
    // `busy` and `:work` describe the same jobs; either may lag the other by a heartbeat.
    busy += Math.max(Number(busyField ?? 0) || 0, working);
  }
  const scheduled = Number(value(i++));
  const retry = Number(value(i++));
  const dead = Number(value(i++));
  return { enqueued, queues, busy, scheduled, retry, dead, processes };
}

function describeCounts(c: DrainCounts, withQueues: boolean): string {
  const entries = Object.entries(c.queues).sort((a, b) => b[1] - a[1]);
  const byQueue =
    withQueues && entries.length > 0
      ? ` (${entries
          .slice(0, 6)
          .map(([q, n]) => `${q} ${n}`)
          .join(', ')}${entries.length > 6 ? `, ${entries.length - 6} more queues` : ''})`
      : '';
  return `${c.enqueued} enqueued${byQueue}, ${c.busy} busy, ${c.scheduled} scheduled, ${c.retry} retry`;
}

/** `▓▓▓▓▓░░░░░ 52%` */
export function progressBar(fraction: number, width = 10): string {
  const f = Math.min(1, Math.max(0, fraction));
  const filled = Math.round(f * width);
  return `${'▓'.repeat(filled)}${'░'.repeat(width - filled)} ${Math.floor(f * 100)}%`;
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('aborted');
}

/** Rejects as soon as `signal` aborts, even while a Redis command is in flight. */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortReason(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortReason(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

interface Point {
  at: number;
  left: number;
}

/** Jobs per minute over the recent points (0 when not falling), and the time to empty at that rate. */
export function drainRate(points: readonly Point[]): { perMinute: number; etaMs: number | undefined } {
  const first = points[0];
  const last = points[points.length - 1];
  if (!first || !last || last.at <= first.at) return { perMinute: 0, etaMs: undefined };
  const perMs = Math.max(0, (first.left - last.left) / (last.at - first.at));
  return { perMinute: perMs * 60_000, etaMs: perMs > 0 ? last.left / perMs : undefined };
}

export function sidekiqDrainHandler(env: AdapterEnv): StepHandler<SidekiqDrainStep, null> {
  return {
    async describe(step) {
      const counts = await openSidekiq(env, step.provider, (redis) =>
        sampleSidekiq(redis, {
          queues: step.provider.queues,
          prefix: prefixOf(step.provider) ?? '',
          scan: true,
        }),
      );
      return `wait for the old Sidekiq queues to drain: now ${describeCounts(counts, false)}`;
    },

    // Nothing changes, so there is nothing to capture and no undo.
    // eslint-disable-next-line @typescript-eslint/require-await
    async capture() {
      return null;
    },

    async run(step, _captured, ctx): Promise<StepResult> {
      const timeoutMs = step.timeout ?? DEFAULT_DRAIN_TIMEOUT_MS;
      // A job BRPOPped just before a sample is in no list and not yet in `busy` until the next
      // heartbeat, so "empty" must hold for longer than a heartbeat, over several samples.
      const windowMs = Math.max(env.sidekiqHeartbeatMs, step.settle ?? 0);
      const intervalMs = Math.max(1, Math.min(env.pollIntervalMs, windowMs / (MIN_CONFIRMING_SAMPLES - 1)));
      const prefix = prefixOf(step.provider) ?? '';
      return openSidekiq(env, step.provider, (redis) =>
        watchDrain(redis, ctx, { timeoutMs, windowMs, intervalMs, prefix, queues: step.provider.queues }),
      );
    },
  };
}

async function watchDrain(
  redis: Redis,
  ctx: StepContext,
  opts: { timeoutMs: number; windowMs: number; intervalMs: number; prefix: string; queues: 'all' | string[] },
): Promise<StepResult> {
  const started = ctx.now();
  const deadline = started + opts.timeoutMs;
  const recent: Point[] = [];
  let peak = 0;
  let samples = 0;
  let zeroSince: number | undefined;
  let zeroSamples = 0;

  for (;;) {
    if (ctx.signal.aborted) throw abortReason(ctx.signal);
    // SCAN for queue lists missing from the `queues` set on the first sample and on every sample
    // that would count towards "drained"; in between, the set is enough to show progress.
    const scanned = samples === 0 || zeroSamples > 0;
    let counts = await abortable(
      sampleSidekiq(redis, { queues: opts.queues, prefix: opts.prefix, scan: scanned }),
      ctx.signal,
    );
    if (!scanned && left(counts) === 0 && opts.queues === 'all') {
      counts = await abortable(
        sampleSidekiq(redis, { queues: 'all', prefix: opts.prefix, scan: true }),
        ctx.signal,
      );
    }
    const at = ctx.now();
    samples++;
    const remaining = left(counts);
    peak = Math.max(peak, remaining);
    recent.push({ at, left: remaining });
    while (recent.length > 2 && (recent[0]?.at ?? at) < at - RATE_WINDOW_MS) recent.shift();

    if (remaining === 0) {
      zeroSince ??= at;
      zeroSamples++;
    } else {
      zeroSince = undefined;
      zeroSamples = 0;
    }
    const emptyFor = zeroSince === undefined ? 0 : at - zeroSince;
    const drained =
      zeroSince !== undefined && zeroSamples >= MIN_CONFIRMING_SAMPLES && emptyFor >= opts.windowMs;

    await report(ctx, counts, {
      remaining,
      peak,
      recent,
      emptyFor,
      zeroSamples,
      windowMs: opts.windowMs,
      drained,
    });

    if (drained) {
      return {
        summary:
          `old Sidekiq queues drained: 0 enqueued, 0 busy, 0 scheduled, 0 retry for ${formatDuration(emptyFor)} ` +
          `(${zeroSamples} samples)${counts.dead > 0 ? `; ${counts.dead} dead (not retried, informational)` : ''}`,
        figures: {
          waitedMs: at - started,
          samples,
          peakJobs: peak,
          dead: counts.dead,
          processes: counts.processes,
        },
      };
    }
    if (at >= deadline) {
      throw new StepError(
        `not drained after ${formatDuration(opts.timeoutMs)}: ${describeCounts(counts, true)}. ` +
          nextSteps(counts),
        { retryable: false, reason: 'timeout' },
      );
    }
    await ctx.sleep(Math.max(1, Math.min(opts.intervalMs, deadline - at)));
  }
}

function nextSteps(c: DrainCounts): string {
  const hints: string[] = [];
  if (c.enqueued > 0 || c.busy > 0) {
    hints.push(
      c.processes === 0
        ? 'No Sidekiq process is running on the old Redis, so nothing will work these off: start a worker there or move the jobs.'
        : `${plural(c.processes, 'Sidekiq process')} still running on the old Redis; check they are working (not stuck).`,
    );
  }
  if (c.scheduled > 0 || c.retry > 0) {
    hints.push(
      'Scheduled and retry jobs are enqueued later on the old Redis by any Sidekiq still polling it: wait, move them, or accept the loss.',
    );
  }
  hints.push('Retry to keep waiting.');
  return hints.join(' ');
}

async function report(
  ctx: StepContext,
  counts: DrainCounts,
  s: {
    remaining: number;
    peak: number;
    recent: readonly Point[];
    emptyFor: number;
    zeroSamples: number;
    windowMs: number;
    drained: boolean;
  },
): Promise<void> {
  const rate = drainRate(s.recent);
  const fraction = s.remaining === 0 ? 1 : s.peak === 0 ? 0 : 1 - s.remaining / s.peak;
  let text: string;
  if (s.remaining > 0) {
    const pace =
      s.recent.length < 2
        ? 'measuring the rate'
        : rate.perMinute > 0
          ? `${rate.perMinute >= 10 ? Math.round(rate.perMinute) : rate.perMinute.toFixed(1)} jobs/min` +
            (rate.etaMs !== undefined ? ` · about ${formatDuration(rate.etaMs)} left` : '')
          : `no progress in the last ${formatDuration((s.recent.at(-1)?.at ?? 0) - (s.recent[0]?.at ?? 0))}`;
    text = `${plural(s.remaining, 'job')} left (${describeCounts(counts, true)}) ${progressBar(fraction)} · ${pace}`;
  } else if (s.drained) {
    text = `drained: empty for ${formatDuration(s.emptyFor)} over ${s.zeroSamples} samples ${progressBar(1)}`;
  } else {
    text =
      `0 jobs left ${progressBar(1)} · making sure it stays empty for ${formatDuration(s.windowMs)} ` +
      `(a job being picked up shows as busy only at the next heartbeat): ${formatDuration(s.emptyFor)} so far`;
  }
  const figures: Record<string, number | string> = {
    left: s.remaining,
    enqueued: counts.enqueued,
    busy: counts.busy,
    scheduled: counts.scheduled,
    retry: counts.retry,
    dead: counts.dead,
    processes: counts.processes,
    ratePerMin: Math.round(rate.perMinute * 10) / 10,
  };
  if (rate.etaMs !== undefined && s.remaining > 0) figures.etaSeconds = Math.ceil(rate.etaMs / 1000);
  try {
    await ctx.progress({ text, fraction, figures });
  } catch (error) {
    // Progress is a courtesy to the people watching; the drain goes on without it.
    ctx.log.warn({ err: error }, 'drain progress report failed');
  }
}
