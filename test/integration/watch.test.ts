import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { queryInstant } from '../../src/adapters/prometheus.ts';
import type { Progress } from '../../src/adapters/types.ts';
import { WatchFailedError, watchHandler } from '../../src/adapters/watch.ts';
import { StepError } from '../../src/errors.ts';
import { stepSchema } from '../../src/plan/schema.ts';
import type { WatchStep } from '../../src/plan/watch-limits.ts';
import type { ListeningFake } from '../../src/sandbox/fakes/fake-http.ts';
import { FakeNewPlatform } from '../../src/sandbox/fakes/new-platform.ts';
import { FakePrometheus, type PrometheusAnswer } from '../../src/sandbox/fakes/prometheus.ts';
import { makeAdapterEnv, makeStepContext } from '../support/step-context.ts';

// The watch adapter against a local health endpoint and a local stand-in of Prometheus' HTTP API:
// samples on a schedule, judges each, fails once breaches pass failure_limit, and reports a live line,
// samples and summaries. Tests turn figures up after a given sample (in `progress`), never by time.

let platform: FakeNewPlatform;
let platformServer: ListeningFake;
let prometheus: FakePrometheus;
let prometheusServer: ListeningFake;
let health: string;
let promUrl: string;

beforeAll(async () => {
  platform = new FakeNewPlatform({ prefix: '/np' });
  platformServer = await platform.listen();
  prometheus = new FakePrometheus({ prefix: '/prom', token: 'prom-token-123', answer: () => [0] });
  prometheusServer = await prometheus.listen();
  health = `${platformServer.url}${platform.pathFor('billing')}`;
  promUrl = `${prometheusServer.url}/prom`;
});

afterAll(async () => {
  await platformServer?.close();
  await prometheusServer?.close();
});

beforeEach(() => {
  platform.down = false;
  platform.failOneIn = 0;
  platform.delayMs = 0;
  prometheus.answerWith(() => [0]);
});

function watch(fields: Record<string, unknown>): WatchStep {
  return stepSchema.parse({
    id: 'watch',
    kind: 'watch',
    for: '400ms',
    every: '50ms',
    ...fields,
  }) as WatchStep;
}

const env = makeAdapterEnv();
const handler = watchHandler(env);

/** Runs the watch; `afterSample(n)` runs after the n-th sample's report (1-based), to change the world. */
async function run(step: WatchStep, afterSample: (n: number) => void = () => {}) {
  const reports: Progress[] = [];
  const ctx = makeStepContext({
    progress: (report) => {
      reports.push(report);
      afterSample(reports.length);
      return Promise.resolve();
    },
  });
  try {
    const result = await handler.run(step, null, ctx);
    return { result, error: undefined, reports, ctx };
  } catch (error) {
    return { result: undefined, error: error as Error, reports, ctx };
  }
}

describe('a watch of checks', () => {
  it('samples every interval for its duration and passes with its figures', async () => {
    const { result, error, reports } = await run(watch({ checks: [{ http: { url: health } }] }));
    expect(error).toBeUndefined();
    // Samples at 0, 50, …, 400 ms: nine, unless the machine was too slow for a slot.
    expect(reports.length).toBeGreaterThanOrEqual(5);
    expect(reports.length).toBeLessThanOrEqual(9);
    expect(result!.summary).toMatch(
      new RegExp(`^${reports.length} samples over \\d+ms: error rate 0%, p95 \\d+(\\.\\d+)?ms; no breaches$`),
    );
    expect(result!.figures).toMatchObject({
      samples: reports.length,
      error_rate: '0%',
      breaches: 0,
      breaches_tolerated: 0,
    });
    // Every sample is kept for the report, in time order, with nothing breached.
    const samples = reports.map((r) => r.sample!);
    expect(samples.map((s) => s.at)).toEqual([...samples.map((s) => s.at)].sort((a, b) => a - b));
    expect(samples.every((s) => s.values.error_rate === 0 && s.breached.length === 0)).toBe(true);
    // The live line: samples, error rate, p95, breaches, time left; the last one says 100%.
    expect(reports[0]!.text).toMatch(/^1 sample, error rate 0%, p95 [\d.]+ms, no breaches, \d+ms left$/);
    expect(reports.at(-1)!.fraction).toBe(1);
    expect(platform.served(60_000, 'billing').length).toBeGreaterThanOrEqual(reports.length);
  });

  it('fails once the breaches pass failure_limit, saying why in one line and then the figures', async () => {
    const step = watch({
      for: '5s',
      checks: [{ http: { url: health } }],
      thresholds: { error_rate: 0.01 },
      failure_limit: 2,
    });
    // Healthy for three samples, then the endpoint fails every request.
    const { error, reports } = await run(step, (n) => {
      if (n === 3) platform.down = true;
    });
    expect(error).toBeInstanceOf(WatchFailedError);
    const failed = error as WatchFailedError;
    expect(failed.retryable).toBe(false);
    // Three breaches (failure_limit 2 tolerates two): samples 4, 5 and 6.
    expect(reports).toHaveLength(6);
    const [why, totals] = failed.message.split('\n');
    expect(why).toBe(
      `error rate 50% > 1% in 3 of the last 3 samples (latest: GET ${health}: answered 500, expected 200 (${/[\d.]+ ms/.exec(why!)?.[0]}))`,
    );
    expect(why).toMatch(/\(\d+(\.\d+)? ms\)\)$/);
    expect(totals).toMatch(
      /^6 samples over \d+ms: error rate 50%, p95 [\d.]+ms; 3 breaches \(2 tolerated\)$/,
    );
    expect(failed.figures).toMatchObject({
      samples: 6,
      error_rate: '50%',
      breaches: 3,
      breaches_tolerated: 2,
    });
    expect(reports.map((r) => r.sample!.breached)).toEqual([
      [],
      [],
      [],
      ['error_rate'],
      ['error_rate'],
      ['error_rate'],
    ]);
    expect(reports.at(-1)!.text).toContain('3 breaches (2 tolerated)');
  });

  it('tolerates a failure within the error rate, and counts an early blip once, not in every sample after it', async () => {
    // One request in five fails: 20%, under a 25% threshold; no sample breaches.
    platform.failOneIn = 5;
    const within = await run(
      watch({ for: '450ms', checks: [{ http: { url: health } }], thresholds: { error_rate: 0.25 } }),
    );
    expect(within.error).toBeUndefined();
    expect(within.result!.figures!.breaches).toBe(0);

    // A blip in the first sample: the rate stays above 0% for the rest of the watch, yet it breached once.
    platform.failOneIn = 0;
    platform.down = true;
    const blip = await run(
      watch({ for: '300ms', checks: [{ http: { url: health } }], failure_limit: 1 }),
      (n) => {
        if (n === 1) platform.down = false;
      },
    );
    expect(blip.error).toBeUndefined();
    expect(blip.reports.filter((r) => r.sample!.breached.length > 0)).toHaveLength(1);
    expect(blip.result!.summary).toMatch(/; 1 breach \(1 tolerated\)$/);
  });

  it('fails on p95 latency over the samples so far when the endpoint slows down', async () => {
    const step = watch({ for: '5s', checks: [{ http: { url: health } }], thresholds: { p95_ms: 40 } });
    const { error, reports } = await run(step, (n) => {
      if (n === 2) platform.delayMs = 120;
    });
    expect(error).toBeInstanceOf(WatchFailedError);
    // Two fast samples, then slow ones: the p95 of three samples is the slow one.
    expect(reports).toHaveLength(3);
    expect(error!.message).toMatch(/^p95 1\d\dms > 40ms in 1 of the last 1 sample\n/);
  });

  it('puts a summary in the run’s thread every summary_every, not every sample', async () => {
    const { reports } = await run(
      watch({ for: '500ms', summary_every: '200ms', checks: [{ http: { url: health } }] }),
    );
    const summaries = reports.filter((r) => r.summary !== undefined);
    expect(summaries.length).toBeGreaterThanOrEqual(1);
    expect(summaries.length).toBeLessThanOrEqual(3);
    expect(summaries.length).toBeLessThan(reports.length);
    expect(summaries[0]!.summary).toMatch(
      /^after \d+ms: \d+ samples, error rate 0%, p95 [\d.]+ms, no breaches$/,
    );
  });

  it('stops at once when the run is aborted', async () => {
    const ctx = makeStepContext();
    const step = watch({ for: '30s', every: '1s', checks: [{ http: { url: health } }] });
    const started = Date.now();
    const running = handler.run(step, null, ctx);
    setTimeout(
      () => ctx.controller.abort(new StepError('stopped: the run was aborted', { retryable: false })),
      100,
    );
    await expect(running).rejects.toThrow('stopped: the run was aborted');
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});

describe('a watch of Prometheus queries', () => {
  const prom = (queries: unknown[]) => ({
    url: promUrl,
    token: 'prom-token-123',
    queries,
  });

  it('reads each query once a sample, with its token, and passes within the limits', async () => {
    const before = prometheus.queries.length;
    prometheus.answerWith((query) => (query.includes('5..') ? [0.002] : [812]));
    const { result, error, reports } = await run(
      watch({
        for: '200ms',
        prometheus: prom([
          { name: 'error_rate', query: 'sum(rate(x{code=~"5.."}[1m])) / sum(rate(x[1m]))', max: 0.01 },
          { name: 'rps', query: 'sum(rate(x[1m]))', min: 100 },
        ]),
      }),
    );
    expect(error).toBeUndefined();
    expect(prometheus.queries.length - before).toBe(2 * reports.length);
    expect(result!.summary).toMatch(/: Prometheus error_rate 0\.002, Prometheus rps 812; no breaches$/);
    expect(result!.figures).toMatchObject({ 'prometheus.error_rate': '0.002', 'prometheus.rps': '812' });
    expect(reports[0]!.sample!.values).toEqual({ 'prometheus.error_rate': 0.002, 'prometheus.rps': 812 });
  });

  it('fails when a query goes over its max, naming it, its value and its limit', async () => {
    let rate = 0.002;
    prometheus.answerWith(() => [rate]);
    const { error, reports } = await run(
      watch({
        for: '5s',
        prometheus: prom([{ name: 'error_rate', query: 'q', max: 0.01 }]),
        failure_limit: 1,
      }),
      (n) => {
        if (n === 2) rate = 0.042;
      },
    );
    expect(reports).toHaveLength(4);
    expect(error!.message.split('\n')[0]).toBe(
      'Prometheus error_rate 0.042 > 0.01 in 2 of the last 2 samples',
    );
  });

  it('judges the worst series, and falls below a min', async () => {
    prometheus.answerWith(() => [250, 40, 180]);
    const { error } = await run(
      watch({
        for: '5s',
        prometheus: prom([{ name: 'rps', query: 'sum by (pod) (rate(x[1m]))', min: 100 }]),
      }),
    );
    expect(error!.message.split('\n')[0]).toBe('Prometheus rps 40 < 100 in 1 of the last 1 sample');
  });

  it('counts a query without a value as a breach: no series, NaN, or a refusal in Prometheus’ words', async () => {
    const answers: PrometheusAnswer[] = [
      [],
      [Number.NaN],
      { errorType: 'bad_data', error: '1:5: parse error: unexpected <EOF>', status: 400 },
    ];
    const problems: string[] = [];
    for (const answer of answers) {
      prometheus.answerWith(() => answer);
      const { error } = await run(
        watch({ for: '5s', prometheus: prom([{ name: 'q', query: 'q(', max: 1 }]) }),
      );
      problems.push(error!.message.split('\n')[0]!);
    }
    expect(problems).toEqual([
      'Prometheus q had no value in 1 of the last 1 sample (latest: the query returned no series)',
      'Prometheus q had no value in 1 of the last 1 sample (latest: the query returned NaN)',
      'Prometheus q had no value in 1 of the last 1 sample (latest: Prometheus refused the query (400 bad_data: 1:5: parse error: unexpected <EOF>): check the query in the plan)',
    ]);
  });

  it('says so when the token is wrong or the URL is not a Prometheus API', async () => {
    const ctx = makeStepContext();
    await expect(
      queryInstant(fetch, { url: promUrl, token: 'wrong-token-456', timeoutMs: 1_000 }, 'up', ctx),
    ).rejects.toThrow(/answered 401 .*check the token/);
    await expect(
      queryInstant(fetch, { url: `${promUrl}/nope`, timeoutMs: 1_000 }, 'up', ctx),
    ).rejects.toThrow(/answered 404 .*check the URL/);
    // A server that answers, but not as Prometheus does.
    await expect(
      queryInstant(fetch, { url: platformServer.url, timeoutMs: 1_000 }, 'up', ctx),
    ).rejects.toThrow(/answered 404/);
  });

  it('refuses a range vector with what to write instead, and reads a scalar and ±Inf', async () => {
    const server = await (async () => {
      const { listenFake, sendJson } = await import('../../src/sandbox/fakes/fake-http.ts');
      return listenFake((req, res) => {
        const query = new URL(req.url ?? '/', 'http://x').searchParams.get('query');
        const data =
          query === 'range'
            ? { resultType: 'matrix', result: [{ metric: {}, values: [[1, '1']] }] }
            : query === 'scalar'
              ? { resultType: 'scalar', result: [1, '3.5'] }
              : { resultType: 'vector', result: [{ metric: {}, value: [1, '+Inf'] }] };
        sendJson(res, 200, { status: 'success', data });
        return Promise.resolve(true);
      });
    })();
    try {
      const ctx = makeStepContext();
      const target = { url: server.url, timeoutMs: 1_000 };
      await expect(queryInstant(fetch, target, 'range', ctx)).rejects.toThrow(
        /range vector.*rate\(…\[1m\]\)/,
      );
      expect(await queryInstant(fetch, target, 'scalar', ctx)).toEqual([3.5]);
      expect(await queryInstant(fetch, target, 'inf', ctx)).toEqual([Infinity]);
    } finally {
      await server.close();
    }
  });

  it('gives up on a Prometheus that does not answer within its timeout, as a breach', async () => {
    const { listenFake } = await import('../../src/sandbox/fakes/fake-http.ts');
    const silent = await listenFake(() => new Promise<boolean>(() => {}));
    try {
      const started = Date.now();
      const { error } = await run(
        watch({
          for: '5s',
          prometheus: { url: silent.url, timeout: '100ms', queries: [{ name: 'q', query: 'q', max: 1 }] },
        }),
      );
      expect(error!.message).toMatch(/^Prometheus q had no value .*did not answer GET .* within 100 ms/);
      // Two attempts of 100 ms and one short pause, not the 10 s default.
      expect(Date.now() - started).toBeLessThan(2_000);
    } finally {
      await silent.close();
    }
  });
});

describe('what a watch says before it runs', () => {
  it('describes what it samples, its limits, and when it fails', async () => {
    const step = watch({
      for: '10m',
      every: '15s',
      checks: [{ http: { url: 'https://api.example.com/healthz' } }],
      prometheus: { url: promUrl, queries: [{ name: 'error_rate', query: 'q', max: 0.01 }] },
      thresholds: { error_rate: 0.01, p95_ms: 500 },
      failure_limit: 3,
    });
    expect(await handler.describe(step, makeStepContext())).toBe(
      'watch for 10m, every 15s: GET https://api.example.com/healthz expects 200; Prometheus error_rate ≤ 0.01; ' +
        'error rate ≤ 1%, p95 ≤ 500ms; fails after 4 breaching samples',
    );
  });
});
