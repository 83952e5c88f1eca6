import { untilAborted } from '../abortable.ts';
import { rememberer, type StepContext } from '../adapters/types.ts';
import { openingStep, stepTitle } from '../plan/describe.ts';
import type { Plan, StepSpec } from '../plan/schema.ts';
import { findVarRefs, missingVars, resolveVars, unsetVariables } from '../plan/vars.ts';
import { redactText, secretValues } from '../redact.ts';
import type { RunsDeps } from './deps.ts';
import { environmentOf } from './plans.ts';

// Dry runs: what each step would change, read from the live systems through the adapters'
// `describe` and `blocker`, outside any transaction. `/migrate plan` shows them; a start stores them
// as the steps' titles.

/** One step of a dry run. */
export interface StepPreview {
  id: string;
  kind: StepSpec['kind'];
  needsApproval: boolean;
  /** The plan marks it `irreversible`: once it went through, the run cannot be rolled back. */
  irreversible: boolean;
  /** What to do instead of rolling back once it went through (`forward_fix`). */
  forwardFix: string | null;
  /** What the step would change, e.g. "api.example.com CNAME old -> new (TTL 60)". */
  text: string;
  /** Why the step would not run now (a TTL above max_ttl, a variable unset). */
  blocker: string | null;
  /** Set when the live state could not be read; `text` is then the plan's own description. */
  readError: string | null;
}

/** `/migrate plan`: what each step would change, read from the live systems; nothing is changed. */
export async function dryRun(
  deps: RunsDeps,
  service: string,
  environment: string,
): Promise<{ plan: Plan; steps: StepPreview[] }> {
  const { plan, env } = environmentOf(deps, service, environment);
  return { plan, steps: await preview(deps, env.steps) };
}

export function preview(deps: RunsDeps, specs: readonly StepSpec[]): Promise<StepPreview[]> {
  return Promise.all(
    specs.map((spec, i) => {
      const opener = openingStep(specs, i);
      if (!opener || missingVars(spec, deps.planEnv).length > 0) return previewStep(deps, spec);
      // What it will find depends on the opening step, which has not run yet.
      return Promise.resolve({
        ...previewBase(spec),
        text: `${plainTitle(deps, spec)} (undoes what \`${opener.id}\` changed)`,
        blocker: null,
        readError: null,
      });
    }),
  );
}

function previewBase(
  spec: StepSpec,
): Pick<StepPreview, 'id' | 'kind' | 'needsApproval' | 'irreversible' | 'forwardFix'> {
  return {
    id: spec.id,
    kind: spec.kind,
    needsApproval: spec.approval === 'required',
    irreversible: spec.irreversible === true,
    forwardFix: spec.forward_fix ?? null,
  };
}

/** The plan's own words for a step, with its variables filled in and secrets masked. */
function plainTitle(deps: RunsDeps, spec: StepSpec): string {
  if (missingVars(spec, deps.planEnv).length > 0) return stepTitle(spec);
  const secrets = secretValues(findVarRefs(spec), deps.planEnv);
  return redactText(stepTitle(resolveVars(spec, deps.planEnv)), secrets);
}

async function previewStep(deps: RunsDeps, spec: StepSpec): Promise<StepPreview> {
  const base = previewBase(spec);
  const missing = missingVars(spec, deps.planEnv);
  if (missing.length > 0 || !deps.handlerFor) {
    return {
      ...base,
      text: plainTitle(deps, spec),
      blocker: missing.length ? `needs ${unsetVariables(missing)}` : null,
      readError: null,
    };
  }
  const secrets = secretValues(findVarRefs(spec), deps.planEnv);
  const signal = AbortSignal.timeout(deps.describeTimeoutMs ?? 8_000);
  const ctx: StepContext = {
    runId: 'dry-run',
    stepId: spec.id,
    attempt: 0,
    signal,
    now: () => deps.clock.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    progress: () => Promise.resolve(),
    log: deps.log.child({ dryRun: spec.id }),
    earlier: [],
    remember: rememberer(),
  };
  try {
    const handler = deps.handlerFor(spec);
    const resolved = resolveVars(spec, deps.planEnv);
    // Bounded even for an adapter that ignores its signal: a start and the scheduler wait on this.
    const [text, blocker] = await untilAborted(
      Promise.all([handler.describe(resolved, ctx), handler.blocker?.(resolved, ctx) ?? null]),
      signal,
    );
    return {
      ...base,
      text: redactText(text, secrets),
      blocker: blocker ? redactText(blocker, secrets) : null,
      readError: null,
    };
  } catch (error) {
    const reason = signal.aborted ? 'timed out reading the current state' : (error as Error).message;
    return { ...base, text: plainTitle(deps, spec), blocker: null, readError: redactText(reason, secrets) };
  }
}
