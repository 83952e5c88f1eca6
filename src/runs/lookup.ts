import { FerryError } from '../errors.ts';
import type { LoadedPlan } from '../plan/load.ts';
import { findEnvironment } from '../plan/lookup.ts';
import {
  findRuns,
  readRun,
  readTimeline,
  type RunRecord,
  type RunSummary,
  type TimelineEvent,
} from '../store/runs.ts';
import type { RunsDeps } from './deps.ts';

// Which run a command means. A run id names one; left out, the channel's only active run is meant.

/**
 * The run `ref` names, or, when it is left out, the channel's only active run (with `latest`, its
 * latest run when none is active). Several active runs are ambiguous: the person names one.
 */
export async function resolveRunId(
  deps: Pick<RunsDeps, 'db'>,
  channel: string,
  ref: string | undefined,
  opts: { latest?: boolean } = {},
): Promise<string> {
  if (ref) return ref;
  const active = await findRuns(deps.db, { channel, active: true, limit: 10 });
  // An ad hoc toggle waiting beside the migration does not make "the run" ambiguous.
  const runbooks = active.filter((r) => r.purpose === 'runbook');
  const candidates = active.length > 1 && runbooks.length === 1 ? runbooks : active;
  if (candidates.length === 0 && opts.latest) {
    // `status` and `report` with nothing active: the channel's latest run.
    const [latest] = await findRuns(deps.db, { channel, limit: 1 });
    if (latest) return latest.id;
  }
  if (candidates.length === 0) {
    throw new FerryError(
      'run_not_found',
      'There is no active run in this channel: name one, e.g. `r12` (`/migrate list` shows them).',
    );
  }
  if (candidates.length > 1) {
    throw new FerryError(
      'run_ambiguous',
      `This channel has ${candidates.length} active runs (${candidates.map((c) => `${c.id} ${c.service} ${c.environment}`).join(', ')}): name one.`,
    );
  }
  return candidates[0]!.id;
}

export type { RunRecord, RunSummary };

/** Runs, active first, then newest first. */
export function listRuns(
  deps: Pick<RunsDeps, 'db'>,
  filter: { channel?: string; active?: boolean; limit?: number } = {},
): Promise<RunSummary[]> {
  return findRuns(deps.db, filter);
}

/** The whole run, to show it, with its timeline; a specific error when there is none. */
export async function showRun(
  deps: Pick<RunsDeps, 'db'>,
  runId: string,
): Promise<RunRecord & { timeline: TimelineEvent[] }> {
  const record = await readRun(deps.db, runId);
  if (!record)
    throw new FerryError('run_not_found', `There is no run ${runId}. \`/migrate list\` shows the runs.`);
  return { ...record, timeline: await readTimeline(deps.db, runId) };
}

/** The plan of a service, for `/migrate plan <service>` without an environment: its environments. */
export function planOf(deps: Pick<RunsDeps, 'plans'>, service: string): LoadedPlan {
  const plans = deps.plans();
  const loaded = plans.find((p) => p.plan.service === service);
  if (loaded) return loaded;
  // The lookup that says which services exist, and which one a typo probably meant.
  const found = findEnvironment(plans, service, '');
  throw new FerryError(
    'plan_not_found',
    'error' in found ? found.error : `There is no plan for "${service}".`,
  );
}
