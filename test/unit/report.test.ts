import { describe, expect, it } from 'vitest';
import type { RunState } from '../../src/engine/types.ts';
import { stepSchema, type StepSpec } from '../../src/plan/schema.ts';
import { buildReport, renderMarkdown, renderSummaryMarkdown } from '../../src/report/report.ts';
import type { TimelineEvent } from '../../src/store/runs.ts';

const http = { type: 'http', url: 'https://a/maintenance' };
const specs = new Map<string, StepSpec>([
  ['on', stepSchema.parse({ id: 'on', kind: 'maintenance', action: 'on', provider: http })],
  ['off', stepSchema.parse({ id: 'off', kind: 'maintenance', action: 'off', provider: http })],
]);
const run = {
  id: 'r1',
  service: 'billing',
  environment: 'staging',
  status: 'rolled_back',
  startedBy: 'U1',
  startedAt: 0,
  finishedAt: 900_000,
  steps: [],
} as unknown as RunState;
let seq = 0;
const ev = (type: TimelineEvent['type'], stepId: string, atSeconds: number): TimelineEvent => ({
  id: ++seq,
  runId: 'r1',
  seq,
  at: new Date(atSeconds * 1000),
  type,
  stepId,
});

describe('buildReport downtime', () => {
  it('sums every window maintenance was on, including the one a rollback of a finished run opens', () => {
    const timeline = [
      ev('step_succeeded', 'on', 60), // down 60 s .. 300 s
      ev('step_succeeded', 'off', 300),
      ev('undo_succeeded', 'off', 600), // the rollback turns it on again: 600 s .. 660 s
      ev('undo_succeeded', 'on', 660),
    ];
    const report = buildReport(run, specs, timeline, 900_000);
    expect(report.downtime).toEqual({
      from: new Date(60_000).toISOString(),
      to: new Date(660_000).toISOString(),
      ms: 300_000,
      windows: [
        { from: new Date(60_000).toISOString(), to: new Date(300_000).toISOString() },
        { from: new Date(600_000).toISOString(), to: new Date(660_000).toISOString() },
      ],
    });
  });

  it('counts an open window up to now, with no end', () => {
    const report = buildReport(run, specs, [ev('step_succeeded', 'on', 60)], 120_000);
    expect(report.downtime).toEqual({
      from: new Date(60_000).toISOString(),
      to: null,
      ms: 60_000,
      windows: [{ from: new Date(60_000).toISOString(), to: null }],
    });
  });
});

describe('report Markdown', () => {
  const report = buildReport(
    run,
    specs,
    [ev('step_succeeded', 'on', 60), ev('step_succeeded', 'off', 120)],
    900_000,
  );
  const withCheck = {
    ...report,
    checks: [
      {
        stepId: 'before',
        at: new Date(30_000).toISOString(),
        passed: true,
        figures: { 'latency.p95_ms': 3 },
      },
    ],
  };

  it('embeds the checks chart by the file name it is uploaded under', () => {
    const markdown = renderMarkdown(withCheck, {
      checks: { filename: 'ferry-r1-checks.png', alt: 'Checks of r1' },
    });
    expect(markdown).toMatch(
      /## Checks, side by side\n\n!\[Checks of r1\]\(ferry-r1-checks\.png\)\n\n\| figure \|/,
    );
  });

  it('says why a chart is missing instead of embedding a file that was never uploaded', () => {
    const markdown = renderMarkdown(withCheck, { checks: { failed: 'resvg could not load' } });
    expect(markdown).not.toContain('![');
    expect(markdown).toContain(
      'The chart could not be drawn (resvg could not load); the table has the same figures',
    );
  });

  it('puts the maintenance windows chart above the campaign table', () => {
    const markdown = renderSummaryMarkdown([report], {
      filename: 'ferry-runs-windows.png',
      alt: 'Maintenance windows',
    });
    expect(markdown.split('\n').slice(0, 3)).toEqual([
      '![Maintenance windows](ferry-runs-windows.png)',
      '',
      '| run | service | environment | outcome | took | downtime |',
    ]);
    expect(renderSummaryMarkdown([report])).not.toContain('![');
  });
});

describe('a watch in the report', () => {
  const watchSpec = stepSchema.parse({
    id: 'watch',
    kind: 'watch',
    for: '1m',
    every: '15s',
    checks: [{ http: { url: 'https://new.example.com/healthz' } }],
    thresholds: { error_rate: 0.01, p95_ms: 500 },
  });
  const watchRun = {
    ...run,
    steps: [
      {
        id: 'watch',
        kind: 'watch',
        status: 'rolled_back',
        error: 'error rate 50% > 1% in 1 of the last 1 sample',
        summary: 'nothing to undo',
        startedAt: 0,
        finishedAt: 45_000,
        approval: null,
      },
    ],
  } as unknown as RunState;
  const samples = [0, 15, 30, 45].map((s, i) => ({
    at: s * 1000,
    values: { error_rate: i < 3 ? 0 : 0.25, p95_ms: 80 },
    breached: i < 3 ? [] : ['error_rate'],
  }));

  it('keeps its samples and limits, and whether it failed, even once rolled back', () => {
    const report = buildReport(
      watchRun,
      new Map([['watch', watchSpec]]),
      [],
      60_000,
      new Map([['watch', samples]]),
    );
    expect(report.watches).toEqual([
      {
        stepId: 'watch',
        status: 'rolled_back',
        outcome: 'error rate 50% > 1% in 1 of the last 1 sample',
        failed: true,
        everyMs: 15_000,
        samples,
        limits: [
          { key: 'error_rate', max: 0.01 },
          { key: 'p95_ms', max: 500 },
        ],
      },
    ]);
    // A watch without samples (it never ran) has no section.
    expect(buildReport(watchRun, new Map([['watch', watchSpec]]), [], 60_000).watches).toEqual([]);
  });

  it('gets a section with its chart embedded by file name', () => {
    const report = buildReport(
      watchRun,
      new Map([['watch', watchSpec]]),
      [],
      60_000,
      new Map([['watch', samples]]),
    );
    const markdown = renderMarkdown(report, {
      watches: new Map([
        ['watch', { filename: 'ferry-r1-watch-watch.png', alt: 'The samples of watch watch' }],
      ]),
    });
    expect(markdown).toContain(
      [
        '## Watch: watch',
        '',
        '4 samples every 15s, from 00:00:00 to 00:00:45; 1 breached a limit. ❌ error rate 50% > 1% in 1 of the last 1 sample',
        '',
        '![The samples of watch watch](ferry-r1-watch-watch.png)',
      ].join('\n'),
    );
  });
});
