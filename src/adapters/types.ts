import type { Logger } from 'pino';
import type { StepSpec } from '../plan/schema.ts';

// The seam between the executor and the systems a plan drives. An adapter never talks to Slack and
// never reads the environment itself: what it needs comes in `AdapterEnv` (from config) and the resolved step.

/** Live progress of a long step (queue drain, DNS propagation), shown in a message edited in place. */
export interface Progress {
  text: string;
  /** 0..1 where known, for a progress bar. */
  fraction?: number;
  figures?: Record<string, number | string>;
  /**
   * A sentence for the run's thread (a watch's summary every minute). Most progress only edits the
   * live line; this one is recorded in the timeline, and never dropped by the live line's pacing.
   */
  summary?: string;
  /** One measurement to keep for the report's chart (a watch's sample); never dropped by pacing. */
  sample?: WatchSample;
}

/** One sample of a watch: each figure after it (null: no value), and which of them breached their limit. */
export interface WatchSample {
  /** Epoch ms. */
  at: number;
  /** `error_rate` (a share), `p95_ms` (over the samples so far), `prometheus.<name>` (the value now). */
  values: Record<string, number | null>;
  breached: string[];
}

export interface StepContext {
  runId: string;
  stepId: string;
  attempt: number;
  /** Aborted when the run is aborted, the step's timeout passes, or Ferry shuts down. */
  signal: AbortSignal;
  now(): number;
  /** Resolves after `ms`, or rejects when `signal` aborts. */
  sleep(ms: number): Promise<void>;
  progress(report: Progress): Promise<void>;
  log: Logger;
  /**
   * Steps of this run that already succeeded, oldest first, with what they captured. A closing step
   * (enable-crons, resume jobs) re-enables exactly what its opening step disabled.
   */
  earlier: ReadonlyArray<EarlierStep>;
  /**
   * One read of the live system shared by `blocker`, `describe` and `capture` of one attempt (or one
   * dry run): the first call with `key` reads, later calls get the same answer. A step then reads a
   * record once before it writes, and what it captures is what it checked.
   */
  remember<T>(key: string, read: () => Promise<T>): Promise<T>;
}

export interface EarlierStep {
  step: StepSpec;
  captured: unknown;
}

/** What a step did, in words for the timeline and figures for the report. */
export interface StepResult {
  summary: string;
  figures?: Record<string, number | string>;
}

/**
 * One (kind, provider) pair. `S` is the plan step with `${VAR}`s already substituted; `C` is the
 * JSON-serialisable state captured before acting, which undo restores exactly.
 *
 * Contract: `capture` only reads and is committed before `run`; `run` and
 * `undo` set values (never toggle), so running either twice has the effect of running it once.
 */
export interface StepHandler<S extends StepSpec = StepSpec, C = unknown> {
  /** Dry run: one line a person reads, e.g. "disable 7 of 9 sidekiq-cron jobs (2 already disabled)". Reads, never writes. */
  describe(step: S, ctx: StepContext): Promise<string>;
  /** A reason the step must not run yet (e.g. a TTL above max_ttl), or null. Checked before capture. */
  blocker?(step: S, ctx: StepContext): Promise<string | null>;
  capture(step: S, ctx: StepContext): Promise<C>;
  run(step: S, captured: C, ctx: StepContext): Promise<StepResult>;
  /** Absent when the step changes nothing (checks, drains, manual steps). */
  undo?(step: S, captured: C, ctx: StepContext): Promise<StepResult>;
}

/** A fresh `remember` for one attempt or one dry run. */
export function rememberer(): StepContext['remember'] {
  const reads = new Map<string, Promise<unknown>>();
  return <T>(key: string, read: () => Promise<T>): Promise<T> => {
    let pending = reads.get(key) as Promise<T> | undefined;
    if (!pending) {
      pending = read();
      reads.set(key, pending);
      // A failed read is not remembered: the next caller reads again.
      pending.catch(() => reads.delete(key));
    }
    return pending;
  };
}

/** Settings adapters need, taken from config once at start. */
export interface AdapterEnv {
  heroku: { apiUrl: string; token: string | undefined };
  route53: {
    endpoint: string | undefined;
    region: string | undefined;
    /** Static credentials instead of the SDK's chain (the local sandbox's fake Route 53). */
    credentials?: { accessKeyId: string; secretAccessKey: string };
  };
  /** Sidekiq writes process heartbeats every 10 s; tests shorten it. */
  sidekiqHeartbeatMs: number;
  /** Poll interval for Route 53 GetChange and similar waits. */
  pollIntervalMs: number;
  /** Per-call timeout for external HTTP calls. */
  httpTimeoutMs: number;
  fetch: typeof fetch;
}
