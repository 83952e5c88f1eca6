import { pino } from 'pino';
import { route53DnsHandler, type DnsStep } from '../../src/adapters/route53.ts';
import { rememberer, type AdapterEnv, type Progress, type StepContext } from '../../src/adapters/types.ts';
import { stepSchema } from '../../src/plan/schema.ts';
import { FakeRoute53 } from '../../src/sandbox/fakes/route53.ts';

// Shared by the Route 53 test files: a FakeRoute53 on 127.0.0.1, the real SDK client pointed at it, and a
// StepContext with a silent logger, real short sleeps and a record of progress reports.

export const ZONE = 'Z0123456789ABC';

export interface TestContext extends StepContext {
  controller: AbortController;
  reports: Progress[];
}

export function makeContext(overrides: Partial<StepContext> = {}): TestContext {
  const controller = new AbortController();
  const signal = overrides.signal ?? controller.signal;
  const reports: Progress[] = [];
  return {
    runId: 'r12',
    stepId: 'cutover',
    attempt: 1,
    signal,
    now: () => Date.now(),
    sleep: (ms) =>
      new Promise<void>((resolve, reject) => {
        signal.throwIfAborted();
        const onAbort = () => {
          clearTimeout(timer);
          reject(signal.reason as Error);
        };
        const timer = setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        }, ms);
        signal.addEventListener('abort', onAbort, { once: true });
      }),
    progress: (report) => {
      reports.push(report);
      return Promise.resolve();
    },
    log: pino({ level: 'silent' }),
    earlier: [],
    remember: rememberer(),
    ...overrides,
    controller,
    reports,
  };
}

export function makeEnv(endpoint: string, overrides: Partial<AdapterEnv> = {}): AdapterEnv {
  return {
    heroku: { apiUrl: 'http://127.0.0.1:9', token: undefined },
    route53: { endpoint, region: 'us-east-1' },
    sidekiqHeartbeatMs: 50,
    pollIntervalMs: 10,
    httpTimeoutMs: 2_000,
    fetch: globalThis.fetch,
    ...overrides,
  };
}

export function makeHandler(env: AdapterEnv) {
  return route53DnsHandler(env, {
    clientConfig: { credentials: { accessKeyId: 'x', secretAccessKey: 'x' } },
    retry: { attempts: 4, baseMs: 5, maxMs: 20 },
  });
}

/** A dns step as a plan file would give it, defaults (max_ttl 300) applied by the real schema. */
export function dnsStep(provider: Record<string, unknown>, extra: Record<string, unknown> = {}): DnsStep {
  const step = stepSchema.parse({
    id: 'cutover',
    kind: 'dns',
    provider: {
      type: 'route53',
      hosted_zone_id: ZONE,
      record: 'api.billing.example.com.',
      record_type: 'CNAME',
      value: 'billing.eu-central.example.net.',
      ttl: 60,
      ...provider,
    },
    ...extra,
  });
  if (step.kind !== 'dns') throw new Error('not a dns step');
  return step;
}

export async function startFake(): Promise<{ fake: FakeRoute53; url: string; close: () => Promise<void> }> {
  const fake = new FakeRoute53();
  fake.addZone(ZONE, 'example.com');
  const { url, close } = await fake.listen();
  return { fake, url, close };
}

/** The context of the next attempt: a new `remember`, as the executor gives each attempt its own. */
export function nextAttempt<T extends StepContext>(ctx: T): T {
  return { ...ctx, remember: rememberer() };
}
