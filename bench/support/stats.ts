// Percentiles as the benchmark reports them: nearest rank, in milliseconds rounded to a tenth.

/** The value at percentile `p` (0-100) of `samples`, nearest rank; 0 for no samples. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** Milliseconds to one decimal, as every latency is written. */
export function ms(value: number): number {
  return Math.round(value * 10) / 10;
}

/** A ratio to two decimals; 0 when the baseline is 0 (nothing measured). */
export function ratio(value: number, baseline: number): number {
  return baseline > 0 ? Math.round((value / baseline) * 100) / 100 : 0;
}

/** The most events in any window of `windowMs` (a sliding window over sorted times). */
export function peakInWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let peak = 0;
  let first = 0;
  for (let last = 0; last < sorted.length; last++) {
    while (sorted[last]! - sorted[first]! >= windowMs) first += 1;
    peak = Math.max(peak, last - first + 1);
  }
  return peak;
}
