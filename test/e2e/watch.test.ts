import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listRuns } from '../../src/runs/lookup.ts';
import type { ListeningFake } from '../../src/sandbox/fakes/fake-http.ts';
import { FakeNewPlatform } from '../../src/sandbox/fakes/new-platform.ts';
import { FakePrometheus } from '../../src/sandbox/fakes/prometheus.ts';
import { ActionId } from '../../src/slack/action-ids.ts';
import {
  ALICE,
  findButton,
  hasButton,
  MALLORY,
  readable,
  startHarness,
  type Harness,
} from '../support/ferry-harness.ts';

// Watches end to end, through signed requests: a watch whose endpoint's error rate the test turns up
// fails after failure_limit with Roll back first; a person ends a watch early with Looks good; a
// watch reads Prometheus through a local stand-in of its HTTP API. Each waits on what Slack shows.

const ERROR_RATE_QUERY =
  'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))';

const plan = `
service: billing
starters: [U01ALICE]
approvers: { users: [U02BOB] }
environments:
  staging:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
      - id: watch-new-platform
        kind: watch
        for: 2m
        every: 100ms
        summary_every: 500ms
        checks: [ { http: { url: "\${HEALTH_URL}" } } ]
        thresholds: { error_rate: 0.01 }
        failure_limit: 2
      - { id: maintenance-off, kind: maintenance, action: off,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
  qa:
    steps:
      - id: watch-new-platform
        kind: watch
        for: 2m
        every: 100ms
        checks: [ { http: { url: "\${HEALTH_URL}" } } ]
      - { id: resume-webhooks, kind: flag, action: on,
          provider: { type: http, url: "\${MAINT_URL}-qa", token: "\${MAINT_TOKEN}" } }
  perf:
    steps:
      - { id: cutover, kind: flag, action: on,
          provider: { type: http, url: "\${MAINT_URL}-perf", token: "\${MAINT_TOKEN}" } }
      - id: watch-error-rate
        kind: watch
        for: 2m
        every: 100ms
        prometheus:
          url: "\${PROMETHEUS_URL}"
          token: "\${PROMETHEUS_TOKEN}"
          queries:
            - { name: error_rate, query: '${ERROR_RATE_QUERY}', max: 0.01 }
        failure_limit: 1
`;

describe('watch steps', () => {
  let h: Harness;
  let platform: FakeNewPlatform;
  let platformServer: ListeningFake;
  let prometheus: FakePrometheus;
  let prometheusServer: ListeningFake;
  let errorRate = 0.002;

  beforeAll(async () => {
    platform = new FakeNewPlatform();
    platformServer = await platform.listen();
    prometheus = new FakePrometheus({ token: 'prometheus-e2e-token', answer: () => [errorRate] });
    prometheusServer = await prometheus.listen();
    h = await startHarness({
      plan,
      env: {
        HEALTH_URL: `${platformServer.url}${platform.pathFor('billing')}`,
        PROMETHEUS_URL: `${prometheusServer.url}${prometheus.prefix}`,
        PROMETHEUS_TOKEN: 'prometheus-e2e-token',
      },
    });
  });
  afterAll(async () => {
    await h?.stop();
    await platformServer?.close();
    await prometheusServer?.close();
  });

  /** The watch's live line on the status message, once it shows at least `samples` samples. */
  const liveLine = (samples: number) =>
    h.waitFor(() => {
      const line = readable(h.statusMessage())
        .split('\n')
        .find((l) => /`watch-[a-z-]+`\s+\d+ samples?,/.test(l));
      const n = Number(/(\d+) samples?,/.exec(line ?? '')?.[1] ?? 0);
      return n >= samples && line;
    }, `a live line of at least ${samples} samples`);

  it('fails a watch whose error rate goes up, after failure_limit, with Roll back first and why', async () => {
    await h.command(ALICE, 'start billing staging');
    // The live line: samples, error rate, p95, breaches, time left; and Looks good while it watches.
    const line = await liveLine(3);
    expect(line).toMatch(
      /\d+ samples, error rate 0%, p95 [\d.]+m?s, no breaches \(2 tolerated\), 1m \d\ds left/,
    );
    expect(hasButton(h.statusMessage(), ActionId.looksGood)).toBe(true);
    // A summary reaches the thread every summary_every, not every sample.
    await h.waitFor(
      () => h.thread().some((m) => /`watch-new-platform` after [\d.]+m?s: \d+ samples/.test(readable(m))),
      'a summary in the thread',
    );

    platform.down = true;
    const failed = await h.waitFor(() => {
      const m = h.statusMessage();
      return hasButton(m, ActionId.retry) && m;
    }, 'the failed watch');
    const text = readable(failed);
    expect(text).toMatch(
      /watch-new-platform\* failed: error rate \d+(\.\d)?% > 1% in 3 of the last 3 samples \(latest: GET 127\.0\.0\.1[^)]*answered 500, expected 200/,
    );
    expect(text).toContain('Press *Roll back* to undo what went through, *Retry* to watch again');
    // Roll back first, on the row of the failure.
    const failureRow = (
      failed.blocks as Array<{ type: string; block_id?: string; elements?: Array<{ action_id: string }> }>
    ).find((b) => b.type === 'actions' && b.block_id?.startsWith('failed:watch-new-platform'))!;
    expect(failureRow.elements!.map((e) => e.action_id)).toEqual([
      ActionId.rollback,
      ActionId.retry,
      ActionId.skip,
      ActionId.abort,
    ]);
    expect(hasButton(failed, ActionId.looksGood)).toBe(false);
    // The thread has the whole failure: the why line, then the figures.
    await h.waitFor(
      () =>
        h
          .thread()
          .some((m) =>
            /`watch-new-platform` failed: error rate .* 3 breaches \(2 tolerated\)/s.test(readable(m)),
          ),
      'the failure in the thread',
    );
    const summaries = h.thread().filter((m) => /`watch-new-platform` after /.test(readable(m))).length;
    const samples = Number(/(\d+) samples over/.exec(h.thread().map(readable).join('\n'))?.[1]);
    expect(summaries).toBeLessThan(samples);

    platform.down = false;
    await h.click(ALICE, failed, ActionId.rollback);
    await h.waitFor(() => readable(h.statusMessage()).includes('Rolled back'), 'the rollback');
    expect(h.maintenance.state('billing').enabled).toBe(false);
  });

  it("draws the watch's samples in the run's report, beside the checks", async () => {
    const run = (await listRuns(h.ferry.runs)).find((r) => r.environment === 'staging')!;
    await h.command(ALICE, `report ${run.id}`);
    const chart = await h.waitFor(
      () =>
        h.slack.files().find((f) => f.name === `ferry-${run.id}-watch-watch-new-platform.png` && f.content),
      'the watch chart',
    );
    expect(chart.content!.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
    const markdown = await h.waitFor(
      () =>
        h.slack
          .files()
          .find((f) => f.name === `ferry-${run.id}-report.md` && f.content)
          ?.content?.toString(),
      'the report',
    );
    expect(markdown).toMatch(
      /## Watch: watch-new-platform\n\n\d+ samples every 100ms, from [\d:]+ to [\d:]+; 3 breached a limit\. ❌ error rate/,
    );
    expect(markdown).toContain(`](ferry-${run.id}-watch-watch-new-platform.png)`);
    const json = await h.waitFor(
      () => h.slack.files().find((f) => f.name === `ferry-${run.id}-report.json` && f.content),
      'the JSON report',
    );
    const data = JSON.parse(json.content!.toString()) as {
      watches: Array<{ stepId: string; samples: Array<{ breached: string[] }> }>;
    };
    expect(data.watches[0]!.stepId).toBe('watch-new-platform');
    expect(data.watches[0]!.samples.filter((s) => s.breached.length > 0)).toHaveLength(3);
  });

  it('ends a watch early with Looks good, from someone who may operate the run, and goes on', async () => {
    await h.command(ALICE, 'start billing qa');
    await liveLine(2);
    const watching = await h.waitFor(() => {
      const m = h.statusMessage();
      return hasButton(m, ActionId.looksGood) && m;
    }, 'Looks good');
    expect(findButton(watching, ActionId.looksGood).value).toMatch(/^r\d+:watch-new-platform:w[a-z0-9]+$/);

    await h.click(MALLORY, watching, ActionId.looksGood);
    await h.waitFor(
      () =>
        h.responses(MALLORY).some((t) => t.includes('Only the people who may start or approve billing runs')),
      'Mallory refused',
    );

    await h.click(ALICE, watching, ActionId.looksGood);
    const done = await h.waitFor(() => {
      const m = h.statusMessage();
      return readable(m).includes('All 2 steps done') && m;
    }, 'the run to finish');
    expect(readable(done)).toContain('Ended early: looks good');
    expect(h.maintenance.state('billing-qa').enabled).toBe(true);
    await h.waitFor(
      () =>
        h
          .thread()
          .some((m) =>
            readable(m).includes('`watch-new-platform` watch ended early by <@U01ALICE>: looks good'),
          ),
      'the early end in the thread',
    );

    // A second click, from the message as it was, finds the watch over.
    await h.click(ALICE, watching, ActionId.looksGood);
    await h.waitFor(
      () => h.responses(ALICE).some((t) => t.includes('watch-new-platform is not watching: r')),
      'the late click refused',
    );
    // The watch's attempt was stopped, not left to sample until its end: its outcome is the stop.
    const run = (await listRuns(h.ferry.runs)).find((r) => r.environment === 'qa')!;
    const outcome = await h.waitFor(async () => {
      const { rows } = await h.ferry.db.pool.query(
        `select outcome from step_attempts where run_id = $1 and step_id = 'watch-new-platform' and status = 'done'`,
        [run.id],
      );
      return (rows[0] as { outcome: { type: string; error?: string } } | undefined)?.outcome;
    }, 'the watch attempt to end');
    expect(outcome).toMatchObject({ type: 'step_failed', error: 'stopped: the run was aborted' });
  });

  it('reads Prometheus through its HTTP API and fails when the error rate it reports goes over max', async () => {
    const asked = prometheus.queries.length;
    await h.command(ALICE, 'start billing perf');
    await liveLine(2);
    expect(readable(h.statusMessage())).toMatch(
      /`watch-error-rate`\s+\d+ samples, Prometheus error_rate 0\.002, no breaches/,
    );
    expect(prometheus.queries.slice(asked).every((q) => q === ERROR_RATE_QUERY)).toBe(true);

    errorRate = 0.042;
    const failed = await h.waitFor(() => {
      const m = h.statusMessage();
      return hasButton(m, ActionId.retry) && m;
    }, 'the failed watch');
    expect(readable(failed)).toContain(
      'watch-error-rate* failed: Prometheus error_rate 0.042 > 0.01 in 2 of the last 2 samples',
    );
    expect(findButton(failed, ActionId.rollback).text).toBe('Roll back');

    // Retry watches again; with the rate back down, the watch runs on, and Looks good ends it.
    errorRate = 0.002;
    await h.click(ALICE, failed, ActionId.retry);
    const again = await h.waitFor(() => {
      const m = h.statusMessage();
      return hasButton(m, ActionId.looksGood) && m;
    }, 'the watch again');
    await h.click(ALICE, again, ActionId.looksGood);
    await h.waitFor(() => readable(h.statusMessage()).includes('All 2 steps done'), 'the run to finish');
  });
});
