import type { Logger } from 'pino';
import type { StepHandler } from '../adapters/types.ts';
import type { Clock } from '../clock.ts';
import type { Effect } from '../engine/types.ts';
import { noFailpoints, type Failpoints } from '../failpoints.ts';
import type { LoadedPlan } from '../plan/load.ts';
import type { StepSpec } from '../plan/schema.ts';
import type { Database } from '../store/db.ts';
import type { Waker } from '../store/wake.ts';

// What the use cases in this folder need, handed in once by the composition root. Each use case is
// a function of these deps and its input: the Slack listeners, the scheduler, the sandbox and the
// tests call the same functions.

/** Who belongs to which user group (Slack's usergroups in production), to decide who may approve. */
export interface Directory {
  /** The groups among `candidates` that `user` belongs to. */
  groupsOf(user: string, candidates: readonly string[]): Promise<string[]>;
}

export interface RunsDeps {
  db: Database;
  clock: Clock;
  waker: Waker;
  log: Logger;
  plans: () => readonly LoadedPlan[];
  /** The environment a plan's `${VAR}`s are read from. */
  planEnv: Readonly<Record<string, string | undefined>>;
  /** FERRY_CHANNEL: where runs post when their plan names no channel. */
  defaultChannel: string | undefined;
  directory: Directory;
  /** Stops this process's attempt of a step at once (the run was aborted or rolled back). */
  cancel?: (runId: string, stepId: string) => void;
  /** The adapters, for dry runs: what each step would change, read from the live systems. */
  handlerFor?: (spec: StepSpec) => StepHandler;
  /** How long one step's dry-run read may take before its plan-only title is shown instead. */
  describeTimeoutMs?: number;
  failpoints?: Failpoints;
}

/**
 * After a decision committed: stop what it cancelled in this process, then wake the executors and
 * publishers of every replica. `what` names the decision for failpoints (`start`, `approve`, …).
 */
export async function afterDecision(
  deps: RunsDeps,
  runId: string,
  effects: readonly Effect[],
  what: string,
): Promise<void> {
  (deps.failpoints ?? noFailpoints).hit('decision.after', what);
  for (const effect of effects) if (effect.type === 'cancel') deps.cancel?.(runId, effect.stepId);
  await deps.waker.announce(deps.db, 'work', 'publish');
}
