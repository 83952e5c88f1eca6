// The plan module's public face: the schema and its types, the loader, lookups and `${NAME}` handling.
export * from './schema.ts';
export { formatPath, formatProblem, loadPlanFile, loadPlans, parsePlan } from './load.ts';
export type { LoadedPlan, LoadResult, PlanProblem } from './load.ts';
export { findEnvironment } from './lookup.ts';
export type { FoundEnvironment } from './lookup.ts';
export { closestMatch } from './suggest.ts';
export {
  checkEnvironmentVars,
  findMalformedVarRefs,
  findVarRefs,
  missingVars,
  resolveVars,
  unsetVariables,
} from './vars.ts';
export type { Env } from './vars.ts';
