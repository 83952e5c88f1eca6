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
