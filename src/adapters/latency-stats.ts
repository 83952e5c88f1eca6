// Percentiles for latency checks (Redis PINGs, Postgres round trips, HTTP samples).

/**
 * Nearest-rank percentile: the smallest sample such that at least `p` percent of the samples are
 * less than or equal to it, i.e. the value at rank ceil(p/100 * n) of the sorted samples. Always
 * one of the samples, never interpolated; p = 0 gives the minimum. Does not modify `values`.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('percentile of no samples');
  if (!Number.isFinite(p) || p < 0 || p > 100) throw new RangeError(`percentile ${p} is outside 0..100`);
  if (values.some((v) => Number.isNaN(v))) throw new RangeError('percentile of a NaN sample');
  const sorted = [...values].sort((a, b) => a - b);
  // p * n / 100, not p / 100 * n: 0.3 * 10 is 3.0000000000000004 and would round up a rank; the
  // epsilon absorbs the same drift for fractional p (99.9).
  const rank = Math.max(1, Math.ceil((p * sorted.length) / 100 - 1e-9));
  return sorted[rank - 1] as number;
}

/** What a latency check measured, and whether it met its bound. */
export interface LatencyResult {
  ok: boolean;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  samples: number;
  message: string;
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

/**
 * p50, p95 and max of round-trip `durations`, judged against `maxP95Ms` when there is one.
 * `system` and `where` name what was measured ("Redis", "127.0.0.1:6379/0"); `unit` names one
 * round trip ("PING", "round trip").
 */
export function summariseLatency(
  durations: readonly number[],
  opts: { system: string; where: string; unit: string; maxP95Ms: number | undefined },
): LatencyResult {
  const count = durations.length;
  const p50Ms = round(percentile(durations, 50));
  const p95Ms = round(percentile(durations, 95));
  const maxMs = round(Math.max(...durations));
  const figures = `p50 ${p50Ms} ms, p95 ${p95Ms} ms, max ${maxMs} ms over ${count} ${opts.unit}${count === 1 ? '' : 's'}`;
  const { system, where, maxP95Ms } = opts;
  if (maxP95Ms === undefined) {
    return {
      ok: true,
      p50Ms,
      p95Ms,
      maxMs,
      samples: count,
      message: `${system} ${where}: ${figures} (no bound set)`,
    };
  }
  const ok = p95Ms <= maxP95Ms;
  const message = ok
    ? `${system} ${where}: ${figures}, within the p95 bound of ${maxP95Ms} ms`
    : `${system} ${where}: p95 ${p95Ms} ms is above the bound of ${maxP95Ms} ms (${figures})`;
  return { ok, p50Ms, p95Ms, maxMs, samples: count, message };
}
