import { formatDuration } from '../duration.ts';
import type { RunState } from '../engine/types.ts';
import type { StepKind } from '../plan/schema.ts';

// How long a run will take, from how long earlier runs of the same steps took: per step, in total,
// and the downtime (maintenance on to off). Pure: the store reads the earlier runs, this judges them.
//
// A step's time is its span: from the moment the run reached it (the previous step's end, or the
// run's start) to its own end, so waits for approval and for Done count, as they do on the night.
// The spans of a run add up to its duration, which is what "expected done at" needs.

/** An earlier run that succeeded, as the store reads it. */
export interface PastRun {
  id: string;
  service: string;
  environment: string;
  startedAt: number;
  finishedAt: number;
  /** In plan order. `action` is a maintenance step's on or off (null for other kinds). */
  steps: ReadonlyArray<{ kind: StepKind; action: string | null; finishedAt: number | null }>;
}

/** The median (the middle run's figure, nearest rank) and the longest seen. */
export interface Spread {
  p50Ms: number;
  worstMs: number;
}

export interface Forecast {
  /** What it is based on, nearest first: same environment, other environments, other services. */
  basis: Array<{ service: string; environment: string; runs: number; label: string }>;
  runs: number;
  steps: Array<{ id: string; kind: StepKind } & Spread>;
  /** Whole runs: the median run's duration and the longest. */
  total: Spread;
  /** Maintenance on to off; null when the steps never turn maintenance on. */
  downtime: Spread | null;
}

/** How many earlier runs a forecast reads at most: recent ones say most about the next. */
export const FORECAST_RUNS = 10;

/** "maintenance,manual,maintenance": runs compare step by step only when their kinds line up. */
export function stepShape(steps: ReadonlyArray<{ kind: StepKind }>): StepKind[] {
  return steps.map((s) => s.kind);
}

/**
 * The forecast for `target`'s steps from `past` runs (nearest first, as the store orders them), or
 * null when none has the same shape: the same kinds in the same order.
 */
export function buildForecast(
  target: {
    service: string;
    environment: string;
    steps: ReadonlyArray<{ id: string; kind: StepKind; action?: string }>;
  },
  past: readonly PastRun[],
): Forecast | null {
  const shape = stepShape(target.steps).join(',');
  const runs = past.filter((run) => stepShape(run.steps).join(',') === shape).slice(0, FORECAST_RUNS);
  if (runs.length === 0) return null;
  const basis: Forecast['basis'] = [];
  for (const run of runs) {
    const entry = basis.find((b) => b.service === run.service && b.environment === run.environment);
    if (entry) entry.runs += 1;
    else
      basis.push({
        service: run.service,
        environment: run.environment,
        runs: 1,
        label: run.service === target.service ? run.environment : `${run.service} ${run.environment}`,
      });
  }
  const spans = runs.map(stepSpans);
  const turnsOn = target.steps.some((s) => s.kind === 'maintenance' && s.action === 'on');
  return {
    basis,
    runs: runs.length,
    steps: target.steps.map((step, i) => ({
      id: step.id,
      kind: step.kind,
      ...spread(spans.map((s) => s[i] ?? 0)),
    })),
    total: spread(runs.map((run) => run.finishedAt - run.startedAt)),
    downtime: turnsOn ? spread(runs.map(downtimeOf)) : null,
  };
}

/** Each step's span: from the previous step's end (or the run's start) to its own end. */
function stepSpans(run: PastRun): number[] {
  let reached = run.startedAt;
  return run.steps.map((step) => {
    if (step.finishedAt === null) return 0;
    const span = Math.max(0, step.finishedAt - reached);
    reached = Math.max(reached, step.finishedAt);
    return span;
  });
}

/** Maintenance on to off, every window summed, as the report counts it. */
function downtimeOf(run: PastRun): number {
  let since: number | null = null;
  let total = 0;
  for (const step of run.steps) {
    if (step.kind !== 'maintenance' || step.finishedAt === null) continue;
    if (step.action === 'on') since ??= step.finishedAt;
    if (step.action === 'off' && since !== null) {
      total += step.finishedAt - since;
      since = null;
    }
  }
  return since === null ? total : total + (run.finishedAt - since);
}

function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    p50Ms: sorted[Math.max(0, Math.ceil(sorted.length / 2) - 1)] ?? 0,
    worstMs: sorted.at(-1) ?? 0,
  };
}

/** "3 staging runs", "1 production run and 3 staging runs", "2 payments production runs". */
export function describeBasis(forecast: Forecast): string {
  const parts = forecast.basis.map((b) => `${b.runs} ${b.label} run${b.runs === 1 ? '' : 's'}`);
  return parts.length <= 1
    ? (parts[0] ?? 'no runs')
    : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)!}`;
}

/** "p50 6m, worst 9m". */
export function describeSpread(spread: Spread): string {
  return `p50 ${formatDuration(spread.p50Ms)}, worst ${formatDuration(spread.worstMs)}`;
}

/** "from 3 staging runs; p50 6m, worst 9m": the total, with what it is based on. */
export function describeForecast(forecast: Forecast): string {
  return `from ${describeBasis(forecast)}; ${describeSpread(forecast.total)}`;
}

/**
 * When the run is now expected to be done, and when the forecast said at its start: the forecast's
 * end moved by how far each step so far ran over or under its median, and by how far the step in
 * play has already outrun its own. Null once the run stopped going forward, or when the forecast
 * was made for other steps.
 */
export function expectedEnd(
  run: Pick<RunState, 'status' | 'startedAt' | 'steps'>,
  forecast: Forecast,
  now: number,
): { expected: number; forecast: number } | null {
  if (!['running', 'waiting', 'failed'].includes(run.status)) return null;
  if (forecast.steps.length !== run.steps.length) return null;
  const planned = run.startedAt + forecast.total.p50Ms;
  let drift = 0;
  let reached = run.startedAt;
  for (const [i, step] of run.steps.entries()) {
    const median = forecast.steps[i]!.p50Ms;
    const done = (step.status === 'succeeded' || step.status === 'skipped') && step.finishedAt !== null;
    if (!done) {
      drift += Math.max(0, now - reached - median);
      break;
    }
    drift += step.finishedAt! - reached - median;
    reached = step.finishedAt!;
  }
  return { expected: planned + drift, forecast: planned };
}

/** Forecast and actual side by side, as the report shows them; actual is null where a step never ended. */
export interface ForecastComparison {
  basis: string;
  steps: Array<{ id: string; forecast: Spread; actualMs: number | null }>;
  total: { forecast: Spread; actualMs: number | null };
  downtime: { forecast: Spread; actualMs: number | null } | null;
}

export function compareWithForecast(
  run: Pick<RunState, 'startedAt' | 'finishedAt' | 'steps'>,
  forecast: Forecast,
  downtimeMs: number | null,
): ForecastComparison {
  let reached = run.startedAt;
  return {
    basis: describeBasis(forecast),
    steps: forecast.steps.map((step, i) => {
      const ran = run.steps[i];
      const ended = ran && ran.id === step.id && ran.finishedAt !== null && ran.status !== 'pending';
      const actualMs = ended ? Math.max(0, ran.finishedAt! - reached) : null;
      if (ended) reached = Math.max(reached, ran.finishedAt!);
      return { id: step.id, forecast: { p50Ms: step.p50Ms, worstMs: step.worstMs }, actualMs };
    }),
    total: {
      forecast: forecast.total,
      actualMs: run.finishedAt === null ? null : run.finishedAt - run.startedAt,
    },
    downtime: forecast.downtime ? { forecast: forecast.downtime, actualMs: downtimeMs } : null,
  };
}
