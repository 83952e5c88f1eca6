import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import {
  rememberer,
  type AdapterEnv,
  type EarlierStep,
  type StepContext,
  type StepHandler,
  type StepResult,
} from '../adapters/types.ts';
import { decide } from '../engine/index.ts';
import type { RunEvent } from '../engine/types.ts';
import { FerryError, StepError, toFerryError } from '../errors.ts';
import { findVarRefs, resolveVars } from '../plan/vars.ts';
import type { StepSpec } from '../plan/schema.ts';
import { redactText, secretValues } from '../redact.ts';
import {
  claimDueAttempts,
  earlierCaptures,
  findCapture,
  nextDueAt,
  releaseAttempts,
  renewLease,
  saveCapture,
  saveProgress,
  updateStepTitle,
  type Attempt,
} from '../store/attempts.ts';
import type { Database } from '../store/db.ts';
import { applyToRun, readRun } from '../store/runs.ts';
import type { Clock } from '../clock.ts';
import type { FerryMetrics } from '../metrics.ts';
import type { Waker } from './wake.ts';

// Durable execution: claims due step attempts from Postgres, captures and commits the undo state,
// calls the adapter, and records the outcome with the engine's decision in one transaction.

export interface ExecutorDeps {
  db: Database;
  log: Logger;
  clock: Clock;
  waker: Waker;
  handlerFor: (spec: StepSpec) => StepHandler;
  adapterEnv: AdapterEnv;
  planEnv: Readonly<Record<string, string | undefined>>;
  leaseMs: number;
  /** Upper bound on sleeping between claims, should a wake-up be missed. */
  idlePollMs?: number;
  concurrency?: number;
  metrics?: FerryMetrics;
}

const defaultTimeoutMs: Partial<Record<StepSpec['kind'], number>> = { drain: 30 * 60_000, dns: 15 * 60_000 };
const PROGRESS_MIN_INTERVAL_MS = 1_000;

export class Executor {
  readonly owner = `executor-${randomUUID().slice(0, 8)}`;
  private readonly deps: ExecutorDeps;
  private readonly inFlight = new Map<
    number,
    { runId: string; stepId: string; abort: AbortController; done: Promise<void> }
  >();
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(deps: ExecutorDeps) {
    this.deps = deps;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops claiming, aborts steps in flight (their leases lapse, so a restart resumes them), waits. */
  /**
   * Stops claiming, gives steps in flight `graceMs` to finish (a rolling deploy should not cut a
   * DNS change short), then aborts the rest: their leases lapse and a restart resumes them.
   */
  async stop(graceMs = 0): Promise<void> {
    this.stopping.abort();
    const inFlight = () => [...this.inFlight.values()].map((w) => w.done);
    if (graceMs > 0 && this.inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled(inFlight()),
        new Promise((resolve) => (timer = setTimeout(resolve, graceMs))),
      ]);
      clearTimeout(timer);
    }
    for (const work of this.inFlight.values()) work.abort.abort(new ShutdownError());
    await Promise.allSettled([this.loop, ...inFlight()]);
  }

  /** Aborts this process's attempt of a step (the run was aborted). */
  cancel(runId: string, stepId: string): void {
    for (const work of this.inFlight.values()) {
      if (work.runId === runId && work.stepId === stepId)
        work.abort.abort(
          new StepError('stopped: the run was aborted', { retryable: false, reason: 'aborted' }),
        );
    }
  }

  private async run(): Promise<void> {
    const { db, waker, log } = this.deps;
    const concurrency = this.deps.concurrency ?? 4;
    const idle = this.deps.idlePollMs ?? 5_000;
    while (!this.stopping.signal.aborted) {
      try {
        const free = concurrency - this.inFlight.size;
        const claimed = free > 0 ? await claimDueAttempts(db, this.owner, this.deps.leaseMs, free) : [];
        if (this.stopping.signal.aborted) {
          // stop() came while claiming: hand the work straight back rather than start it untracked.
          await releaseAttempts(
            db,
            claimed.map((a) => a.id),
            this.owner,
          );
          break;
        }
        for (const attempt of claimed) this.track(attempt);
        if (claimed.length > 0) continue;
        const next = await nextDueAt(db);
        const wait = next ? Math.min(idle, Math.max(10, next.getTime() - Date.now())) : idle;
        await waker.wait('work', wait, this.stopping.signal);
      } catch (error) {
        if (this.stopping.signal.aborted) break;
        log.error({ err: error }, 'executor loop failed; retrying');
        await waker.wait('work', 1_000, this.stopping.signal);
      }
    }
  }

  private track(attempt: Attempt): void {
    const abort = new AbortController();
    const done = this.execute(attempt, abort)
      .catch((error: unknown) =>
        this.deps.log.error({ err: error, attempt }, 'recording a step outcome failed'),
      )
      .finally(() => {
        this.inFlight.delete(attempt.id);
        this.deps.waker.notify('work');
      });
    this.inFlight.set(attempt.id, { runId: attempt.runId, stepId: attempt.stepId, abort, done });
  }

  private async execute(attempt: Attempt, abort: AbortController): Promise<void> {
    const { db, log: baseLog, leaseMs } = this.deps;
    const log = baseLog.child({
      run: attempt.runId,
      step: attempt.stepId,
      attempt: attempt.attempt,
      direction: attempt.direction,
    });
    const record = await readRun(db, attempt.runId);
    const spec = record?.specs.get(attempt.stepId);
    if (!record || !spec) throw new Error(`attempt ${attempt.id} refers to a missing run or step`);

    const lease = setInterval(
      () => {
        renewLease(db, attempt.id, this.owner, leaseMs)
          .then((mine) => {
            if (!mine)
              abort.abort(
                new StepError('stopped: the attempt was cancelled or taken over by another Ferry', {
                  retryable: false,
                  reason: 'aborted',
                }),
              );
          })
          .catch((error: unknown) => log.warn({ err: error }, 'lease renewal failed'));
      },
      Math.max(100, Math.floor(leaseMs / 3)),
    );
    const timeoutMs = spec.timeout ?? defaultTimeoutMs[spec.kind] ?? 5 * 60_000;
    // Secret-looking values of the step's ${VAR}s never reach a message or a log.
    const secrets = secretValues(findVarRefs(spec), this.deps.planEnv);
    const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(timeoutMs)]);

    let event: RunEvent;
    const startedAt = Date.now();
    try {
      const refusal = notToRun(attempt, record.state.status);
      if (refusal) throw new StepError(refusal, { retryable: false, reason: 'not_run' });
      // An adapter that ignores its signal still cannot hold the attempt past its timeout or an abort.
      const result = await untilAborted(this.perform(attempt, spec, signal, log, secrets), signal);
      event = {
        type: 'step_succeeded',
        stepId: attempt.stepId,
        attempt: attempt.attempt,
        direction: attempt.direction,
        ...result,
        summary: redactText(result.summary, secrets),
      };
      log.info({ summary: event.summary }, 'step attempt succeeded');
    } catch (thrown) {
      const reason: unknown = signal.aborted ? signal.reason : undefined;
      const error = reason instanceof StepError ? reason : thrown;
      const timedOut = !abort.signal.aborted && signal.aborted;
      // The adapter's own words are worth keeping; the signal's "operation was aborted" is not.
      const said = thrown instanceof FerryError && thrown !== reason ? `: ${thrown.message}` : '';
      const message = timedOut
        ? `timed out after ${formatMs(timeoutMs)} (the step's timeout; set \`timeout\` in the plan to allow longer)${said}`
        : toFerryError(error).message;
      const retryable = error instanceof StepError && error.retryable && !timedOut;
      const figures = (error as { figures?: unknown }).figures;
      event = {
        type: 'step_failed',
        stepId: attempt.stepId,
        attempt: attempt.attempt,
        direction: attempt.direction,
        error: redactText(message, secrets),
        retryable,
        ...(isFigures(figures) ? { figures } : {}),
      };
      // Logs are held to the same rule as the timeline: no credentials, so no raw error object.
      log.warn({ err: redactedError(error, secrets), retryable }, 'step attempt failed');
    } finally {
      clearInterval(lease);
      this.deps.metrics?.stepSeconds.inc({ kind: spec.kind }, (Date.now() - startedAt) / 1000);
    }
    const cutShort = abort.signal.aborted && event.type === 'step_failed';
    this.deps.metrics?.stepAttempts.inc({
      kind: spec.kind,
      direction: attempt.direction,
      outcome:
        event.type === 'step_succeeded'
          ? 'succeeded'
          : cutShort
            ? abort.signal.reason instanceof ShutdownError
              ? 'handed_back'
              : 'cancelled'
            : event.retryable
              ? 'retrying'
              : 'failed',
    });
    if (abort.signal.reason instanceof ShutdownError) return; // the lease lapses and a restart resumes it

    try {
      await this.record(attempt, event);
    } catch (error) {
      // An outcome Postgres will not take (say, text it refuses) must not leave the attempt to be
      // claimed and acted on again and again: record that it could not be recorded, and stop.
      log.error({ err: redactedError(error, secrets) }, 'recording the step outcome failed');
      await this.record(attempt, {
        type: 'step_failed',
        stepId: attempt.stepId,
        attempt: attempt.attempt,
        direction: attempt.direction,
        error: `Ferry could not record this step's outcome (${redactText(toFerryError(error).message, secrets)}); it was not run again. Check the system by hand, then Retry or Skip.`,
        retryable: false,
      });
    }
    await db.pool.query(`select pg_notify('ferry_work', ''), pg_notify('ferry_publish', '')`);
    this.deps.waker.notify('publish');
  }

  /** The outcome and the engine's next decision, in one transaction on the locked run. */
  private async record(attempt: Attempt, event: RunEvent): Promise<void> {
    const now = this.deps.clock.now();
    await applyToRun(this.deps.db, attempt.runId, now, async (current, client) => {
      const { rowCount } = await client.query(
        `update step_attempts set status = 'done', finished_at = $3, outcome = $4
         where id = $1 and claimed_by = $2 and status in ('running', 'cancelled')`,
        [attempt.id, this.owner, new Date(now), event],
      );
      // Another worker took the attempt over after our lease lapsed: its outcome counts, not ours.
      if (rowCount === 0) return { state: current.state, effects: [] };
      return decide(current.state, event, now);
    });
  }

  private async perform(
    attempt: Attempt,
    spec: StepSpec,
    signal: AbortSignal,
    log: Logger,
    secrets: readonly string[],
  ): Promise<StepResult> {
    const { db } = this.deps;
    const handler = this.deps.handlerFor(spec);
    const resolved = resolveVars(spec, this.deps.planEnv);
    const ctx = await this.context(attempt, signal, log, secrets);

    if (attempt.direction === 'undo') {
      const capture = await findCapture(db, attempt.runId, attempt.stepId);
      if (!capture.found) return { summary: 'nothing to undo: the step changed nothing' };
      if (!handler.undo) return { summary: 'nothing to undo' };
      return handler.undo(resolved, capture.captured, ctx);
    }

    const blocked = await handler.blocker?.(resolved, ctx);
    if (blocked) throw new StepError(blocked, { retryable: false, reason: 'blocked' });
    const existing = attempt.hasCapture
      ? { found: true, captured: attempt.captured }
      : await findCapture(db, attempt.runId, attempt.stepId);
    let captured = existing.captured;
    if (!existing.found) {
      // The title was read when the run started, before earlier steps changed things ("maintenance
      // off -> off"); read it again now, with what earlier steps captured, before anything changes.
      const title = await handler.describe(resolved, ctx).catch((error: unknown) => {
        log.debug({ err: redactedError(error, secrets) }, 'could not refresh the step title');
        return null;
      });
      if (title) await updateStepTitle(db, attempt.runId, attempt.stepId, redactText(title, secrets));
      captured = await handler.capture(resolved, ctx);
      await saveCapture(db, attempt.id, captured);
    }
    signal.throwIfAborted();
    return handler.run(resolved, captured, ctx);
  }

  private async context(
    attempt: Attempt,
    signal: AbortSignal,
    log: Logger,
    secrets: readonly string[],
  ): Promise<StepContext> {
    const { db, waker } = this.deps;
    const record = await readRun(db, attempt.runId);
    const captures = await earlierCaptures(db, attempt.runId, attempt.stepId);
    const earlier: EarlierStep[] = [];
    for (const step of record?.state.steps ?? []) {
      if (step.id === attempt.stepId) break;
      const spec = record?.specs.get(step.id);
      if (spec && step.status === 'succeeded' && captures.has(step.id)) {
        earlier.push({ step: resolveVars(spec, this.deps.planEnv), captured: captures.get(step.id) });
      }
    }
    let lastProgress = 0;
    return {
      runId: attempt.runId,
      stepId: attempt.stepId,
      attempt: attempt.attempt,
      signal,
      now: () => this.deps.clock.now(),
      sleep: (ms) => sleep(ms, signal),
      progress: async (report) => {
        const now = Date.now();
        if (now - lastProgress < PROGRESS_MIN_INTERVAL_MS && report.fraction !== 1) return;
        lastProgress = now;
        await saveProgress(db, attempt.runId, attempt.stepId, {
          ...report,
          text: redactText(report.text, secrets),
        });
        waker.notify('publish');
      },
      log,
      earlier,
      remember: rememberer(),
    };
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** "40 ms", "90 s", "30 min": a timeout as the plan would write it. */
function formatMs(ms: number): string {
  if (ms < 1_000) return `${ms} ms`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.round(ms / 100) / 10} s`;
}

function redactedError(error: unknown, secrets: readonly string[]): Record<string, unknown> {
  if (!(error instanceof Error)) return { message: redactText(String(error), secrets) };
  return {
    type: error.name,
    message: redactText(error.message, secrets),
    stack: redactText(error.stack ?? '', secrets),
    ...(error instanceof FerryError ? { code: error.code } : {}),
    ...(error instanceof StepError && error.reason ? { reason: error.reason } : {}),
  };
}

function isFigures(value: unknown): value is Record<string, number | string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.values(value).every((v) => typeof v === 'number' || typeof v === 'string')
  );
}

class ShutdownError extends Error {
  constructor() {
    super('Ferry is shutting down');
    this.name = 'ShutdownError';
  }
}

export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** How often an attempt may be claimed before Ferry stops acting on it: each claim after a crash acts again. */
export const MAX_CLAIMS = 5;

/**
 * Why a claimed attempt must not act, or null. A forward attempt acts only while its run runs: one
 * whose backoff outlived a Roll back or an Abort would otherwise redo the change being undone.
 */
function notToRun(attempt: Attempt, runStatus: string): string | null {
  if (attempt.claims > MAX_CLAIMS) {
    return `claimed ${attempt.claims} times without an outcome being recorded, so it was not run again; check Ferry's log and the system, then Retry or Skip`;
  }
  if (attempt.direction === 'do' && runStatus !== 'running') {
    return `not run: the run is ${runStatus.replace('_', ' ')}`;
  }
  return null;
}
