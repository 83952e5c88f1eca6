// Backoff for transient failures of external calls (throttling, timeouts, connection resets), shared by
// adapters. The adapter decides what is transient (`isRetryable`); this module only decides when to try
// again. Permanent errors and aborts are never retried.
//
//   const records = await withRetry(() => client.send(cmd, { abortSignal }), {
//     attempts: 5, baseMs: 500, maxMs: 8_000, signal: ctx.signal,
//     isRetryable: (e) => e instanceof Error && e.name === 'Throttling',
//     onRetry: ({ attempt, delayMs, error }) => ctx.log.warn({ attempt, delayMs, err: error }, 'retrying'),
//   });
import { sleep as abortableSleep } from '../abortable.ts';

export interface RetryInfo {
  /** The attempt that just failed, 1-based. */
  attempt: number;
  /** How long withRetry waits before the next attempt. */
  delayMs: number;
  error: unknown;
}

export interface RetryOptions {
  /** Total tries including the first; 1 means no retry. */
  attempts: number;
  /** Delay cap before the first retry; doubles after each retry ("exponential backoff"). */
  baseMs: number;
  /** Upper bound of any single delay. */
  maxMs: number;
  /** Stops waiting and retrying; withRetry then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** True for errors worth another try. Called with whatever `fn` threw. */
  isRetryable: (error: unknown) => boolean;
  /** Called before each wait, e.g. to log or report progress. A rejection here aborts the retry loop. */
  onRetry?: (info: RetryInfo) => void | Promise<void>;
  /** [0, 1) source for the jitter; injectable so tests can pin delays. Default Math.random. */
  random?: () => number;
  /** Default: a timer that rejects when `signal` aborts. */
  sleep?: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
}

/**
 * Delay before retry number `retry` (1-based): "equal jitter" over an exponential cap, i.e. uniformly in
 * [cap/2, cap) with cap = min(maxMs, baseMs * 2^(retry-1)). Half the cap is kept so a retry never comes
 * back at once (which makes Route 53's PriorRequestNotComplete and rate limits worse); the random half
 * spreads out several clients that failed together.
 */
export function backoffDelay(
  retry: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const cap = Math.min(maxMs, baseMs * 2 ** Math.max(0, retry - 1));
  return Math.round(cap / 2 + random() * (cap / 2));
}

/**
 * Runs `fn` until it resolves, it throws an error `isRetryable` rejects, `attempts` run out (the last
 * error is rethrown as it was), or `signal` aborts (rejects with `signal.reason`). `fn` receives the
 * attempt number, 1-based.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const { attempts, baseMs, maxMs, signal } = options;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? abortableSleep;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (attempt >= attempts || !options.isRetryable(error)) throw error;
      const delayMs = backoffDelay(attempt, baseMs, maxMs, random);
      await options.onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, signal);
    }
  }
}
