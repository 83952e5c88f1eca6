import {
  approvalsNeeded,
  decide,
  incidentStartRefusal,
  lockedRefusal,
  policyFor,
  soakRefusal,
  startRefusal,
} from '../engine/index.ts';
import { stepContent } from '../plan/content.ts';
import type { RunState } from '../engine/types.ts';
import { FerryError } from '../errors.ts';
import type { LoadedPlan } from '../plan/load.ts';
import { stepTitle } from '../plan/describe.ts';
import type { Plan, StepSpec } from '../plan/schema.ts';
import { missingVars, unsetVariables } from '../plan/vars.ts';
import { findLock, openIncidentsOfService } from '../store/locks-and-incidents.ts';
import { createRun, latestRunbookRun } from '../store/runs.ts';
import { words } from '../words.ts';
import type { Forecast } from '../report/forecast.ts';
import { afterDecision, type RunsDeps } from './deps.ts';
import { forecastFor, windowGate, type WindowOverride } from './forecasts.ts';
import { channelFor, environmentOf } from './plans.ts';
import { preview } from './preview.ts';

// Starting runs: `/migrate start` (and a scheduled start when it comes due), and the ad hoc toggles
// `/migrate maintenance|crons`, which are one-step runs of their own.

export interface StartInput {
  service: string;
  environment: string;
  user: string;
  /** Where the command was typed: the run posts there when neither plan nor FERRY_CHANNEL names a channel. */
  channel: string;
  /** Set when a scheduled start (`--at`) comes due: it turns 'started' with the run, once. */
  scheduledStartId?: string;
  /** A scheduled start's time: the change windows judge it rather than the moment it came due. */
  at?: number;
  /** `--override <reason>`: an approver starts it outside its change windows. */
  override?: string;
}

export async function startRun(deps: RunsDeps, input: StartInput): Promise<RunState> {
  const { loaded, plan, env } = environmentOf(deps, input.service, input.environment);
  const forecast = await forecastFor(deps, plan, input.environment);
  // The lock is checked again inside the transaction that creates the run; this spares the live reads.
  const windowOverride = await assertMayStart(deps, plan, input.environment, input.user, {
    ...(input.at !== undefined ? { at: input.at } : {}),
    ...(input.override !== undefined ? { override: input.override } : {}),
    forecast,
  });
  const state = await launch(deps, loaded, input, env.steps, {
    ...(input.scheduledStartId ? { scheduledStartId: input.scheduledStartId } : {}),
    forecast,
    ...(windowOverride ? { windowOverride } : {}),
  });
  deps.log.info(
    { run: state.id, service: plan.service, environment: input.environment, by: input.user },
    'run started',
  );
  return state;
}

/**
 * What a start needs, checked when it is asked for (and again when a scheduled one is due). Returns
 * the change-window override to record, when an approver started it outside its windows.
 */
export async function assertMayStart(
  deps: RunsDeps,
  plan: Plan,
  environment: string,
  user: string,
  when: { at?: number; override?: string; forecast?: Forecast | null } = {},
): Promise<WindowOverride | null> {
  const refusal = startRefusal(policyFor(plan, environment), plan.service, user);
  if (refusal) throw new FerryError('not_authorized', refusal);
  const missing = missingVars(plan.environments[environment]?.steps ?? [], deps.planEnv);
  if (missing.length > 0) {
    throw new FerryError(
      'env_missing',
      words`${plan.service} ${environment} needs ${unsetVariables(missing)} before a run can start.`,
    );
  }
  const lock = await findLock(deps.db.pool, plan.service, environment);
  if (lock) throw new FerryError('run_locked', lockedRefusal(lock));
  const held = incidentStartRefusal(
    plan.service,
    (await openIncidentsOfService(deps.db.pool, plan.service)).map((i) => ({
      ...i,
      overridden: i.overriddenBy ? { by: i.overriddenBy, at: i.overriddenAt!.getTime() } : null,
    })),
  );
  if (held) throw new FerryError('run_held', held);
  await assertSoaked(deps, plan, environment);
  return windowGate(deps, plan, environment, {
    user,
    at: when.at ?? deps.clock.now(),
    scheduled: when.at !== undefined,
    override: when.override,
    forecast: when.forecast,
  });
}

/**
 * `requires: { environment, soak }`: the environment it requires has a latest run that succeeded at
 * least `soak` ago and has no open incident. Checked when a scheduled start comes due as well.
 */
async function assertSoaked(deps: RunsDeps, plan: Plan, environment: string): Promise<void> {
  const requires = plan.environments[environment]?.requires;
  if (!requires) return;
  const latest = await latestRunbookRun(deps.db, plan.service, requires.environment);
  const refusal = soakRefusal(
    plan.service,
    environment,
    requires,
    latest && { ...latest.state, incidents: latest.incidents },
    deps.clock.now(),
  );
  if (refusal) throw new FerryError('run_not_soaked', refusal);
}

export interface AdhocInput {
  service: string;
  environment: string;
  kind: 'maintenance' | 'crons';
  action: 'on' | 'off' | 'disable' | 'enable';
  user: string;
  channel: string;
}

/**
 * `/migrate maintenance|crons`: an ad hoc toggle, run as a one-step run beside the runbook's own,
 * using the provider of the plan's first step of that kind. It needs approval like a gated step
 * (four eyes where the environment has them), is recorded in its own timeline, and rolls back.
 * A lock does not hold it back: toggles are how an incident gets handled.
 */
export async function startAdhoc(deps: RunsDeps, input: AdhocInput): Promise<RunState> {
  const { loaded, plan, env } = environmentOf(deps, input.service, input.environment);
  const template = env.steps.find((s) => s.kind === input.kind);
  if (!template || template.kind !== input.kind) {
    throw new FerryError(
      'plan_not_found',
      `${plan.service} ${input.environment} has no ${input.kind} step to take the provider from: add one to ${loaded.file}.`,
    );
  }
  const refusal = startRefusal(policyFor(plan, input.environment), plan.service, input.user);
  if (refusal) throw new FerryError('not_authorized', refusal);
  // A toggle is undone by its opposite toggle: the runbook step's point of no return is not its own.
  const { irreversible: _irreversible, forward_fix: _forwardFix, ...provider } = template;
  const spec = {
    ...provider,
    id: `${input.kind}-${input.action}`,
    action: input.action,
    approval: 'required',
  } as StepSpec;
  const missing = missingVars(spec, deps.planEnv);
  if (missing.length > 0) {
    throw new FerryError('env_missing', words`This toggle needs ${unsetVariables(missing)}.`);
  }
  const state = await launch(deps, loaded, input, [spec], { purpose: 'adhoc' });
  deps.log.info(
    { run: state.id, service: plan.service, environment: input.environment, toggle: spec.id },
    'ad hoc toggle started',
  );
  return state;
}

/**
 * Creates a run of `steps`, titled by a dry run, and lets the engine take its first decision, in
 * one transaction; then wakes the executor and the publisher.
 */
async function launch(
  deps: RunsDeps,
  loaded: LoadedPlan,
  who: { environment: string; user: string; channel: string },
  steps: readonly StepSpec[],
  extra: {
    purpose?: RunState['purpose'];
    scheduledStartId?: string;
    forecast?: Forecast | null;
    windowOverride?: WindowOverride;
  },
): Promise<RunState> {
  const { plan } = loaded;
  const { windowOverride, ...recorded } = extra;
  const previews = await preview(deps, steps);
  const now = deps.clock.now();
  const { state, effects } = await createRun(
    deps.db,
    {
      service: plan.service,
      environment: who.environment,
      startedBy: who.user,
      channel: channelFor(deps, plan.service, who.environment, who.channel),
      planFile: loaded.file,
      policy: policyFor(plan, who.environment),
      steps: steps.map((spec, i) => ({
        spec,
        title: previews[i]?.text ?? stepTitle(spec),
        approvalsNeeded: approvalsNeeded(spec, plan.environments[who.environment]),
        content: stepContent(spec, deps.planEnv),
      })),
      now,
      ...recorded,
    },
    (initial) => decide(initial, { type: 'start', ...(windowOverride ? { windowOverride } : {}) }, now),
  );
  await afterDecision(deps, state.id, effects, 'start');
  return state;
}
