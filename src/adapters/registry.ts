import { StepError } from '../errors.ts';
import type { StepSpec } from '../plan/schema.ts';
import { checkHandler } from './checks.ts';
import { envDiffHandler } from './env-diff.ts';
import { herokuFormationHandler, herokuMaintenanceHandler } from './heroku.ts';
import { httpToggleHandler } from './http-toggle.ts';
import { redisToggleHandler } from './redis-toggle.ts';
import { sidekiqCronHandler } from './sidekiq-cron.ts';
import { sidekiqDrainHandler, sidekiqPauseHandler } from './sidekiq.ts';
import type { AdapterEnv, StepHandler } from './types.ts';
import { watchHandler } from './watch.ts';

/**
 * The handler for each (kind, provider) pair. A new provider (a Cloudflare DNS, say) is its schema in
 * the kind's provider union in `plan/schema.ts`, its module in this folder, and its case below.
 */
export function createRegistry(env: AdapterEnv): (spec: StepSpec) => StepHandler {
  const cache = new Map<string, StepHandler>();
  const once = (key: string, make: () => unknown): StepHandler => {
    let handler = cache.get(key);
    if (!handler) {
      handler = make() as StepHandler;
      cache.set(key, handler);
    }
    return handler;
  };
  return (spec) => {
    switch (spec.kind) {
      case 'maintenance':
      case 'flag':
        switch (spec.provider.type) {
          case 'http':
            return once('toggle:http', () => httpToggleHandler(env));
          case 'redis':
            return once('toggle:redis', () => redisToggleHandler(env));
          case 'heroku':
            return once('toggle:heroku', () => herokuMaintenanceHandler(env));
        }
        break;
      case 'crons':
        switch (spec.provider.type) {
          case 'sidekiq-cron':
            return once('crons:sidekiq-cron', () => sidekiqCronHandler(env));
          case 'heroku-formation':
            return once('formation', () => herokuFormationHandler(env));
          case 'kubernetes':
            return once('crons:kubernetes', () =>
              loadedOnFirstUse(async () => (await import('./kubernetes.ts')).kubernetesCronHandler(env)),
            );
        }
        break;
      case 'jobs':
        return spec.provider.type === 'sidekiq'
          ? once('jobs:sidekiq', () => sidekiqPauseHandler(env))
          : once('formation', () => herokuFormationHandler(env));
      case 'dns':
        switch (spec.provider.type) {
          case 'route53':
            return once('dns:route53', () =>
              loadedOnFirstUse(async () => (await import('./route53.ts')).route53DnsHandler(env)),
            );
        }
        break;
      case 'drain':
        return once('drain', () => sidekiqDrainHandler(env));
      case 'check':
        return once('check', () => checkHandler(env));
      case 'manual':
        return manualHandler;
      case 'env-diff':
        return once('env-diff', () => envDiffHandler(env));
      case 'watch':
        return once('watch', () => watchHandler(env));
    }
    throw new StepError(`Ferry has no adapter for ${spec.kind} steps with this provider yet.`, {
      retryable: false,
    });
  };
}

/**
 * A handler whose module is imported the first time a step needs it. The Kubernetes client and the
 * AWS SDK weigh tens of megabytes and most of a start's CPU; a Ferry whose plans use neither never
 * loads them. Both handlers undo what they do.
 */
function loadedOnFirstUse(load: () => Promise<StepHandler>): StepHandler {
  let loaded: Promise<StepHandler> | undefined;
  const handler = () => (loaded ??= load());
  return {
    describe: async (step, ctx) => (await handler()).describe(step, ctx),
    blocker: async (step, ctx) => (await (await handler()).blocker?.(step, ctx)) ?? null,
    capture: async (step, ctx) => (await handler()).capture(step, ctx),
    run: async (step, captured, ctx) => (await handler()).run(step, captured, ctx),
    undo: async (step, captured, ctx) => {
      const real = await handler();
      if (!real.undo)
        throw new StepError(`Ferry cannot undo ${step.kind} steps of this provider.`, { retryable: false });
      return real.undo(step, captured, ctx);
    },
  };
}

/** Manual steps wait for a person in the engine; the executor never runs them. */
const manualHandler: StepHandler = {
  describe: (spec) => Promise.resolve(spec.kind === 'manual' ? `a person: ${spec.instructions}` : ''),
  capture: () => Promise.resolve(null),
  run: () => Promise.resolve({ summary: 'done' }),
};
