import { performance } from 'node:perf_hooks';
import { summariseLatency, type LatencyResult } from './latency-stats.ts';
import { withRedis } from './redis-client.ts';
import { describeRedisUrl } from './redis-url.ts';

// The `redis` latency check: N PING round trips on one connection, measured after connecting so the
// TCP and TLS handshakes do not count, summarised as nearest-rank p50/p95.

export interface RedisLatencyOptions {
  samples: number;
  /** The check fails when p95 is above this. Without it the check reports figures and passes. */
  maxP95Ms?: number;
  tlsInsecure?: boolean;
  /** Connect timeout and per-PING timeout. */
  timeoutMs: number;
}

export type RedisLatencyResult = LatencyResult;

/**
 * Measures PING round trips. Throws a `StepError` (retryable for connection problems) when Redis
 * cannot be reached or a PING times out: a check that could not measure has no figures to judge.
 */
export async function redisLatencyCheck(url: string, opts: RedisLatencyOptions): Promise<RedisLatencyResult> {
  const count = Math.max(1, Math.floor(opts.samples));
  const durations = await withRedis(
    url,
    {
      timeoutMs: opts.timeoutMs,
      ...(opts.tlsInsecure !== undefined ? { tlsInsecure: opts.tlsInsecure } : {}),
    },
    async (redis) => {
      const out: number[] = [];
      for (let i = 0; i < count; i++) {
        const started = performance.now();
        await redis.ping();
        out.push(performance.now() - started);
      }
      return out;
    },
  );
  return summariseLatency(durations, {
    system: 'Redis',
    where: describeRedisUrl(url),
    unit: 'PING',
    maxP95Ms: opts.maxP95Ms,
  });
}
