import { describe, expect, it } from 'vitest';
import { windowOverrideRefusal, windowRefusal, type WindowCheck } from '../../src/engine/policy.ts';
import { parseWindows } from '../../src/plan/windows.ts';
import {
  buildForecast,
  compareWithForecast,
  describeForecast,
  expectedEnd,
  FORECAST_RUNS,
  type PastRun,
} from '../../src/report/forecast.ts';
import { buildReport, renderMarkdown } from '../../src/report/report.ts';
import type { StepKind } from '../../src/plan/schema.ts';
import { renderPlan } from '../../src/slack/views/plan.ts';
import { renderStatusMessage } from '../../src/slack/views/status-message.ts';
import { plain } from '../../src/words.ts';
import { alice, bob, carol, Scenario, T0 } from '../support/engine-fixtures.ts';

// The forecast: from earlier runs' step times to what the next run should take, and where people see
// it (the status message's "expected done at", the report's forecast against actual); and the change
// windows' refusals, which use it.

const S = 1000;
const MIN = 60 * S;
const shape: StepKind[] = ['maintenance', 'manual', 'maintenance'];
const target = {
  service: 'billing',
  environment: 'production',
  steps: [
    { id: 'maintenance', kind: 'maintenance' as const, action: 'on' },
    { id: 'manual', kind: 'manual' as const },
    { id: 'maintenance-2', kind: 'maintenance' as const, action: 'off' },
  ],
};

/** A run that turned maintenance on after `on`, waited `wait` for Done, and took `off` to turn it off. */
function past(
  id: string,
  environment: string,
  { on, wait, off }: { on: number; wait: number; off: number },
  service = 'billing',
  kinds: readonly StepKind[] = shape,
): PastRun {
  const startedAt = Date.UTC(2026, 10, 2, 1, 0);
  const ends = [startedAt + on, startedAt + on + wait, startedAt + on + wait + off];
  return {
    id,
    service,
    environment,
    startedAt,
    finishedAt: ends[2]!,
    steps: kinds.map((kind, i) => ({
      kind,
      action: kind === 'maintenance' ? (i === 0 ? 'on' : 'off') : null,
      finishedAt: ends[i] ?? null,
    })),
  };
}

const stagingRuns = [
  past('r3', 'staging', { on: 20 * S, wait: 5 * MIN, off: 40 * S }),
  past('r2', 'staging', { on: 10 * S, wait: 4 * MIN, off: 50 * S }),
  past('r1', 'staging', { on: 30 * S, wait: 8 * MIN, off: 30 * S }),
];

describe('buildForecast', () => {
  it('forecasts each step, the whole run and the downtime from earlier runs with the same steps', () => {
    const forecast = buildForecast(target, [
      ...stagingRuns,
      past('r9', 'staging', { on: S, wait: MIN, off: S }, 'billing', ['maintenance', 'manual']),
    ])!;
    expect(describeForecast(forecast)).toBe('from 3 staging runs; p50 6m, worst 9m');
    expect(forecast.steps).toEqual([
      { id: 'maintenance', kind: 'maintenance', p50Ms: 20 * S, worstMs: 30 * S },
      { id: 'manual', kind: 'manual', p50Ms: 5 * MIN, worstMs: 8 * MIN },
      { id: 'maintenance-2', kind: 'maintenance', p50Ms: 40 * S, worstMs: 50 * S },
    ]);
    expect(forecast.total).toEqual({ p50Ms: 6 * MIN, worstMs: 9 * MIN });
    // Maintenance on to off: the wait and turning it off.
    expect(forecast.downtime).toEqual({ p50Ms: 5 * MIN + 40 * S, worstMs: 8 * MIN + 30 * S });
  });

  it('names what it is based on, nearest first, and has no downtime where maintenance never goes on', () => {
    const runs = [
      past('r7', 'production', { on: S, wait: 2 * MIN, off: S }),
      ...stagingRuns.slice(0, 2),
      past('r5', 'staging', { on: S, wait: 3 * MIN, off: S }, 'payments'),
    ];
    const forecast = buildForecast(target, runs)!;
    expect(describeForecast(forecast)).toBe(
      'from 1 production run, 2 staging runs and 1 payments staging run; p50 3m 02s, worst 6m',
    );
    const manualOnly = buildForecast(
      { ...target, steps: target.steps.map((s) => ({ ...s, action: 'off' })) },
      runs,
    )!;
    expect(manualOnly.downtime).toBeNull();
  });

  it('reads at most the nearest runs, and none of another shape', () => {
    const many = Array.from({ length: 15 }, (_, i) =>
      past(`r${i}`, 'staging', { on: S, wait: i * MIN, off: S }),
    );
    expect(buildForecast(target, many)!.runs).toBe(FORECAST_RUNS);
    expect(buildForecast(target, many)!.total.worstMs).toBe((FORECAST_RUNS - 1) * MIN + 2 * S);
    expect(buildForecast({ ...target, steps: target.steps.slice(0, 2) }, many)).toBeNull();
    expect(buildForecast(target, [])).toBeNull();
  });
});

describe('expectedEnd and the status message', () => {
  const forecast = buildForecast(target, stagingRuns)!;
  const scenario = () => Scenario.of({ steps: ['maintenance', 'manual', 'maintenance'] });

  it('expects the forecast at the start, and moves with each step that runs over or under', () => {
    const s = scenario();
    s.start();
    expect(expectedEnd(s.state, forecast, s.now)).toEqual({ expected: T0 + 6 * MIN, forecast: T0 + 6 * MIN });
    s.tick(10 * S).succeed('maintenance'); // 10 s faster than its median
    expect(expectedEnd(s.state, forecast, s.now)!.expected).toBe(T0 + 6 * MIN - 10 * S);
    s.tick(4 * MIN); // the wait for Done is within its median of 5m: nothing moves yet
    expect(expectedEnd(s.state, forecast, s.now)!.expected).toBe(T0 + 6 * MIN - 10 * S);
    s.tick(3 * MIN); // 7m into a 5m step: 2m late, and counting
    expect(expectedEnd(s.state, forecast, s.now)!.expected).toBe(T0 + 8 * MIN - 10 * S);
    s.done('manual');
    expect(expectedEnd(s.state, forecast, s.now)!.expected).toBe(T0 + 8 * MIN - 10 * S);
    s.tick(40 * S).succeed('maintenance-2');
    expect(expectedEnd(s.state, forecast, s.now)).toBeNull();
  });

  it('shows "expected done at … (forecast …)" among the facts while the run goes, and not after', () => {
    const s = scenario();
    s.start();
    s.tick(20 * S).succeed('maintenance');
    s.tick(7 * MIN);
    const text = (now: number) =>
      JSON.stringify(renderStatusMessage(s.state, now, { forecast }).blocks).replace(
        /<!date\^\d+\^\{time\}\|([^>]*)>/g,
        '$1',
      );
    // Started 02:00, forecast 6m: 02:06; the wait for Done is 2m past its median.
    expect(text(s.now)).toContain('expected done at 02:08 UTC (forecast 02:06 UTC)');
    expect(JSON.stringify(renderStatusMessage(s.state, s.now).blocks)).not.toContain('expected done');
    s.done('manual');
    s.tick(40 * S).succeed('maintenance-2');
    expect(text(s.now)).not.toContain('expected done');
  });
});

describe('the report: forecast and actual side by side', () => {
  it('puts each step, the whole run and the downtime beside their forecast', () => {
    const forecast = buildForecast(target, stagingRuns)!;
    const s = Scenario.of({ steps: ['maintenance', 'manual', 'maintenance'] });
    s.start();
    s.tick(10 * S).succeed('maintenance');
    s.tick(9 * MIN).done('manual');
    s.tick(40 * S).succeed('maintenance-2');
    const report = buildReport(s.state, new Map(), [], s.now);
    const comparison = compareWithForecast(s.state, forecast, 9 * MIN + 40 * S);
    expect(comparison.steps.map((step) => step.actualMs)).toEqual([10 * S, 9 * MIN, 40 * S]);
    expect(comparison.total).toEqual({ forecast: forecast.total, actualMs: 9 * MIN + 50 * S });
    const markdown = renderMarkdown({ ...report, forecast: comparison });
    expect(markdown).toContain('## Forecast and actual');
    expect(markdown).toContain('Forecast at the start, from 3 staging runs.');
    expect(markdown).toContain('| maintenance | 20s | 30s | 10s | −10s |');
    expect(markdown).toContain('| manual | 5m | 8m | 9m | +4m ⚠️ longer than any earlier run |');
    expect(markdown).toContain(
      '| **whole run** | 6m | 9m | 9m 50s | +3m 50s ⚠️ longer than any earlier run |',
    );
    expect(markdown).toContain(
      '| **downtime** | 5m 40s | 8m 30s | 9m 40s | +4m ⚠️ longer than any earlier run |',
    );
    expect(renderMarkdown(report)).not.toContain('Forecast and actual');
  });
});

describe('/migrate plan with a forecast', () => {
  it("shows the forecast, each step's median and worst, and the change windows", () => {
    const forecast = buildForecast(target, stagingRuns)!;
    const steps = target.steps.map((s) => ({
      id: s.id,
      kind: s.kind,
      needsApproval: false,
      irreversible: false,
      forwardFix: null,
      text: s.id,
      blocker: null,
      readError: null,
    }));
    const reply = JSON.stringify(
      renderPlan('billing', 'production', true, steps, {
        forecast,
        windows: 'Sat 01:00-05:00 Europe/Berlin',
      }),
    );
    expect(reply).toContain(
      '*Forecast*: from 3 staging runs; p50 6m, worst 9m · downtime (maintenance on to off) p50 5m 40s, worst 8m 30s',
    );
    expect(reply).toContain('`manual` (manual) · ~5m (worst 8m)');
    expect(reply).toContain('*Change windows*: Sat 01:00-05:00 Europe/Berlin');
    expect(JSON.stringify(renderPlan('billing', 'production', true, steps))).toContain(
      'none yet; no earlier run has these steps in this order',
    );
  });
});

describe('windowRefusal', () => {
  const windows = parseWindows({ allow: ['Sat 01:00-05:00 Europe/Berlin'], deny: ['2026-12-24/2026-12-27'] });
  const check = (at: string, forecastMs: number | null, more: Partial<WindowCheck> = {}): WindowCheck => ({
    service: 'billing',
    environment: 'production',
    windows,
    at: Date.parse(at),
    scheduled: false,
    forecast: forecastMs === null ? null : { ms: forecastMs, basis: 'from 3 staging runs; p50 6m, worst 9m' },
    policy: { approverUsers: [bob.user], approverGroups: ['S0PLATFORM'] },
    ...more,
  });
  const refusal = (c: WindowCheck) => {
    const refused = windowRefusal(c);
    return refused && { breach: refused.breach, text: plain(refused.refusal) };
  };

  it('lets a start inside a window through when its forecast ends before the window does', () => {
    expect(windowRefusal(check('2026-12-05T01:00Z', 6 * MIN))).toBeNull();
    expect(windowRefusal(check('2026-12-05T03:54Z', 6 * MIN))).toBeNull();
    expect(windowRefusal(check('2026-12-05T03:59Z', null))).toBeNull();
  });

  it('refuses a start outside every window, with the next start that fits and who may override', () => {
    expect(refusal(check('2026-12-03T12:00Z', 6 * MIN))).toEqual({
      breach: 'outside its change windows (Sat 01:00-05:00 Europe/Berlin; not 2026-12-24 to 2026-12-27 UTC)',
      text:
        'billing production starts only in its change windows (Sat 01:00-05:00 Europe/Berlin; not 2026-12-24 to 2026-12-27 UTC); ' +
        'now (Thu 2026-12-03 13:00 Europe/Berlin) is outside them. The next start that fits the forecast is Sat 2026-12-05 01:00 Europe/Berlin: ' +
        '`/migrate start billing production --at 2026-12-05T00:00Z`. @U02BOB or @S0PLATFORM may start it anyway by adding `--override <reason>`.',
    });
    expect(refusal(check('2026-12-03T12:00Z', null, { scheduled: true }))!.text).toContain(
      'production starts only in its change windows (Sat 01:00-05:00 Europe/Berlin; not 2026-12-24 to 2026-12-27 UTC); Thu 2026-12-03 13:00 Europe/Berlin is outside them. The next start that fits is Sat',
    );
  });

  it('refuses a start in a blackout, naming it, with the first window after it', () => {
    expect(refusal(check('2026-12-26T01:00Z', 6 * MIN))!.text).toMatch(
      /^billing production is in a blackout \(2026-12-24 to 2026-12-27 UTC\) now \(Sat 2026-12-26 02:00 Europe\/Berlin\)\. The next start that fits the forecast is Sat 2027-01-02 01:00 Europe\/Berlin: `\/migrate start billing production --at 2027-01-02T00:00Z`\./,
    );
  });

  it('refuses a start whose forecast runs past the window, with the next start that has room', () => {
    expect(refusal(check('2026-12-05T03:55Z', 6 * MIN))).toEqual({
      breach: "its forecast of 6m runs past the window's end at Sat 2026-12-05 05:00 Europe/Berlin",
      text:
        'billing production would run past its change window: the window closes at Sat 2026-12-05 05:00 Europe/Berlin, and the forecast is 6m ' +
        '(from 3 staging runs; p50 6m, worst 9m), so it would end at Sat 2026-12-05 05:01 Europe/Berlin. ' +
        'The next start that fits the forecast is Sat 2026-12-12 01:00 Europe/Berlin: `/migrate start billing production --at 2026-12-12T00:00Z`. ' +
        '@U02BOB or @S0PLATFORM may start it anyway by adding `--override <reason>`.',
    });
    // A run longer than any window never fits.
    expect(refusal(check('2026-12-05T01:00Z', 5 * 3_600_000))!.text).toContain(
      'No start within 400 days fits a run of 5h.',
    );
  });

  it('says anyone may override where the plan names no approvers', () => {
    expect(
      refusal(check('2026-12-03T12:00Z', null, { policy: { approverUsers: [], approverGroups: [] } }))!.text,
    ).toMatch(/To start it anyway, add `--override <reason>`: the reason goes in the run's timeline\.$/);
  });

  it("lets only the plan's approvers override", () => {
    const policy = { approverUsers: [bob.user], approverGroups: ['S0PLATFORM'] };
    expect(windowOverrideRefusal(policy, 'billing', 'production', bob)).toBeNull();
    expect(windowOverrideRefusal(policy, 'billing', 'production', carol)).toBeNull();
    expect(plain(windowOverrideRefusal(policy, 'billing', 'production', alice)!)).toBe(
      'Only @U02BOB or @S0PLATFORM may start billing production outside its change windows: ask one of them, or start it in a window.',
    );
    expect(
      windowOverrideRefusal({ approverUsers: [], approverGroups: [] }, 'billing', 'production', alice),
    ).toBeNull();
  });
});
