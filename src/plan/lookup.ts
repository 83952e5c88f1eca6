import type { LoadedPlan } from './load.ts';
import type { Plan, PlanEnvironment } from './schema.ts';
import { closestMatch } from './suggest.ts';

export type FoundEnvironment = { plan: Plan; file: string; environment: PlanEnvironment };

function guess(word: string, candidates: readonly string[]): string {
  const match = closestMatch(word, candidates);
  return match === undefined ? '' : ` Did you mean "${match}"?`;
}

/**
 * The plan and environment `/migrate start <service> <env>` names, or a message saying what
 * exists instead.
 */
export function findEnvironment(
  plans: readonly LoadedPlan[],
  service: string,
  envName: string,
): FoundEnvironment | { error: string } {
  const loaded = plans.find((candidate) => candidate.plan.service === service);
  if (!loaded) {
    if (plans.length === 0) return { error: `No plans are loaded, so there is no plan for "${service}".` };
    const services = plans.map((candidate) => candidate.plan.service).sort();
    return {
      error: `There is no plan for service "${service}".${guess(service, services)} Known services: ${services.join(', ')}.`,
    };
  }
  const environment = loaded.plan.environments[envName];
  if (!environment) {
    const names = Object.keys(loaded.plan.environments);
    return {
      error:
        `The ${service} plan has no environment "${envName}".${guess(envName, names)} ` +
        `Its environments: ${names.join(', ')} (${loaded.file}).`,
    };
  }
  return { plan: loaded.plan, file: loaded.file, environment };
}
