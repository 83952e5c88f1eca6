import { formatDuration } from '../duration.ts';
import { StepError } from '../errors.ts';
import { watchLimits, type WatchLimit, type WatchStep } from '../plan/watch-limits.ts';
import { redactText } from '../redact.ts';
import { describeCheck, runCheck, type CheckDeps, type Figures } from './checks.ts';
import { percentile } from './latency-stats.ts';
import { queryInstant } from './prometheus.ts';
import type { AdapterEnv, StepContext, StepHandler, StepResult, WatchSample } from './types.ts';

// The `watch` kind: after a change, sample the checks and Prometheus queries every `every` for `for`,
// judge each sample against the limits, and fail once more samples breached than `failure_limit`
// tolerates (as Argo Rollouts' analysis does). The live line shows each sample; the thread gets a
// summary every `summary_every`; the report draws every sample.

/** What one sample read: each check once, each query once. */
export interface SampleReading {
  at: number;
  /** Checks run, and the lines of those that failed. */
  checks: number;
  failures: string[];
  /** Each request's time (HTTP), or a latency check's own p95. */
  latencies: number[];
  /** Each Prometheus query's value now, or why there is none. */
  queries: Record<string, { value: number } | { problem: string }>;
}

/** "4.2%", "1%", "0.05%". */
export function percent(share: number): string {
  return `${Number((share * 100).toPrecision(2))}%`;
}

/** A Prometheus value as a person reads it: four significant digits. */
function number(value: number): string {
  return Number.isFinite(value) ? String(Number(value.toPrecision(4))) : String(value);
}

/** How a figure is named and written in a sentence. */
function shown(key: string, value: number): string {
  if (key === 'error_rate') return `error rate ${percent(value)}`;
  if (key === 'p95_ms') return `p95 ${formatDuration(value)}`;
  return `Prometheus ${key.slice('prometheus.'.length)} ${number(value)}`;
}

function limitText(key: string, value: number): string {
  if (key === 'error_rate') return percent(value);
  if (key === 'p95_ms') return formatDuration(value);
  return number(value);
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The samples so far and what they add up to. Pure: readings in, figures and sentences out.
 *
 * A check sample breaches when it failed (or was slower than `p95_ms`) while the error rate (or p95)
 * over all samples so far is above its threshold: one failure among many good samples is within
 * the rate, and one early blip is counted once, not again by every sample after it. A Prometheus
 * query breaches when its value is outside `max`/`min`, or when it has no value (an empty result,
 * NaN, no answer): a watch that cannot see is not one that saw nothing wrong.
 */
export class WatchTally {
  readonly samples: WatchSample[] = [];
  private readonly step: WatchStep;
  private readonly limits: Map<string, WatchLimit>;
  private checkRuns = 0;
  private failedRuns = 0;
  private readonly latencies: number[] = [];
  /** Why each figure breached, in the latest sample that breached it. */
  private readonly lastProblem = new Map<string, string>();
  private readonly latestQuery = new Map<string, number | null>();
  breaches = 0;

  constructor(step: WatchStep) {
    this.step = step;
    this.limits = new Map(watchLimits(step).map((l) => [l.key, l]));
  }

  /** Over the limit: one more breaching sample than `failure_limit` tolerates. */
  get failed(): boolean {
    return this.breaches > this.step.failure_limit;
  }

  errorRate(): number | null {
    return this.checkRuns === 0 ? null : this.failedRuns / this.checkRuns;
  }

  p95(): number | null {
    return this.latencies.length === 0 ? null : Math.round(percentile(this.latencies, 95) * 100) / 100;
  }

  add(reading: SampleReading): WatchSample {
    this.checkRuns += reading.checks;
    this.failedRuns += reading.failures.length;
    this.latencies.push(...reading.latencies);
    const values: Record<string, number | null> = {};
    const breached: string[] = [];
    if (this.step.checks) {
      const rate = this.errorRate() ?? 0;
      values.error_rate = rate;
      const limit = this.limits.get('error_rate')?.max ?? 0;
      if (reading.failures.length > 0 && rate > limit) {
        breached.push('error_rate');
        this.lastProblem.set('error_rate', reading.failures.join('; '));
      }
      const p95 = this.p95();
      if (p95 !== null) values.p95_ms = p95;
      const p95Limit = this.limits.get('p95_ms')?.max;
      if (
        p95Limit !== undefined &&
        p95 !== null &&
        p95 > p95Limit &&
        Math.max(...reading.latencies) > p95Limit
      )
        breached.push('p95_ms');
    }
    for (const query of this.step.prometheus?.queries ?? []) {
      const key = `prometheus.${query.name}`;
      const answer = reading.queries[query.name] ?? { problem: 'not sampled' };
      const value = 'value' in answer && !Number.isNaN(answer.value) ? answer.value : null;
      values[key] = value === null || !Number.isFinite(value) ? null : value;
      this.latestQuery.set(key, value);
      if (value === null) {
        breached.push(key);
        this.lastProblem.set(key, 'problem' in answer ? answer.problem : 'NaN');
      } else if (
        (query.max !== undefined && value > query.max) ||
        (query.min !== undefined && value < query.min)
      ) {
        breached.push(key);
      }
    }
    if (breached.length > 0) this.breaches += 1;
    const sample = { at: reading.at, values, breached };
    this.samples.push(sample);
    return sample;
  }

  /** In how many samples `key` breached, of those since it first did. */
  private streak(key: string): { times: number; of: number } {
    const first = this.samples.findIndex((s) => s.breached.includes(key));
    if (first < 0) return { times: 0, of: 0 };
    return {
      times: this.samples.filter((s) => s.breached.includes(key)).length,
      of: this.samples.length - first,
    };
  }

  /**
   * One line saying why the watch failed, about the figure that breached most among those the last
   * sample breached: "error rate 4.2% > 1% in 3 of the last 4 samples".
   */
  why(): string {
    const last = this.samples.at(-1)?.breached ?? [];
    const key = [...last].sort((a, b) => this.streak(b).times - this.streak(a).times)[0];
    if (!key) return 'no sample breached';
    const { times, of } = this.streak(key);
    const where = `in ${times} of the last ${plural(of, 'sample')}`;
    const limit = this.limits.get(key);
    if (key === 'error_rate') {
      const problem = this.lastProblem.get(key);
      return `error rate ${percent(this.errorRate() ?? 0)} > ${percent(limit?.max ?? 0)} ${where}${problem ? ` (latest: ${problem})` : ''}`;
    }
    if (key === 'p95_ms')
      return `p95 ${formatDuration(this.p95() ?? 0)} > ${formatDuration(limit?.max ?? 0)} ${where}`;
    const name = key.slice('prometheus.'.length);
    const value = this.latestQuery.get(key);
    if (value === null || value === undefined || Number.isNaN(value))
      return `Prometheus ${name} had no value ${where} (latest: ${this.lastProblem.get(key) ?? 'no answer'})`;
    const over = limit?.max !== undefined && value > limit.max;
    return `Prometheus ${name} ${number(value)} ${over ? '>' : '<'} ${limitText(key, (over ? limit.max : limit?.min) ?? 0)} ${where}`;
  }

  /** The figures so far, in words: "error rate 0%, p95 85ms, Prometheus error_rate 0.002". */
  private figuresText(): string {
    const parts: string[] = [];
    const rate = this.errorRate();
    if (this.step.checks && rate !== null) parts.push(shown('error_rate', rate));
    const p95 = this.p95();
    if (p95 !== null) parts.push(shown('p95_ms', p95));
    for (const [key, value] of this.latestQuery)
      parts.push(
        value === null ? `Prometheus ${key.slice('prometheus.'.length)} no value` : shown(key, value),
      );
    return parts.join(', ');
  }

  /** "no breaches", "1 breach (3 tolerated)": how close the watch is to failing. */
  private breachText(): string {
    const tolerated = this.step.failure_limit;
    const count =
      this.breaches === 0 ? 'no breaches' : `${this.breaches} ${this.breaches === 1 ? 'breach' : 'breaches'}`;
    return tolerated > 0 || this.breaches > 0 ? `${count} (${tolerated} tolerated)` : count;
  }

  /** The status message's live line: samples, error rate, p95, breaches, time left. */
  liveLine(leftMs: number): string {
    const figures = this.figuresText();
    return `${plural(this.samples.length, 'sample')}${figures ? `, ${figures}` : ''}, ${this.breachText()}, ${formatDuration(Math.max(0, leftMs))} left`;
  }

  /** The thread's summary every `summary_every`. */
  summaryLine(elapsedMs: number): string {
    const figures = this.figuresText();
    return `after ${formatDuration(elapsedMs)}: ${plural(this.samples.length, 'sample')}${figures ? `, ${figures}` : ''}, ${this.breachText()}`;
  }

  /** What the watch saw in all: its summary when it passed, the second line of its failure. */
  totalsLine(elapsedMs: number): string {
    const figures = this.figuresText();
    return `${plural(this.samples.length, 'sample')} over ${formatDuration(elapsedMs)}${figures ? `: ${figures}` : ''}; ${this.breachText()}`;
  }

  figures(): Figures {
    const figures: Figures = { samples: this.samples.length };
    const rate = this.errorRate();
    if (this.step.checks && rate !== null) figures.error_rate = percent(rate);
    const p95 = this.p95();
    if (p95 !== null) figures.p95_ms = p95;
    for (const [key, value] of this.latestQuery) figures[key] = value === null ? 'no value' : number(value);
    figures.breaches = this.breaches;
    figures.breaches_tolerated = this.step.failure_limit;
    return figures;
  }
}

/** A watch that breached more often than it tolerates; the figures go to the timeline and report. */
export class WatchFailedError extends StepError {
  readonly figures: Figures;
  constructor(message: string, figures: Figures) {
    super(message, { retryable: false, reason: 'watch_failed' });
    this.name = 'WatchFailedError';
    this.figures = figures;
  }
}

function messageOf(error: unknown): string {
  return redactText(error instanceof Error ? error.message : String(error));
}

/** One sample: every check and every query at once, so a sample takes as long as its slowest part. */
async function readSample(
  step: WatchStep,
  env: AdapterEnv,
  ctx: StepContext,
  deps: CheckDeps,
): Promise<SampleReading> {
  const at = ctx.now();
  const prometheus = step.prometheus;
  const [outcomes, answers] = await Promise.all([
    Promise.all((step.checks ?? []).map((check) => runCheck(check, env, ctx, deps))),
    Promise.all(
      (prometheus?.queries ?? []).map(async (q) => {
        try {
          const values = await queryInstant(
            env.fetch,
            {
              url: prometheus!.url,
              token: prometheus!.token,
              timeoutMs: prometheus!.timeout ?? env.httpTimeoutMs,
            },
            q.query,
            ctx,
          );
          return [q.name, judgedValue(values, q)] as const;
        } catch (error) {
          return [q.name, { problem: messageOf(error) }] as const;
        }
      }),
    ),
  ]);
  const latencies = outcomes.flatMap((o) => {
    if (o.latencies) return o.latencies;
    const p95 = o.figures['latency.p95_ms'];
    return typeof p95 === 'number' ? [p95] : [];
  });
  return {
    at,
    checks: outcomes.length,
    failures: outcomes.filter((o) => !o.ok).map((o) => o.line),
    latencies,
    queries: Object.fromEntries(answers),
  };
}

/** The value a query's limits judge: with several series, the one nearest breaking them. */
function judgedValue(
  values: number[],
  query: { max?: number | undefined; min?: number | undefined },
): { value: number } | { problem: string } {
  const numbers = values.filter((v) => !Number.isNaN(v));
  if (numbers.length === 0)
    return { problem: values.length === 0 ? 'the query returned no series' : 'the query returned NaN' };
  const onlyMin = query.max === undefined && query.min !== undefined;
  return { value: onlyMin ? Math.min(...numbers) : Math.max(...numbers) };
}

export function watchHandler(env: AdapterEnv, deps: CheckDeps = {}): StepHandler<WatchStep, null> {
  return {
    describe(step) {
      const what = [
        ...(step.checks ?? []).map(describeCheck),
        ...(step.prometheus?.queries ?? []).map((q) => {
          const bounds = [
            ...(q.max === undefined ? [] : [`≤ ${number(q.max)}`]),
            ...(q.min === undefined ? [] : [`≥ ${number(q.min)}`]),
          ];
          return `Prometheus ${q.name}${bounds.length > 0 ? ` ${bounds.join(' and ')}` : ''}`;
        }),
      ];
      const limits = [
        ...(step.thresholds?.error_rate === undefined
          ? []
          : [`error rate ≤ ${percent(step.thresholds.error_rate)}`]),
        ...(step.thresholds?.p95_ms === undefined ? [] : [`p95 ≤ ${formatDuration(step.thresholds.p95_ms)}`]),
      ];
      return Promise.resolve(
        `watch for ${formatDuration(step.for)}, every ${formatDuration(step.every)}: ${what.join('; ')}` +
          `${limits.length > 0 ? `; ${limits.join(', ')}` : ''}; fails after ${plural(step.failure_limit + 1, 'breaching sample')}`,
      );
    },
    capture() {
      return Promise.resolve(null);
    },
    async run(step, _captured, ctx): Promise<StepResult> {
      const tally = new WatchTally(step);
      const started = ctx.now();
      const endsAt = started + step.for;
      let lastSummary = started;
      // Samples fall on `every` from the start, the last one at `for`. A sample slower than `every`
      // skips the slots it overran rather than running samples back to back.
      for (let due = started; due <= endsAt;) {
        const wait = due - ctx.now();
        if (wait > 0) await ctx.sleep(wait);
        const sample = tally.add(await readSample(step, env, ctx, deps));
        const now = ctx.now();
        const summarize = now - lastSummary >= step.summary_every && !tally.failed;
        if (summarize) lastSummary = now;
        const next = started + step.every * (Math.floor((now - started) / step.every) + 1);
        const last = tally.failed || next > endsAt;
        await ctx.progress({
          text: tally.liveLine(endsAt - now),
          fraction: last ? 1 : Math.min(1, (now - started) / step.for),
          figures: tally.figures(),
          sample,
          ...(summarize ? { summary: tally.summaryLine(now - started) } : {}),
        });
        if (tally.failed)
          throw new WatchFailedError(`${tally.why()}\n${tally.totalsLine(now - started)}`, tally.figures());
        due = next;
      }
      return { summary: tally.totalsLine(ctx.now() - started), figures: tally.figures() };
    },
  };
}
