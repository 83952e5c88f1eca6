import { FerryError } from '../errors.ts';
import type { LoadedPlan } from '../plan/load.ts';
import { findEnvironment } from '../plan/lookup.ts';
import type { Plan, PlanEnvironment } from '../plan/schema.ts';
import type { RunsDeps } from './deps.ts';

/** The plan and environment a command names, or a specific error saying what exists instead. */
export function environmentOf(
  deps: Pick<RunsDeps, 'plans'>,
  service: string,
  environment: string,
): { loaded: LoadedPlan; plan: Plan; env: PlanEnvironment } {
  const plans = deps.plans();
  const found = findEnvironment(plans, service, environment);
  if ('error' in found) throw new FerryError('plan_not_found', found.error);
  const loaded = plans.find((p) => p.plan === found.plan)!;
  return { loaded, plan: found.plan, env: found.environment };
}

/** The channel a run of this service posts to: the plan's, else FERRY_CHANNEL, else where it was typed. */
export function channelFor(
  deps: Pick<RunsDeps, 'plans' | 'defaultChannel'>,
  service: string,
  environment: string,
  typedIn: string,
): string {
  const { plan, env } = environmentOf(deps, service, environment);
  return env.channel ?? plan.channel ?? deps.defaultChannel ?? typedIn;
}
