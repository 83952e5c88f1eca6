import type { StepSpec } from './schema.ts';

// What a watch step judges its samples against, from the plan alone: the watch adapter judges by
// these, and the report draws them beside the samples.

export type WatchStep = Extract<StepSpec, { kind: 'watch' }>;

/** One figure's limit. Keys: `error_rate` (a share), `p95_ms`, `prometheus.<name>`. */
export interface WatchLimit {
  key: string;
  max?: number;
  min?: number;
}

export function watchLimits(step: WatchStep): WatchLimit[] {
  const limits: WatchLimit[] = [];
  if (step.checks) {
    // Without a threshold, any failed check breaches: a watch that tolerates failures says so.
    limits.push({ key: 'error_rate', max: step.thresholds?.error_rate ?? 0 });
    if (step.thresholds?.p95_ms !== undefined) limits.push({ key: 'p95_ms', max: step.thresholds.p95_ms });
  }
  for (const q of step.prometheus?.queries ?? [])
    limits.push({
      key: `prometheus.${q.name}`,
      ...(q.max === undefined ? {} : { max: q.max }),
      ...(q.min === undefined ? {} : { min: q.min }),
    });
  return limits;
}
