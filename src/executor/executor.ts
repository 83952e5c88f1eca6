import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { sleep, untilAborted } from '../abortable.ts';
import {
  rememberer,
  type EarlierStep,
  type Progress,
  type StepContext,
  type StepHandler,
  type StepResult,
  type WatchSample,
} from '../adapters/types.ts';
import type { Clock } from '../clock.ts';
import { formatDuration } from '../duration.ts';
import { attemptRefusal, decide } from '../engine/index.ts';
import type { RunEvent } from '../engine/types.ts';
import { FerryError, StepError, toFerryError } from '../errors.ts';
import { noFailpoints, type Failpoints } from '../failpoints.ts';
import type { FerryMetrics } from '../metrics.ts';
import type { StepSpec } from '../plan/schema.ts';
import { stepContent, type StepContent } from '../plan/content.ts';
import { findVarRefs, resolveVars } from '../plan/vars.ts';
import { redactText, secretValues } from '../redact.ts';
import {
  claimDueAttempts,
  closeAttempt,
  earlierCaptures,
  findCapture,
  nextDueAt,
  releaseAttempts,
  renewLease,
  saveCapture,
  saveProgress,
  type Attempt,
} from '../store/attempts.ts';
import { DEFAULT_STEP_CONCURRENCY } from '../config.ts';
import { isUnavailable, type Database } from '../store/db.ts';
import { applyToRun, readRun, type RunRecord } from '../store/runs.ts';
import type { Waker } from '../store/wake.ts';
import { saveWatchSample } from '../store/watch-samples.ts';

// Durable execution: claims due step attempts from Postgres, captures and commits the undo state,
// calls the adapter, and records the outcome with the engine's decision in one transaction.
//
// Every claim carries a fencing token (`claimId`). Renewing the lease, committing the capture, the
// check right before acting and recording the outcome all name it, so a claimant whose lease lapsed
// and was taken over can do none of them: at most the adapter call already under way finishes (and
// handlers set values rather than toggle them, so a repeat changes nothing).

export interface ExecutorDeps {
  db: Database;
  log: Logger;
  clock: Clock;
  waker: Waker;
  handlerFor: (spec: StepSpec) => StepHandler;
  planEnv: Readonly<Record<string, string | undefined>>;
  leaseMs: number;
  /** Upper bound on sleeping between claims, should a wake-up be missed. */
  idlePollMs?: number;
  /** Attempts run at once, waiting ones included (default {@link DEFAULT_STEP_CONCURRENCY}). */
  concurrency?: number;
  metrics?: FerryMetrics;
  failpoints?: Failpoints;
}

const defaultTimeoutMs: Partial<Record<StepSpec['kind'], number>> = { drain: 30 * 60_000, dns: 15 * 60_000 };
/** A step's timeout: the plan's, or one that fits its kind; a watch observes for as long as it says, and then some. */
export function stepTimeoutMs(spec: StepSpec): number {
  if (spec.timeout !== undefined) return spec.timeout;
  if (spec.kind === 'watch') return spec.for + 5 * 60_000;
  return defaultTimeoutMs[spec.kind] ?? 5 * 60_000;
}
const PROGRESS_MIN_INTERVAL_MS = 1_000;

interface Work {
  attempt: Attempt;
  abort: AbortController;
  done: Promise<void>;
}

export class Executor {
  readonly owner = `executor-${randomUUID().slice(0, 8)}`;
  private readonly deps: ExecutorDeps;
  private readonly failpoints: Failpoints;
  /** By claim, not by attempt: a re-claim of the same attempt is different work. */
  private readonly inFlight = new Map<number, Work>();
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  /** Attempts this executor runs at once, waiting ones included. */
  private readonly concurrency: number;

  constructor(deps: ExecutorDeps) {
    this.deps = deps;
    this.failpoints = deps.failpoints ?? noFailpoints;
    this.concurrency = deps.concurrency ?? DEFAULT_STEP_CONCURRENCY;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Stops claiming, gives steps in flight `graceMs` to finish (a rolling deploy should not cut a
   * DNS change short), then aborts the rest and hands them back, due at once, for the next process
   * to resume from their committed capture.
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

  /** Aborts this process's attempt of a step (the run was aborted or rolled back). */
  cancel(runId: string, stepId: string): void {
    for (const { attempt, abort } of this.inFlight.values()) {
      if (attempt.runId === runId && attempt.stepId === stepId)
        abort.abort(new StepError('stopped: the run was aborted', { retryable: false, reason: 'aborted' }));
    }
  }

  private async run(): Promise<void> {
    const { db, waker, log } = this.deps;
    const idle = this.deps.idlePollMs ?? 5_000;
    while (!this.stopping.signal.aborted) {
      try {
        const free = this.concurrency - this.inFlight.size;
        const running = [...this.inFlight.values()].map((w) => w.attempt.id);
        const claimed =
          free > 0
            ? await claimDueAttempts(
                db,
                this.owner,
                this.deps.leaseMs,
                free,
                running,
                new Date(this.deps.clock.now()),
              )
            : [];
        if (this.stopping.signal.aborted) {
          // stop() came while claiming: hand the work straight back rather than start it untracked.
          await releaseAttempts(db, claimed, new Date(this.deps.clock.now()));
          break;
        }
        for (const attempt of claimed) this.track(attempt);
        // A full claim may have left more behind; a partial one took all that was due and free.
        if (claimed.length > 0 && claimed.length === free) continue;
        const next = await nextDueAt(db);
        const wait = next ? Math.min(idle, Math.max(10, next.getTime() - this.deps.clock.now())) : idle;
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
    // Armed before anything is awaited: a lease must not lapse while the attempt is being set up.
    const lease = this.keepLease(attempt, abort);
    const done = this.execute(attempt, abort)
      .catch((error: unknown) =>
        this.deps.log.error({ err: error, attempt }, 'recording a step outcome failed'),
      )
      .finally(() => {
        clearInterval(lease);
        const wasFull = this.inFlight.size >= this.concurrency;
        this.inFlight.delete(attempt.claimId);
        // A slot came free: worth a claim only if the loop stopped claiming for want of one (the
        // outcome's own announce wakes it for the next step).
        if (wasFull) this.deps.waker.notify('work');
      });
    this.inFlight.set(attempt.claimId, { attempt, abort, done });
  }

  /** Renews the claim every third of the lease; aborts the work once the claim is no longer ours. */
  private keepLease(attempt: Attempt, abort: AbortController): NodeJS.Timeout {
    const { db, leaseMs, log } = this.deps;
    return setInterval(
      () => {
        renewLease(db, attempt, leaseMs)
          .then((mine) => {
            if (!mine) abort.abort(lostClaim());
          })
          .catch((error: unknown) => log.warn({ err: error, attempt: attempt.id }, 'lease renewal failed'));
      },
      Math.max(10, Math.floor(leaseMs / 3)),
    );
  }

  private async execute(attempt: Attempt, abort: AbortController): Promise<void> {
    const { db, log: baseLog } = this.deps;
    const point = `${attempt.direction}:${attempt.stepId}`;
    this.failpoints.hit('claim.after', point);
    const log = baseLog.child({
      run: attempt.runId,
      step: attempt.stepId,
      attempt: attempt.attempt,
      direction: attempt.direction,
    });
    const record = await readRun(db, attempt.runId);
    const spec = record?.specs.get(attempt.stepId);
    if (!record || !spec) throw new Error(`attempt ${attempt.id} refers to a missing run or step`);

    const timeoutMs = stepTimeoutMs(spec);
    // Secret-looking values of the step's ${VAR}s never reach a message or a log.
    const secrets = secretValues(findVarRefs(spec), this.deps.planEnv);
    const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(timeoutMs)]);

    let event: RunEvent;
    const startedAt = Date.now();
    try {
      const refusal = attemptRefusal(attempt, record.state.status);
      if (refusal) throw new StepError(refusal, { retryable: false, reason: 'not_run' });
      // An adapter that ignores its signal still cannot hold the attempt past its timeout or an abort.
      const result = await untilAborted(
        this.perform(attempt, record, spec, { signal, abort, log, secrets }),
        signal,
      );
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
      event =
        thrown instanceof StepChanged && !signal.aborted
          ? {
              type: 'step_changed',
              stepId: attempt.stepId,
              attempt: attempt.attempt,
              content: thrown.content,
            }
          : this.failure(attempt, thrown, { signal, abort, timeoutMs, secrets });
      // Logs are held to the same rule as the timeline: no credentials, so no raw error object.
      log.warn(
        { err: redactedError(thrown, secrets), retryable: event.type === 'step_failed' && event.retryable },
        'step attempt failed',
      );
    } finally {
      this.deps.metrics?.stepSeconds.inc({ kind: spec.kind }, (Date.now() - startedAt) / 1000);
    }
    this.count(attempt, spec, event, abort);
    if (abort.signal.reason instanceof ShutdownError) {
      // Handed back, due at once: the next process resumes it from the committed capture.
      await releaseAttempts(db, [attempt], new Date(this.deps.clock.now()));
      return;
    }

    this.failpoints.hit('record.before', point);
    try {
      await this.recordWhileReachable(attempt, event, log);
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
    this.failpoints.hit('record.after', point);
    // Other replicas find the work within their poll should this NOTIFY not go out.
    await this.deps.waker
      .announce(db, 'work', 'publish')
      .catch((error: unknown) => log.warn({ err: error }, 'could not wake the other replicas'));
  }

  /** What a thrown error (or the signal's reason) means for the step. */
  private failure(
    attempt: Attempt,
    thrown: unknown,
    how: { signal: AbortSignal; abort: AbortController; timeoutMs: number; secrets: readonly string[] },
  ): RunEvent {
    const reason: unknown = how.signal.aborted ? how.signal.reason : undefined;
    const error = reason instanceof StepError ? reason : thrown;
    const timedOut = !how.abort.signal.aborted && how.signal.aborted;
    // The adapter's own words are worth keeping; the signal's "operation was aborted" is not.
    const said = thrown instanceof FerryError && thrown !== reason ? `: ${thrown.message}` : '';
    const message = timedOut
      ? `timed out after ${formatDuration(how.timeoutMs)} (the step's timeout; set \`timeout\` in the plan to allow longer)${said}`
      : toFerryError(error).message;
    const figures = (error as { figures?: unknown }).figures;
    return {
      type: 'step_failed',
      stepId: attempt.stepId,
      attempt: attempt.attempt,
      direction: attempt.direction,
      error: redactText(message, how.secrets),
      retryable: error instanceof StepError && error.retryable && !timedOut,
      ...(isFigures(figures) ? { figures } : {}),
    };
  }

  private count(attempt: Attempt, spec: StepSpec, event: RunEvent, abort: AbortController): void {
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
            : event.type === 'step_failed' && event.retryable
              ? 'retrying'
              : 'failed',
    });
  }

  /**
   * Records the outcome, trying again for as long as the database cannot be reached: an outcome given
   * up here would leave the attempt to be claimed and acted on again once the database is back. Only
   * this process may record it while it still runs the attempt (it never claims its own attempts),
   * so a single Ferry acts once however long the outage lasts. A refusal of what was asked (not an
   * outage) is thrown at once, for the caller to record as a failure instead.
   */
  private async recordWhileReachable(attempt: Attempt, event: RunEvent, log: Logger): Promise<void> {
    for (let wait = 250; ; wait = Math.min(wait * 2, 5_000)) {
      try {
        await this.record(attempt, event);
        return;
      } catch (error) {
        if (!isUnavailable(error)) throw error;
        log.warn(
          { err: error, retryInMs: wait },
          'the database is unreachable; keeping the outcome to record it',
        );
        await sleep(wait);
      }
    }
  }

  /** The outcome and the engine's next decision, in one transaction on the locked run. */
  private async record(attempt: Attempt, event: RunEvent): Promise<void> {
    const now = this.deps.clock.now();
    await applyToRun(this.deps.db, attempt.runId, now, async (current, client) => {
      // A claim taken over after its lease lapsed records nothing: the current claimant's outcome counts.
      if (!(await closeAttempt(client, attempt, event, new Date(now))))
        return { state: current.state, effects: [] };
      return decide(current.state, event, now);
    });
  }

  private async perform(
    attempt: Attempt,
    record: RunRecord,
    spec: StepSpec,
    how: { signal: AbortSignal; abort: AbortController; log: Logger; secrets: readonly string[] },
  ): Promise<StepResult> {
    const { db, leaseMs } = this.deps;
    const { signal, abort, log, secrets } = how;
    const point = `${attempt.direction}:${attempt.stepId}`;
    const handler = this.deps.handlerFor(spec);
    const resolved = resolveVars(spec, this.deps.planEnv);
    const ctx = await this.context(attempt, record, signal, log, secrets);
    /** The check right before acting: the claim is still ours, renewed for a whole lease. */
    const confirm = async () => {
      signal.throwIfAborted();
      if (!(await renewLease(db, attempt, leaseMs))) {
        abort.abort(lostClaim());
        signal.throwIfAborted();
      }
    };

    if (attempt.direction === 'undo') {
      const capture = await findCapture(db, attempt.runId, attempt.stepId);
      if (!capture.found) return { summary: 'nothing to undo: the step changed nothing' };
      if (!handler.undo) return { summary: 'nothing to undo' };
      await confirm();
      this.failpoints.hit('act.before', point);
      const result = await handler.undo(resolved, capture.captured, ctx);
      this.failpoints.hit('act.after', point);
      return result;
    }

    // An approval is of the step as it was shown; if what would run now differs (a variable changed
    // under a restarted Ferry), the approval does not cover it: ask again instead of acting.
    const approved = record.state.steps.find((st) => st.id === attempt.stepId)?.approval?.digest;
    if (approved) {
      const now = stepContent(spec, this.deps.planEnv);
      if (now.digest !== approved) throw new StepChanged(now);
    }
    const blocked = await handler.blocker?.(resolved, ctx);
    if (blocked) throw new StepError(blocked, { retryable: false, reason: 'blocked' });
    const existing = attempt.hasCapture
      ? { found: true, captured: attempt.captured }
      : await findCapture(db, attempt.runId, attempt.stepId);
    let captured = existing.captured;
    if (!existing.found) {
      this.failpoints.hit('capture.before', point);
      // The title was read when the run started, before earlier steps changed things ("maintenance
      // off -> off"); read it again now, with what earlier steps captured, before anything changes.
      const title = await handler.describe(resolved, ctx).catch((error: unknown) => {
        log.debug({ err: redactedError(error, secrets) }, 'could not refresh the step title');
        return null;
      });
      captured = await handler.capture(resolved, ctx);
      if (!(await saveCapture(db, attempt, captured, title === null ? null : redactText(title, secrets)))) {
        abort.abort(lostClaim());
        signal.throwIfAborted();
      }
      this.failpoints.hit('capture.after', point);
    }
    await confirm();
    this.failpoints.hit('act.before', point);
    const result = await handler.run(resolved, captured, ctx);
    this.failpoints.hit('act.after', point);
    return result;
  }

  /** A watch's sample, for the report; one that cannot be saved costs the chart a point, not the step. */
  private async keepSample(attempt: Attempt, sample: WatchSample, log: Logger): Promise<void> {
    try {
      await saveWatchSample(this.deps.db, attempt, sample);
    } catch (error) {
      log.warn({ err: error }, 'could not save a watch sample; the watch goes on');
    }
  }

  /**
   * A summary for the run's thread, recorded as the engine's `step_progress` while the claim is still
   * this process's: one taken over says nothing more. Like all progress, it never fails the step.
   */
  private async recordSummary(
    attempt: Attempt,
    report: Progress,
    secrets: readonly string[],
    log: Logger,
  ): Promise<void> {
    const { db, clock, waker, leaseMs } = this.deps;
    try {
      if (!(await renewLease(db, attempt, leaseMs))) return;
      const now = clock.now();
      await applyToRun(db, attempt.runId, now, (current) =>
        decide(
          current.state,
          {
            type: 'step_progress',
            stepId: attempt.stepId,
            attempt: attempt.attempt,
            detail: redactText(report.summary ?? '', secrets),
            ...(report.figures ? { figures: report.figures } : {}),
          },
          now,
        ),
      );
      await waker.announce(db, 'publish');
    } catch (error) {
      log.warn({ err: error }, 'could not record the step’s summary; the step goes on');
    }
  }

  private async context(
    attempt: Attempt,
    record: RunRecord,
    signal: AbortSignal,
    log: Logger,
    secrets: readonly string[],
  ): Promise<StepContext> {
    const { db, waker } = this.deps;
    const captures = await earlierCaptures(db, attempt.runId, attempt.stepId);
    const earlier: EarlierStep[] = [];
    for (const step of record.state.steps) {
      if (step.id === attempt.stepId) break;
      const spec = record.specs.get(step.id);
      if (spec && step.status === 'succeeded' && captures.has(step.id)) {
        earlier.push({ step: resolveVars(spec, this.deps.planEnv), captured: captures.get(step.id) });
      }
    }
    let lastProgress = 0;
    let progressSaved = Promise.resolve();
    return {
      runId: attempt.runId,
      stepId: attempt.stepId,
      attempt: attempt.attempt,
      signal,
      now: () => this.deps.clock.now(),
      sleep: (ms) => sleep(ms, signal),
      progress: async (report) => {
        // A sample and a summary are kept whatever the pacing of the live line below.
        if (report.sample) await this.keepSample(attempt, report.sample, log);
        if (report.summary !== undefined) await this.recordSummary(attempt, report, secrets, log);
        const now = Date.now();
        if (now - lastProgress < PROGRESS_MIN_INTERVAL_MS && report.fraction !== 1) return;
        lastProgress = now;
        // Progress is for people watching; a report that cannot be saved must not fail the step, nor
        // hold it up: the live line is saved beside the step's work, each save after the one before.
        const saved = { ...report, text: redactText(report.text, secrets) };
        progressSaved = progressSaved
          .then(() => saveProgress(db, attempt.runId, attempt.stepId, saved))
          .then(
            () => waker.notify('publish'),
            (error: unknown) =>
              log.warn({ err: error }, 'could not save the step’s progress; the step goes on'),
          );
      },
      log,
      earlier,
      remember: rememberer(),
    };
  }
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

/** The step as it would run is not the step that was approved. */
class StepChanged extends Error {
  readonly content: StepContent;
  constructor(content: StepContent) {
    super('the step changed since it was approved');
    this.name = 'StepChanged';
    this.content = content;
  }
}

class ShutdownError extends Error {
  constructor() {
    super('Ferry is shutting down');
    this.name = 'ShutdownError';
  }
}

function lostClaim(): StepError {
  return new StepError('stopped: the attempt was cancelled or taken over by another Ferry', {
    retryable: false,
    reason: 'aborted',
  });
}
