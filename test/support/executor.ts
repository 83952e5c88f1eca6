import type { StepContext, StepHandler, StepResult } from '../../src/adapters/types.ts';
import { systemClock, type Clock } from '../../src/clock.ts';
import { Executor } from '../../src/executor/executor.ts';
import { Waker } from '../../src/store/wake.ts';
import type { RunState } from '../../src/engine/types.ts';
import type { StepSpec } from '../../src/plan/schema.ts';
import { act, type PersonEvent } from '../../src/runs/act.ts';
import type { RunsDeps } from '../../src/runs/deps.ts';
import type { Actor } from '../../src/engine/types.ts';
import type { Database } from '../../src/store/db.ts';
import { readRun, readTimeline } from '../../src/store/runs.ts';
import { silentLog } from './db.ts';

// A rig for executor tests: real Postgres, real Executor and RunService, and step handlers written
// in the test that record what the executor asked of them. (Adapters have their own tests.)

export interface HandlerCall {
  method: 'capture' | 'run' | 'undo' | 'blocker';
  stepId: string;
  attempt: number;
  /** What `run`/`undo` were given as the capture. */
  captured?: unknown;
  /** The resolved step, `${VAR}`s substituted. */
  step: StepSpec;
  ctx: StepContext;
}

export type HandlerImpl = Partial<{
  blocker: (step: StepSpec, ctx: StepContext) => Promise<string | null>;
  capture: (step: StepSpec, ctx: StepContext) => Promise<unknown>;
  run: (step: StepSpec, captured: unknown, ctx: StepContext) => Promise<StepResult>;
  undo: (step: StepSpec, captured: unknown, ctx: StepContext) => Promise<StepResult>;
}>;

/** Handlers by step id; a step without one captures `{ step: id }` and succeeds at once. */
export class RecordingHandlers {
  readonly calls: HandlerCall[] = [];
  private readonly impls = new Map<string, HandlerImpl>();

  set(stepId: string, impl: HandlerImpl): this {
    this.impls.set(stepId, impl);
    return this;
  }

  of(method: HandlerCall['method'], stepId?: string): HandlerCall[] {
    return this.calls.filter((c) => c.method === method && (stepId === undefined || c.stepId === stepId));
  }

  readonly handlerFor = (spec: StepSpec): StepHandler => {
    const impl = this.impls.get(spec.id) ?? {};
    const record = (method: HandlerCall['method'], step: StepSpec, ctx: StepContext, captured?: unknown) =>
      this.calls.push({
        method,
        stepId: ctx.stepId,
        attempt: ctx.attempt,
        step,
        ctx,
        ...(method === 'run' || method === 'undo' ? { captured } : {}),
      });
    const handler: StepHandler = {
      describe: (step) => Promise.resolve(`would change ${step.id}`),
      capture: async (step, ctx) => {
        record('capture', step, ctx);
        return impl.capture ? impl.capture(step, ctx) : { step: step.id };
      },
      run: async (step, captured, ctx) => {
        record('run', step, ctx, captured);
        return impl.run ? impl.run(step, captured, ctx) : { summary: `${step.id} done` };
      },
      undo: async (step, captured, ctx) => {
        record('undo', step, ctx, captured);
        return impl.undo ? impl.undo(step, captured, ctx) : { summary: `${step.id} undone` };
      },
    };
    if (impl.blocker) {
      const blocker = impl.blocker;
      handler.blocker = async (step, ctx) => {
        record('blocker', step, ctx);
        return blocker(step, ctx);
      };
    }
    return handler;
  };
}

export interface RigOptions {
  leaseMs?: number;
  planEnv?: Record<string, string | undefined>;
  clock?: Clock;
  idlePollMs?: number;
  /** Attempts one executor runs at once; Ferry's default when unset. */
  concurrency?: number;
}

/** Executors (as many "replicas" as a test starts) and the use cases' deps over one database. */
export class ExecutorRig {
  readonly waker = new Waker();
  readonly runs: RunsDeps;
  private readonly executors: Executor[] = [];
  readonly db: Database;
  readonly handlers: RecordingHandlers;
  private readonly options: RigOptions;

  constructor(db: Database, handlers: RecordingHandlers, options: RigOptions = {}) {
    this.db = db;
    this.handlers = handlers;
    this.options = options;
    this.runs = {
      db,
      clock: options.clock ?? systemClock,
      waker: this.waker,
      log: silentLog,
      plans: () => [],
      planEnv: options.planEnv ?? {},
      defaultChannel: undefined,
      directory: { groupsOf: () => Promise.resolve([]) },
      cancel: (runId, stepId) => this.executors.forEach((e) => e.cancel(runId, stepId)),
    };
  }

  /** A person acting on a run from its channel, as a button or a command would. */
  act(runId: string, event: PersonEvent & { actor: Actor }) {
    const { actor, ...rest } = event;
    return act(
      { ...this.runs, directory: { groupsOf: () => Promise.resolve([...actor.groups]) } },
      { runId, user: actor.user, channel: 'C0MIGRATIONS', event: rest },
    );
  }

  /** Starts one more executor (a replica), sharing this rig's Waker. */
  startExecutor(overrides: Partial<RigOptions> = {}): Executor {
    const options = { ...this.options, ...overrides };
    const executor = new Executor({
      db: this.db,
      log: silentLog,
      clock: options.clock ?? systemClock,
      waker: this.waker,
      handlerFor: this.handlers.handlerFor,
      planEnv: options.planEnv ?? {},
      leaseMs: options.leaseMs ?? 30_000,
      idlePollMs: options.idlePollMs ?? 50,
      ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    });
    executor.start();
    this.executors.push(executor);
    return executor;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.executors.splice(0).map((e) => e.stop()));
    await this.waker.close();
  }

  /** Moves every waiting retry of a run to now, as if its backoff had passed, and wakes the executors. */
  /** Makes the due attempts due now, as Ferry's clock (which set their `not_before`) tells it. */
  async skipBackoff(runId: string): Promise<void> {
    await this.db.pool.query(
      `update step_attempts set not_before = $2 where run_id = $1 and status = 'due'`,
      [runId, new Date(this.runs.clock.now())],
    );
    this.waker.notify('work');
  }

  async status(runId: string) {
    return (await readRun(this.db, runId))!.state;
  }

  /** Waits until the run passes `test`; on timeout the error shows where the run stood. */
  async until(
    runId: string,
    test: (state: RunState) => boolean,
    what: string,
    timeoutMs = 5_000,
  ): Promise<RunState> {
    try {
      return await waitFor(
        async () => {
          const state = await this.status(runId);
          return test(state) && state;
        },
        what,
        timeoutMs,
      );
    } catch (error) {
      const state = await this.status(runId);
      const steps = state.steps.map((s) => `${s.id} ${s.status}${s.error ? ` (${s.error})` : ''}`).join('; ');
      throw new Error(`${(error as Error).message}; ${runId} is ${state.status}: ${steps}`, { cause: error });
    }
  }

  async timeline(runId: string) {
    return readTimeline(this.db, runId);
  }

  async attempts(runId: string) {
    const { rows } = await this.db.pool.query(
      `select id, step_id, attempt, direction, status, not_before, claimed_by, captured, captured_at, outcome
       from step_attempts where run_id = $1 order by id`,
      [runId],
    );
    return rows as Array<{
      id: number;
      step_id: string;
      attempt: number;
      direction: string;
      status: string;
      not_before: Date;
      claimed_by: string | null;
      captured: unknown;
      captured_at: Date | null;
      outcome: Record<string, unknown> | null;
    }>;
  }
}

/** Polls `probe` every 10 ms until it returns something truthy; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A promise with its resolve function, for handlers that wait on the test. */
export function gate<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}
