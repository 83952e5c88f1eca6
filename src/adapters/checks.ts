import { performance } from 'node:perf_hooks';
import { StepError } from '../errors.ts';
import type { Check, StepSpec } from '../plan/schema.ts';
import { redactText } from '../redact.ts';
import { displayUrl, httpCall } from './http-client.ts';
import { percentile } from './latency-stats.ts';
import { describePostgresUrl, postgresLatencyCheck } from './postgres-probe.ts';
import type { PostgresLatencyOptions, PostgresLatencyResult } from './postgres-probe.ts';
import { redisLatencyCheck } from './redis-latency.ts';
import type { RedisLatencyOptions, RedisLatencyResult } from './redis-latency.ts';
import { describeRedisUrl } from './redis-url.ts';
import type { AdapterEnv, StepContext, StepHandler, StepResult } from './types.ts';

// The `check` kind: HTTP probes and Postgres/Redis latency samples, each judged against its bound.
// Every check runs (one failure does not hide the others); the step fails listing the failed ones.

export type CheckStep = Extract<StepSpec, { kind: 'check' }>;
type HttpCheck = Extract<Check, { http: unknown }>['http'];

export type Figures = Record<string, number | string>;

export interface CheckOutcome {
  ok: boolean;
  /** One line a person reads: what was checked and what came back. */
  line: string;
  figures: Figures;
  /** Each HTTP request's time, for a watch's p95 over all its samples; a latency check keeps its own percentiles. */
  latencies?: number[];
}

/** A failed check step. It keeps the figures so the timeline and report show them anyway. */
export class CheckFailedError extends StepError {
  readonly figures: Figures;
  readonly outcomes: readonly CheckOutcome[];
  constructor(message: string, outcomes: readonly CheckOutcome[], figures: Figures) {
    super(message, { retryable: false, reason: 'check_failed' });
    this.name = 'CheckFailedError';
    this.outcomes = outcomes;
    this.figures = figures;
  }
}

export interface CheckDeps {
  postgresLatencyCheck?: (url: string, opts: PostgresLatencyOptions) => Promise<PostgresLatencyResult>;
  redisLatencyCheck?: (url: string, opts: RedisLatencyOptions) => Promise<RedisLatencyResult>;
}

const round = (ms: number): number => Math.round(ms * 100) / 100;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function messageOf(error: unknown): string {
  return redactText(error instanceof Error ? error.message : String(error));
}

/** Dry-run words for one check. */
export function describeCheck(check: Check): string {
  if ('http' in check) {
    const c = check.http;
    const parts = [`GET ${displayUrl(c.url)} expects ${c.expect_status}`];
    if (c.body_contains !== undefined) parts.push(` with "${c.body_contains}" in the body`);
    if (c.max_latency_ms !== undefined) parts.push(`, p95 ≤ ${c.max_latency_ms} ms`);
    if (c.samples > 1) parts.push(` over ${c.samples} samples`);
    return parts.join('');
  }
  const [name, c, where] =
    'postgres' in check
      ? (['postgres', check.postgres, describePostgresUrl(check.postgres.url)] as const)
      : (['redis', check.redis, describeRedisUrl(check.redis.url)] as const);
  const bound = c.max_p95_ms === undefined ? 'latency' : `p95 ≤ ${c.max_p95_ms} ms`;
  return `${name} ${where} ${bound} over ${c.samples} samples`;
}

async function runHttpCheck(c: HttpCheck, env: AdapterEnv, ctx: StepContext): Promise<CheckOutcome> {
  const url = displayUrl(c.url);
  const timeoutMs = c.timeout ?? env.httpTimeoutMs;
  const latencies: number[] = [];
  const problems: string[] = [];
  let status: number | undefined;
  for (let i = 0; i < c.samples && problems.length === 0; i++) {
    const started = performance.now();
    try {
      const res = await httpCall(
        env.fetch,
        c.url,
        { method: 'GET', timeoutMs, system: url, retry: false, accept: () => true },
        ctx,
      );
      latencies.push(performance.now() - started);
      status = res.status;
      if (res.status !== c.expect_status)
        problems.push(`answered ${res.status}, expected ${c.expect_status}`);
      else if (c.body_contains !== undefined && !res.text.includes(c.body_contains)) {
        problems.push(`the body does not contain "${c.body_contains}"`);
      }
    } catch (error) {
      problems.push(
        error instanceof StepError && error.reason === 'timeout'
          ? `no answer within ${timeoutMs} ms`
          : `could not be reached: ${messageOf(error)}`,
      );
    }
  }
  const figures: Figures = { samples: latencies.length };
  if (status !== undefined) figures.status = status;
  let latencyText = '';
  if (latencies.length > 0) {
    const p50 = round(percentile(latencies, 50));
    const p95 = round(percentile(latencies, 95));
    figures['latency.p50_ms'] = p50;
    figures['latency.p95_ms'] = p95;
    latencyText =
      latencies.length === 1 ? `${p95} ms` : `p50 ${p50} ms, p95 ${p95} ms over ${latencies.length} samples`;
    if (problems.length === 0 && c.max_latency_ms !== undefined && p95 > c.max_latency_ms) {
      problems.push(`p95 ${p95} ms is above the bound of ${c.max_latency_ms} ms`);
    }
  }
  const line =
    problems.length === 0
      ? `GET ${url}: ${status ?? '?'} as expected, ${latencyText}`
      : `GET ${url}: ${problems.join('; ')}${latencyText === '' ? '' : ` (${latencyText})`}`;
  return { ok: problems.length === 0, line, figures, latencies };
}

async function runLatencyCheck(
  check: Extract<Check, { postgres: unknown }> | Extract<Check, { redis: unknown }>,
  env: AdapterEnv,
  ctx: StepContext,
  deps: Required<CheckDeps>,
): Promise<CheckOutcome> {
  const isPostgres = 'postgres' in check;
  const c = isPostgres ? check.postgres : check.redis;
  const label = isPostgres ? `Postgres ${describePostgresUrl(c.url)}` : `Redis ${describeRedisUrl(c.url)}`;
  try {
    const options = {
      samples: c.samples,
      timeoutMs: env.httpTimeoutMs,
      ...(c.max_p95_ms === undefined ? {} : { maxP95Ms: c.max_p95_ms }),
    };
    const result = isPostgres
      ? await deps.postgresLatencyCheck(c.url, { ...options, signal: ctx.signal })
      : await deps.redisLatencyCheck(c.url, {
          ...options,
          ...(c.tls_insecure === undefined ? {} : { tlsInsecure: c.tls_insecure }),
        });
    return {
      ok: result.ok,
      line: redactText(result.message),
      figures: {
        'latency.p50_ms': result.p50Ms,
        'latency.p95_ms': result.p95Ms,
        'latency.max_ms': result.maxMs,
        samples: result.samples,
      },
    };
  } catch (error) {
    return { ok: false, line: `${label}: ${messageOf(error)}`, figures: { samples: 0 } };
  }
}

function checkType(check: Check): 'http' | 'postgres' | 'redis' {
  if ('http' in check) return 'http';
  return 'postgres' in check ? 'postgres' : 'redis';
}

/** One check, once: what `kind: check` runs for each of its checks, and a watch for each sample. */
export function runCheck(
  check: Check,
  env: AdapterEnv,
  ctx: StepContext,
  deps: CheckDeps = {},
): Promise<CheckOutcome> {
  return 'http' in check
    ? runHttpCheck(check.http, env, ctx)
    : runLatencyCheck(check, env, ctx, probesOf(deps));
}

function probesOf(deps: CheckDeps): Required<CheckDeps> {
  return {
    postgresLatencyCheck: deps.postgresLatencyCheck ?? postgresLatencyCheck,
    redisLatencyCheck: deps.redisLatencyCheck ?? redisLatencyCheck,
  };
}

export function checkHandler(env: AdapterEnv, deps: CheckDeps = {}): StepHandler<CheckStep, null> {
  const probes = probesOf(deps);
  return {
    describe(step) {
      return Promise.resolve(step.checks.map(describeCheck).join('; '));
    },
    capture() {
      return Promise.resolve(null);
    },
    async run(step, _captured, ctx): Promise<StepResult> {
      const outcomes: CheckOutcome[] = [];
      const figures: Figures = {};
      const seen = new Map<string, number>();
      let worstP95: number | undefined;
      for (const [index, check] of step.checks.entries()) {
        const type = checkType(check);
        const n = (seen.get(type) ?? 0) + 1;
        seen.set(type, n);
        const outcome =
          'http' in check
            ? await runHttpCheck(check.http, env, ctx)
            : await runLatencyCheck(check, env, ctx, probes);
        outcomes.push(outcome);
        const prefix = n === 1 ? type : `${type}${n}`;
        for (const [key, value] of Object.entries(outcome.figures)) figures[`${prefix}.${key}`] = value;
        const p95 = outcome.figures['latency.p95_ms'];
        if (typeof p95 === 'number') worstP95 = Math.max(worstP95 ?? 0, p95);
        await ctx.progress({
          text: `${index + 1} of ${step.checks.length} checks: ${outcome.line}`,
          fraction: (index + 1) / step.checks.length,
        });
      }
      if (worstP95 !== undefined) figures['latency.p95_ms'] = worstP95;
      const failed = outcomes.filter((o) => !o.ok);
      figures['checks.total'] = outcomes.length;
      figures['checks.failed'] = failed.length;
      const lines = outcomes.map((o) => `${o.ok ? '✓' : '✗'} ${o.line}`);
      if (failed.length > 0) {
        throw new CheckFailedError(
          `${failed.length} of ${plural(outcomes.length, 'check')} failed: ${failed.map((o) => o.line).join('; ')}`,
          outcomes,
          figures,
        );
      }
      return { summary: lines.join('\n'), figures };
    },
  };
}
