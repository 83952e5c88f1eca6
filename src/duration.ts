// One way to say how long something took, everywhere Ferry says it: the status message, the
// timeline, reports, adapters' progress and errors.

/** "350ms", "4.2s", "45s", "6m", "6m 12s", "1h", "1h 02m". */
export function formatDuration(ms: number): string {
  const clamped = Math.max(0, ms);
  if (clamped < 1_000) return `${Math.round(clamped)}ms`;
  if (clamped < 10_000) return `${Math.round(clamped / 100) / 10}s`;
  const s = Math.round(clamped / 1_000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m ${pad(s % 60)}s` : `${m}m`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h}h ${pad(m % 60)}m` : `${h}h`;
}

const pad = (n: number) => String(n).padStart(2, '0');
