import { describe, expect, it } from 'vitest';
import { stepTimeoutMs } from '../../src/executor/executor.ts';
import { formatProblem, parsePlan } from '../../src/plan/index.ts';
import { stepSchema } from '../../src/plan/schema.ts';

// A watch step's keys, read together: what it samples, how often against how long, its timeout, and
// thresholds that need checks. Each problem points at the key a person edits.

function problems(watch: string): string[] {
  const result = parsePlan(
    `service: search\nenvironments:\n  staging:\n    steps:\n${watch}`,
    'plans/search.yml',
  );
  return result.ok ? [] : result.problems.map(formatProblem);
}

describe('a watch step in a plan', () => {
  it('takes the shape of the issue: checks, Prometheus queries, thresholds and a failure limit', () => {
    const result = parsePlan(
      `service: search
environments:
  staging:
    steps:
      - id: watch-new-platform
        kind: watch
        for: 10m
        checks:
          - { http: { url: "https://api.example.com/healthz", expect_status: 200 } }
        prometheus:
          url: "\${PROMETHEUS_URL}"
          queries:
            - { name: error_rate, query: 'sum(rate(x{code=~"5.."}[1m])) / sum(rate(x[1m]))', max: 0.01 }
        thresholds: { error_rate: 0.01, p95_ms: 500 }
        failure_limit: 3
`,
      'plans/search.yml',
    );
    if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
    expect(result.plan.environments.staging!.steps[0]).toMatchObject({
      kind: 'watch',
      for: 600_000,
      every: 15_000,
      summary_every: 60_000,
      failure_limit: 3,
    });
  });

  it('needs something to sample', () => {
    expect(problems('      - { id: w, kind: watch, for: 1m }\n')).toEqual([
      'plans/search.yml:5:9 environments.staging.steps[0]: a watch needs something to sample: `checks`, `prometheus` queries, or both',
    ]);
  });

  it('refuses an interval longer than the watch, a zero interval, and a timeout that would cut it short', () => {
    const check = 'checks: [ { http: { url: "https://a/healthz" } } ]';
    expect(problems(`      - { id: w, kind: watch, for: 1m, every: 2m, timeout: 30s, ${check} }\n`)).toEqual([
      'plans/search.yml:5:47 environments.staging.steps[0].every: expected at most `for` (1m): the watch would take one sample',
      'plans/search.yml:5:60 environments.staging.steps[0].timeout: expected longer than `for` (1m), or no timeout: Ferry then allows `for` and 5 minutes',
    ]);
    expect(
      problems(`      - { id: w, kind: watch, for: 1m, every: 0s, summary_every: 0s, ${check} }\n`),
    ).toEqual([
      'plans/search.yml:5:47 environments.staging.steps[0].every: expected a duration above zero, such as "15s"',
      'plans/search.yml:5:66 environments.staging.steps[0].summary_every: expected a duration above zero, such as "1m"',
    ]);
  });

  it('refuses thresholds without checks to judge, and two queries of one name', () => {
    expect(
      problems(`      - id: w
        kind: watch
        for: 1m
        thresholds: { error_rate: 0.01 }
        prometheus:
          url: http://prometheus:9090
          queries:
            - { name: rate, query: a }
            - { name: rate, query: b }
`),
    ).toEqual([
      'plans/search.yml:8:21 environments.staging.steps[0].thresholds: thresholds judge the samples of `checks`, and this watch has none: limit Prometheus queries with their own `max` and `min`',
      'plans/search.yml:13:23 environments.staging.steps[0].prometheus.queries[1].name: "rate" names an earlier query too: names must differ',
    ]);
  });

  it('takes an error rate threshold as a share, not a percentage', () => {
    expect(
      problems(
        '      - { id: w, kind: watch, for: 1m, checks: [ { http: { url: "https://a" } } ], thresholds: { error_rate: 5 } }\n',
      ),
    ).toEqual([
      'plans/search.yml:5:110 environments.staging.steps[0].thresholds.error_rate: expected a share from 0 to 1, where 0.01 is 1% (got 5)',
    ]);
  });
});

describe('the time a watch is given', () => {
  const watch = (extra: Record<string, unknown>) =>
    stepSchema.parse({
      id: 'w',
      kind: 'watch',
      for: '10m',
      checks: [{ http: { url: 'https://a' } }],
      ...extra,
    });

  it('is its `for` and five minutes when the plan sets no timeout, or the plan’s timeout', () => {
    // The default timeout of other steps (5 minutes) would cut a 10-minute watch in half.
    expect(stepTimeoutMs(watch({}))).toBe(15 * 60_000);
    expect(stepTimeoutMs(watch({ timeout: '12m' }))).toBe(12 * 60_000);
  });
});
