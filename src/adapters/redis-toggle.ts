import { formatDuration } from '../duration.ts';
import type { Redis } from 'ioredis';
import { StepError } from '../errors.ts';
import type { RedisToggleProvider, StepSpec } from '../plan/schema.ts';
import { connectOptions, withRedis } from './redis-client.ts';
import type { AdapterEnv, StepContext, StepHandler, StepResult } from './types.ts';

// Maintenance mode and feature flags kept as a plain Redis string key, e.g.
// `billing:webhooks:paused = 1` that the app checks before doing work. `on` sets the key, `off`
// deletes it (absent means off); undo puts back exactly what was there, TTL included.

type ToggleStep = Extract<StepSpec, { kind: 'maintenance' } | { kind: 'flag' }>;
export type MaintenanceOrFlagStepWithRedisProvider = ToggleStep & { provider: RedisToggleProvider };

export interface RedisToggleCapture {
  existed: boolean;
  value?: string;
  /** Remaining time to live when captured; absent when the key had none. */
  ttlMs?: number;
  /** ctx.now() at capture, so undo restores the key's original expiry instant, not a fresh TTL. */
  capturedAt?: number;
}

const shown = (value: string): string => (value.length > 40 ? `${value.slice(0, 37)}...` : value);

function describeState(state: RedisToggleCapture): string {
  if (!state.existed || state.value === undefined) return 'unset';
  return state.ttlMs !== undefined
    ? `${shown(state.value)}, expiring in ${formatDuration(state.ttlMs)}`
    : shown(state.value);
}

async function readKey(redis: Redis, key: string, now: number): Promise<RedisToggleCapture> {
  const type = await redis.type(key);
  if (type === 'none') return { existed: false };
  if (type !== 'string') {
    throw new StepError(
      `Redis key ${key} holds a ${type}, not a string flag; Ferry will not overwrite it. ` +
        `Check the key name in the plan.`,
      { retryable: false, reason: 'WRONGTYPE' },
    );
  }
  const [value, pttl] = await Promise.all([redis.get(key), redis.pttl(key)]);
  // Expired or deleted between TYPE and GET.
  if (value === null || pttl === -2) return { existed: false };
  return pttl >= 0 ? { existed: true, value, ttlMs: pttl, capturedAt: now } : { existed: true, value };
}

export function redisToggleHandler(
  env: AdapterEnv,
): StepHandler<MaintenanceOrFlagStepWithRedisProvider, RedisToggleCapture> {
  const connect = (step: MaintenanceOrFlagStepWithRedisProvider) => connectOptions(env, step.provider);

  return {
    async describe(step, ctx) {
      const { key, value } = step.provider;
      const now = await withRedis(step.provider.url, connect(step), (r) => readKey(r, key, ctx.now()));
      const was = describeState(now);
      if (step.action === 'on') {
        return now.existed && now.value === value
          ? `${key} = ${shown(value)} (already ${was})`
          : `${key} = ${shown(value)} (now ${was})`;
      }
      return now.existed ? `${key} unset (now ${was})` : `${key} unset (already unset)`;
    },

    async capture(step, ctx) {
      return withRedis(step.provider.url, connect(step), (r) => readKey(r, step.provider.key, ctx.now()));
    },

    async run(step, captured, _ctx: StepContext): Promise<StepResult> {
      const { key, value } = step.provider;
      const was = describeState(captured);
      if (step.action === 'on') {
        await withRedis(step.provider.url, connect(step), (r) => r.set(key, value));
        const note =
          captured.existed && captured.value === value && captured.ttlMs === undefined ? 'already' : 'was';
        return { summary: `${key} = ${shown(value)} (${note} ${was})`, figures: { key, value } };
      }
      await withRedis(step.provider.url, connect(step), (r) => r.del(key));
      return { summary: `${key} unset (${captured.existed ? 'was' : 'already'} ${was})`, figures: { key } };
    },

    async undo(step, captured, ctx): Promise<StepResult> {
      const { key } = step.provider;
      if (!captured.existed || captured.value === undefined) {
        await withRedis(step.provider.url, connect(step), (r) => r.del(key));
        return { summary: `${key} restored: unset`, figures: { key } };
      }
      const value = captured.value;
      if (captured.ttlMs === undefined) {
        await withRedis(step.provider.url, connect(step), (r) => r.set(key, value));
        return { summary: `${key} restored: ${shown(value)}`, figures: { key, value } };
      }
      const elapsed = captured.capturedAt === undefined ? 0 : Math.max(0, ctx.now() - captured.capturedAt);
      const remaining = captured.ttlMs - elapsed;
      if (remaining <= 0) {
        await withRedis(step.provider.url, connect(step), (r) => r.del(key));
        return {
          summary: `${key} restored: unset (it was ${shown(value)} with a TTL that has run out since)`,
          figures: { key },
        };
      }
      await withRedis(step.provider.url, connect(step), (r) => r.set(key, value, 'PX', remaining));
      return {
        summary: `${key} restored: ${shown(value)}, expiring in ${formatDuration(remaining)} as before`,
        figures: { key, value, ttlMs: remaining },
      };
    },
  };
}
