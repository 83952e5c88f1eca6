import type { Redis } from 'ioredis';
import { StepError } from '../errors.ts';
import type { SidekiqCronProvider, StepSpec } from '../plan/schema.ts';
import { connectOptions, withRedis } from './redis-client.ts';
import { describeRedisUrl, formatTarget, parseRedisUrl } from './redis-url.ts';
import type { AdapterEnv, EarlierStep, StepContext, StepHandler, StepResult } from './types.ts';

// sidekiq-cron jobs live in Redis (integrations.md §4):
//   1.x: SET `cron_jobs` of keys `cron_job:<name>`; HASH `cron_job:<name>`
//   2.x: SET `cron_jobs:<namespace>` of keys `cron_job:<namespace>:<name>`; same hash fields
// The poller enqueues a job only when its hash says `status == "enabled"` (a missing status counts
// as enabled, as in `status_from_redis`), so `HSET <key> status disabled` is the whole switch.
// Disable touches only jobs enabled now; enable re-enables exactly those.

type CronsStep = Extract<StepSpec, { kind: 'crons' }>;
export type SidekiqCronStep = CronsStep & { provider: SidekiqCronProvider };

export interface SidekiqCronCapture {
  action: 'disable' | 'enable';
  /** Job hash keys this step changes: for disable those enabled now, for enable those to enable. */
  keys: string[];
  /** Job names, parallel to `keys`, for messages. */
  names: string[];
  /** The plan's `jobs`. */
  asked: 'all' | string[];
  /** Jobs the step considered (all, or those listed). */
  total: number;
  /** Of those, already in the wanted state. */
  unchanged: number;
  /** enable: id of the disable step whose list this re-enables; absent for an ad hoc enable. */
  source?: string;
  /** enable: jobs that step disabled which no longer exist. */
  missing?: string[];
}

interface CronJob {
  key: string;
  name: string;
  /** null for the 1.x layout. */
  namespace: string | null;
  enabled: boolean;
}

const V1_SET = 'cron_jobs';
const V2_SET_PREFIX = 'cron_jobs:';
const DEFAULT_NAMESPACE = 'default';

function label(job: CronJob, namespaces: number): string {
  return job.namespace === null || namespaces <= 1 ? job.name : `${job.namespace}:${job.name}`;
}

async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const out = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    for (const key of keys) out.add(key);
  } while (cursor !== '0');
  return [...out];
}

/** Job sets to read: 1.x `cron_jobs` and 2.x `cron_jobs:<ns>` (the given namespace, or all found). */
async function jobSets(
  redis: Redis,
  namespace: string | undefined,
): Promise<{ key: string; ns: string | null }[]> {
  const sets: { key: string; ns: string | null }[] = [];
  // A 2.x poller migrates the 1.x set into the default namespace, so with a namespace given the
  // 1.x set belongs to it only when that namespace is the default one.
  if ((namespace === undefined || namespace === DEFAULT_NAMESPACE) && (await redis.type(V1_SET)) === 'set') {
    sets.push({ key: V1_SET, ns: null });
  }
  const candidates =
    namespace !== undefined ? [V2_SET_PREFIX + namespace] : await scanKeys(redis, `${V2_SET_PREFIX}*`);
  for (const key of candidates.sort()) {
    if ((await redis.type(key)) === 'set') sets.push({ key, ns: key.slice(V2_SET_PREFIX.length) });
  }
  return sets;
}

async function readJobs(redis: Redis, namespace: string | undefined): Promise<CronJob[]> {
  const jobs = new Map<string, CronJob>();
  for (const set of await jobSets(redis, namespace)) {
    const members = (await redis.smembers(set.key)).sort();
    if (members.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const key of members) pipeline.hmget(key, 'name', 'status');
    const replies = (await pipeline.exec()) ?? [];
    members.forEach((key, i) => {
      const reply = replies[i];
      if (!reply || reply[0]) return;
      const [name, status] = reply[1] as [string | null, string | null];
      if (name === null && status === null) return; // stale set member: the hash is gone
      const keyPrefix = set.ns === null ? 'cron_job:' : `cron_job:${set.ns}:`;
      const fallbackName = key.startsWith(keyPrefix) ? key.slice(keyPrefix.length) : key;
      jobs.set(key, {
        key,
        name: name ?? fallbackName,
        namespace: set.ns,
        enabled: (status ?? 'enabled') === 'enabled',
      });
    });
  }
  return [...jobs.values()];
}

function noJobsError(url: string, namespace: string | undefined): StepError {
  const where =
    namespace !== undefined
      ? `the cron_jobs:${namespace} set`
      : 'the cron_jobs set (1.x) or cron_jobs:<namespace> sets (2.x)';
  return new StepError(
    `No sidekiq-cron jobs found at ${describeRedisUrl(url)} (looked for ${where}). ` +
      `Check the database number in the URL${namespace !== undefined ? ' and the namespace' : ''}.`,
    { retryable: false, reason: 'cron_jobs_not_found' },
  );
}

/** The jobs a step's `jobs` names; an unknown name is an error listing the known ones. */
function selectJobs(all: CronJob[], asked: 'all' | string[], url: string): CronJob[] {
  if (asked === 'all') return all;
  const unknown = asked.filter(
    (name) => !all.some((job) => job.name === name || `${job.namespace}:${job.name}` === name),
  );
  if (unknown.length > 0) {
    const known = [...new Set(all.map((job) => job.name))].sort();
    throw new StepError(
      `sidekiq-cron ${unknown.length === 1 ? 'job' : 'jobs'} ${unknown.map((n) => `"${n}"`).join(', ')} not found at ` +
        `${describeRedisUrl(url)}. Known jobs: ${known.join(', ')}. Fix the names in the plan.`,
      { retryable: false, reason: 'cron_job_unknown' },
    );
  }
  return all.filter((job) => asked.includes(job.name) || asked.includes(`${job.namespace}:${job.name}`));
}

/**
 * Sets `status` on each job hash that still exists, atomically per batch; never creates a hash
 * for a job deleted meanwhile. Returns the keys that no longer exist.
 */
const SET_STATUS = `
local missing = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'status', ARGV[1])
  else
    table.insert(missing, key)
  end
end
return missing`;

async function setStatus(
  redis: Redis,
  keys: readonly string[],
  status: 'enabled' | 'disabled',
): Promise<string[]> {
  const missing: string[] = [];
  for (let i = 0; i < keys.length; i += 200) {
    const batch = keys.slice(i, i + 200);
    const gone = (await redis.eval(SET_STATUS, batch.length, ...batch, status)) as string[];
    missing.push(...gone);
  }
  return missing;
}

function isCapture(value: unknown): value is SidekiqCronCapture {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<SidekiqCronCapture>;
  return (
    (v.action === 'disable' || v.action === 'enable') &&
    Array.isArray(v.keys) &&
    v.keys.every((k) => typeof k === 'string') &&
    Array.isArray(v.names) &&
    v.names.length === v.keys.length
  );
}

function sameRedis(a: string, b: string): boolean {
  if (a === b) return true;
  try {
    return formatTarget(parseRedisUrl(a)) === formatTarget(parseRedisUrl(b));
  } catch {
    return false;
  }
}

/** The latest disable step of this run on the same Redis, whose capture lists what it disabled. */
export function findEarlierDisable(
  step: SidekiqCronStep,
  earlier: ReadonlyArray<EarlierStep>,
): { stepId: string; captured: SidekiqCronCapture } | undefined {
  for (let i = earlier.length - 1; i >= 0; i--) {
    const e = earlier[i];
    if (!e) continue;
    const s = e.step;
    if (s.kind !== 'crons' || s.action !== 'disable' || s.provider.type !== 'sidekiq-cron') continue;
    if (!sameRedis(s.provider.url, step.provider.url)) continue;
    if (!isCapture(e.captured) || e.captured.action !== 'disable') {
      throw new StepError(
        `Step ${s.id} recorded an unreadable list of the cron jobs it disabled, so Ferry cannot tell which to ` +
          `re-enable. Enable them by hand (sidekiq-cron web UI) and skip this step.`,
        { retryable: false, reason: 'capture_invalid' },
      );
    }
    return { stepId: s.id, captured: e.captured };
  }
  return undefined;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

function missingNote(missing: readonly string[]): string {
  return missing.length === 0
    ? ''
    : `; ${plural(missing.length, 'job')} no longer exist${missing.length === 1 ? 's' : ''}: ${missing.join(', ')}`;
}

export function sidekiqCronHandler(env: AdapterEnv): StepHandler<SidekiqCronStep, SidekiqCronCapture> {
  const open = <T>(step: SidekiqCronStep, fn: (redis: Redis) => Promise<T>): Promise<T> =>
    withRedis(step.provider.url, connectOptions(env, step.provider), fn);

  async function jobsOf(
    redis: Redis,
    step: SidekiqCronStep,
  ): Promise<{ all: CronJob[]; namespaces: number }> {
    const all = await readJobs(redis, step.provider.namespace);
    if (all.length === 0) throw noJobsError(step.provider.url, step.provider.namespace);
    return { all, namespaces: new Set(all.map((j) => j.namespace ?? DEFAULT_NAMESPACE)).size };
  }

  async function captureDisable(redis: Redis, step: SidekiqCronStep): Promise<SidekiqCronCapture> {
    const { all, namespaces } = await jobsOf(redis, step);
    const chosen = selectJobs(all, step.provider.jobs, step.provider.url);
    const enabled = chosen.filter((job) => job.enabled);
    return {
      action: 'disable',
      keys: enabled.map((job) => job.key),
      names: enabled.map((job) => label(job, namespaces)),
      asked: step.provider.jobs,
      total: chosen.length,
      unchanged: chosen.length - enabled.length,
    };
  }

  async function captureEnable(
    redis: Redis,
    step: SidekiqCronStep,
    ctx: StepContext,
  ): Promise<SidekiqCronCapture> {
    const { all, namespaces } = await jobsOf(redis, step);
    const chosen = selectJobs(all, step.provider.jobs, step.provider.url);
    const earlier = findEarlierDisable(step, ctx.earlier);
    if (!earlier) {
      const disabled = chosen.filter((job) => !job.enabled);
      return {
        action: 'enable',
        keys: disabled.map((job) => job.key),
        names: disabled.map((job) => label(job, namespaces)),
        asked: step.provider.jobs,
        total: chosen.length,
        unchanged: chosen.length - disabled.length,
      };
    }
    // Exactly what the disable step disabled, narrowed to this step's names when it lists some.
    const chosenKeys = new Set(chosen.map((job) => job.key));
    const byKey = new Map(all.map((job) => [job.key, job]));
    const keys: string[] = [];
    const names: string[] = [];
    const missing: string[] = [];
    let unchanged = 0;
    earlier.captured.keys.forEach((key, i) => {
      const job = byKey.get(key);
      const name = earlier.captured.names[i] ?? key;
      if (!job) {
        if (step.provider.jobs === 'all' || step.provider.jobs.includes(name)) missing.push(name);
        return;
      }
      if (!chosenKeys.has(key)) return;
      if (job.enabled) unchanged++;
      else {
        keys.push(key);
        names.push(name);
      }
    });
    return {
      action: 'enable',
      keys,
      names,
      asked: step.provider.jobs,
      total: keys.length + unchanged + missing.length,
      unchanged,
      source: earlier.stepId,
      missing,
    };
  }

  function summarizeEnable(captured: SidekiqCronCapture, missing: readonly string[], past: boolean): string {
    const verb = past ? 'enabled' : 'enable';
    const n = captured.keys.length - (past ? missing.length : 0);
    if (captured.source !== undefined) {
      const again = captured.unchanged > 0 ? ` (${captured.unchanged} already enabled again)` : '';
      const gone = [...(captured.missing ?? []), ...missing];
      return `${verb} ${plural(n, 'sidekiq-cron job')} that step ${captured.source} disabled${again}${missingNote(gone)}`;
    }
    const scope = captured.asked === 'all' ? 'every disabled job' : 'the listed jobs that were disabled';
    return (
      `${verb} ${n} of ${plural(captured.total, 'sidekiq-cron job')} (ad hoc: no earlier disable step in this run, ` +
      `so ${scope}${captured.unchanged > 0 ? `; ${captured.unchanged} already enabled` : ''})${past ? missingNote(missing) : ''}`
    );
  }

  return {
    async describe(step, ctx) {
      return open(step, async (redis) => {
        if (step.action === 'disable') {
          const c = await captureDisable(redis, step);
          return `disable ${c.keys.length} of ${plural(c.total, 'sidekiq-cron job')} (${c.unchanged} already disabled)`;
        }
        return summarizeEnable(await captureEnable(redis, step, ctx), [], false);
      });
    },

    async capture(step, ctx) {
      return open(step, (redis) =>
        step.action === 'disable' ? captureDisable(redis, step) : captureEnable(redis, step, ctx),
      );
    },

    async run(step, captured): Promise<StepResult> {
      const status = captured.action === 'disable' ? 'disabled' : 'enabled';
      const missing = await open(step, (redis) => setStatus(redis, captured.keys, status));
      const goneNames = captured.names.filter((_, i) => missing.includes(captured.keys[i] ?? ''));
      const changed = captured.keys.length - missing.length;
      const figures = {
        changed,
        total: captured.total,
        unchanged: captured.unchanged,
        missing: missing.length,
      };
      if (captured.action === 'disable') {
        return {
          summary:
            `disabled ${changed} of ${plural(captured.total, 'sidekiq-cron job')} ` +
            `(${captured.unchanged} ${captured.unchanged === 1 ? 'was' : 'were'} already disabled)${missingNote(goneNames)}`,
          figures,
        };
      }
      return { summary: summarizeEnable(captured, goneNames, true), figures };
    },

    async undo(step, captured): Promise<StepResult> {
      const status = captured.action === 'disable' ? 'enabled' : 'disabled';
      const missing = await open(step, (redis) => setStatus(redis, captured.keys, status));
      const goneNames = captured.names.filter((_, i) => missing.includes(captured.keys[i] ?? ''));
      const n = captured.keys.length - missing.length;
      const verb = captured.action === 'disable' ? 're-enabled' : 'disabled again';
      return {
        summary: `${verb} the ${plural(n, 'sidekiq-cron job')} this step ${captured.action}d${missingNote(goneNames)}`,
        figures: { changed: n, missing: missing.length },
      };
    },
  };
}
