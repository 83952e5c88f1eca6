import { pino } from 'pino';
import {
  rememberer,
  type AdapterEnv,
  type EarlierStep,
  type Progress,
  type StepContext,
} from '../../src/adapters/types.ts';

/** A StepContext for adapter tests: silent logger, real (tiny) sleeps, and a record of what happened. */
export interface TestStepContext extends StepContext {
  controller: AbortController;
  /** Every `sleep(ms)` the adapter asked for, in order, so tests assert on waits without timing them. */
  sleeps: number[];
  reports: Progress[];
}

export function makeStepContext(
  overrides: Partial<StepContext> & { earlier?: ReadonlyArray<EarlierStep> } = {},
): TestStepContext {
  const controller = new AbortController();
  const signal = overrides.signal ?? controller.signal;
  const sleeps: number[] = [];
  const reports: Progress[] = [];
  const ctx: TestStepContext = {
    runId: 'r1',
    stepId: 'step',
    attempt: 1,
    signal,
    now: () => Date.now(),
    sleep: (ms: number) => {
      sleeps.push(ms);
      return new Promise<void>((resolve, reject) => {
        if (signal.aborted) {
          reject(signal.reason as Error);
          return;
        }
        const timer = setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        }, ms);
        const onAbort = () => {
          clearTimeout(timer);
          reject(signal.reason as Error);
        };
        signal.addEventListener('abort', onAbort, { once: true });
      });
    },
    progress: (report: Progress) => {
      reports.push(report);
      return Promise.resolve();
    },
    log: pino({ level: 'silent' }),
    earlier: [],
    remember: rememberer(),
    ...overrides,
    controller,
    sleeps,
    reports,
  };
  return ctx;
}

export function makeAdapterEnv(overrides: Partial<AdapterEnv> = {}): AdapterEnv {
  return {
    heroku: { apiUrl: 'http://127.0.0.1:9', token: 'test-heroku-token' },
    route53: { endpoint: undefined, region: 'us-east-1' },
    sidekiqHeartbeatMs: 50,
    pollIntervalMs: 5,
    httpTimeoutMs: 2_000,
    fetch: globalThis.fetch,
    ...overrides,
  };
}
