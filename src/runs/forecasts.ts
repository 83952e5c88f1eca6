import { policyFor, windowOverrideRefusal, windowRefusal } from '../engine/index.ts';
import { FerryError } from '../errors.ts';
import type { Plan } from '../plan/schema.ts';
import {
  buildForecast,
  describeForecast,
  FORECAST_RUNS,
  stepShape,
  type Forecast,
} from '../report/forecast.ts';
import { pastRunTimings } from '../store/forecasts.ts';
import type { RunsDeps } from './deps.ts';

// How long a run of an environment will take, from the earlier runs of the same steps, and whether
// it may start when asked: its change windows, and the forecast's end within them.

/** The forecast for a run of `environment` now, or null when no earlier run has the same steps. */
export async function forecastFor(
  deps: Pick<RunsDeps, 'db'>,
  plan: Plan,
  environment: string,
): Promise<Forecast | null> {
  const steps = plan.environments[environment]?.steps ?? [];
  const past = await pastRunTimings(deps.db, {
    service: plan.service,
    environment,
    shape: stepShape(steps),
    limit: FORECAST_RUNS,
  });
  return buildForecast(
    {
      service: plan.service,
      environment,
      steps: steps.map((s) => ({ id: s.id, kind: s.kind, ...('action' in s ? { action: s.action } : {}) })),
    },
    past,
  );
}

/** An approver's decision to start outside the change windows, for the run's timeline. */
export interface WindowOverride {
  by: string;
  reason: string;
  breach: string;
}

/**
 * The change windows' say on a start at `at` (now, or the time `--at` asked for): null when it fits;
 * the override to record when it does not and an approver gave a reason; else it throws the refusal,
 * with the next start that fits.
 */
export async function windowGate(
  deps: Pick<RunsDeps, 'db' | 'directory'>,
  plan: Plan,
  environment: string,
  input: {
    user: string;
    at: number;
    scheduled: boolean;
    override?: string | undefined;
    forecast?: Forecast | null | undefined;
  },
): Promise<WindowOverride | null> {
  const windows = plan.environments[environment]?.windows;
  if (!windows) return null;
  const forecast = input.forecast === undefined ? await forecastFor(deps, plan, environment) : input.forecast;
  const policy = policyFor(plan, environment);
  const refused = windowRefusal({
    service: plan.service,
    environment,
    windows,
    at: input.at,
    scheduled: input.scheduled,
    forecast: forecast ? { ms: forecast.total.p50Ms, basis: describeForecast(forecast) } : null,
    policy,
  });
  if (!refused) return null;
  if (input.override === undefined) throw new FerryError('outside_window', refused.refusal);
  const groups = await deps.directory.groupsOf(input.user, policy.approverGroups);
  const notAllowed = windowOverrideRefusal(policy, plan.service, environment, { user: input.user, groups });
  if (notAllowed) throw new FerryError('not_authorized', notAllowed);
  return { by: input.user, reason: input.override, breach: refused.breach };
}
