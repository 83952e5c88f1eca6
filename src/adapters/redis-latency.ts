import { performance } from 'node:perf_hooks';
import { percentile } from './latency-stats.ts';
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

export interface RedisLatencyResult {
  ok: boolean;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  samples: number;
  message: string;
}

const round = (ms: number): number => Math.round(ms * 100) / 100;

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
  const p50Ms = round(percentile(durations, 50));
  const p95Ms = round(percentile(durations, 95));
  const maxMs = round(Math.max(...durations));
  const where = describeRedisUrl(url);
  const figures = `p50 ${p50Ms} ms, p95 ${p95Ms} ms, max ${maxMs} ms over ${count} PING${count === 1 ? '' : 's'}`;
  if (opts.maxP95Ms === undefined) {
    return {
      ok: true,
      p50Ms,
      p95Ms,
      maxMs,
      samples: count,
      message: `Redis ${where}: ${figures} (no bound set)`,
    };
  }
  const ok = p95Ms <= opts.maxP95Ms;
  const message = ok
    ? `Redis ${where}: ${figures}, within the p95 bound of ${opts.maxP95Ms} ms`
    : `Redis ${where}: p95 ${p95Ms} ms is above the bound of ${opts.maxP95Ms} ms (${figures})`;
  return { ok, p50Ms, p95Ms, maxMs, samples: count, message };
}
