import { describe, expect, it } from 'vitest';
import { backoffDelay, withRetry, type RetryInfo } from '../../src/adapters/retry.ts';

class Transient extends Error {
  override name = 'Transient';
}
class Permanent extends Error {
  override name = 'Permanent';
}

const isRetryable = (e: unknown) => e instanceof Transient;

/** A recorded sleep that resolves at once, so the test sees the delays without waiting for them. */
function recordingSleep() {
  const delays: number[] = [];
  return {
    delays,
    sleep: (ms: number) => {
      delays.push(ms);
      return Promise.resolve();
    },
  };
}

describe('withRetry', () => {
  it('returns the first success after transient failures, passing the attempt number', async () => {
    const { sleep, delays } = recordingSleep();
    const seen: number[] = [];
    const result = await withRetry(
      (attempt) => {
        seen.push(attempt);
        if (attempt < 3) return Promise.reject(new Transient('busy'));
        return Promise.resolve('ok');
      },
      { attempts: 5, baseMs: 100, maxMs: 1000, isRetryable, sleep },
    );
    expect(result).toBe('ok');
    expect(seen).toEqual([1, 2, 3]);
    expect(delays).toHaveLength(2);
  });

  it('rethrows a permanent error at once without waiting', async () => {
    const { sleep, delays } = recordingSleep();
    let calls = 0;
    const failing = withRetry(
      () => {
        calls++;
        return Promise.reject(new Permanent('no such zone'));
      },
      { attempts: 5, baseMs: 100, maxMs: 1000, isRetryable, sleep },
    );
    await expect(failing).rejects.toThrow(Permanent);
    expect(calls).toBe(1);
    expect(delays).toEqual([]);
  });

  it('gives up after `attempts` tries and rethrows the last error unchanged', async () => {
    const { sleep } = recordingSleep();
    let calls = 0;
    const failing = withRetry(
      () => {
        calls++;
        return Promise.reject(new Transient(`try ${calls}`));
      },
      { attempts: 4, baseMs: 10, maxMs: 100, isRetryable, sleep },
    );
    await expect(failing).rejects.toThrow('try 4');
    expect(calls).toBe(4);
  });

  it('backs off exponentially with jitter inside [cap/2, cap], capped at maxMs', async () => {
    const low = recordingSleep();
    const high = recordingSleep();
    const run = (random: () => number, sleep: (ms: number) => Promise<void>) =>
      withRetry(() => Promise.reject(new Transient('x')), {
        attempts: 6,
        baseMs: 100,
        maxMs: 1000,
        isRetryable,
        sleep,
        random,
      }).catch(() => undefined);
    await run(() => 0, low.sleep);
    await run(() => 0.999999, high.sleep);
    expect(low.delays).toEqual([50, 100, 200, 400, 500]);
    expect(high.delays).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffDelay(30, 100, 1000, () => 0.5)).toBe(750);
  });

  it('tells onRetry about each failed attempt before waiting', async () => {
    const { sleep } = recordingSleep();
    const infos: RetryInfo[] = [];
    await withRetry(
      (attempt) => (attempt < 3 ? Promise.reject(new Transient(`t${attempt}`)) : Promise.resolve(1)),
      {
        attempts: 3,
        baseMs: 10,
        maxMs: 10,
        isRetryable,
        sleep,
        random: () => 0,
        onRetry: (info) => {
          infos.push(info);
        },
      },
    );
    expect(infos.map((i) => [i.attempt, i.delayMs, (i.error as Error).message])).toEqual([
      [1, 5, 't1'],
      [2, 5, 't2'],
    ]);
  });

  it('stops waiting when the signal aborts and rejects with its reason', async () => {
    const controller = new AbortController();
    let calls = 0;
    const failing = withRetry(
      () => {
        calls++;
        return Promise.reject(new Transient('busy'));
      },
      { attempts: 10, baseMs: 60_000, maxMs: 60_000, isRetryable, signal: controller.signal },
    );
    setTimeout(() => controller.abort(new Error('run aborted')), 10);
    await expect(failing).rejects.toThrow('run aborted');
    expect(calls).toBe(1);
  });

  it('does not start when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    let calls = 0;
    const failing = withRetry(
      () => {
        calls++;
        return Promise.resolve(1);
      },
      { attempts: 3, baseMs: 1, maxMs: 1, isRetryable, signal: controller.signal },
    );
    await expect(failing).rejects.toThrow('shutting down');
    expect(calls).toBe(0);
  });
});
