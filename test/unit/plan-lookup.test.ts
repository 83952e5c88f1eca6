import { describe, expect, it } from 'vitest';
import { fourEyes } from '../../src/engine/policy.ts';
import { closestMatch, findEnvironment, parsePlan } from '../../src/plan/index.ts';
import type { LoadedPlan } from '../../src/plan/index.ts';

function plan(service: string, envs: string[]): LoadedPlan {
  const body = envs
    .map((env) => `  ${env}:\n    steps: [ { id: w, kind: manual, instructions: x } ]\n`)
    .join('');
  const result = parsePlan(`service: ${service}\nenvironments:\n${body}`, `plans/${service}.yml`);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return { file: result.file, plan: result.plan };
}

const plans = [plan('billing', ['staging', 'production']), plan('search', ['staging'])];

describe('findEnvironment', () => {
  it('finds the plan and environment a command names', () => {
    const found = findEnvironment(plans, 'billing', 'production');
    if ('error' in found) throw new Error(found.error);
    expect(found.plan.service).toBe('billing');
    expect(found.file).toBe('plans/billing.yml');
    expect(found.environment.steps[0]?.id).toBe('w');
  });

  it('lists the known services for an unknown one, with a guess', () => {
    expect(findEnvironment(plans, 'biling', 'production')).toEqual({
      error:
        'There is no plan for service "biling". Did you mean "billing"? Known services: billing, search.',
    });
  });

  it("lists the service's environments for an unknown one", () => {
    expect(findEnvironment(plans, 'search', 'production')).toEqual({
      error: 'The search plan has no environment "production". Its environments: staging (plans/search.yml).',
    });
    expect(findEnvironment(plans, 'billing', 'prodution')).toEqual({
      error:
        'The billing plan has no environment "prodution". Did you mean "production"? ' +
        'Its environments: staging, production (plans/billing.yml).',
    });
  });

  it('says so when no plan is loaded at all', () => {
    expect(findEnvironment([], 'billing', 'staging')).toEqual({
      error: 'No plans are loaded, so there is no plan for "billing".',
    });
  });
});

describe('fourEyes', () => {
  it('defaults to true for production only, and an explicit setting wins', () => {
    expect(fourEyes('production', {})).toBe(true);
    expect(fourEyes('staging', {})).toBe(false);
    expect(fourEyes('production', { four_eyes: false })).toBe(false);
    expect(fourEyes('staging', { four_eyes: true })).toBe(true);
  });
});

describe('closestMatch', () => {
  it('guesses only when one candidate is clearly closest', () => {
    expect(closestMatch('provder', ['provider', 'process_types'])).toBe('provider');
    expect(closestMatch('of', ['on', 'off'])).toBeUndefined();
    expect(closestMatch('groups', ['users', 'usergroups'])).toBeUndefined();
    expect(closestMatch('dsn', ['dns', 'drain'])).toBe('dns');
  });
});
