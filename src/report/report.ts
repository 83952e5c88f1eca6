import type { RunState, StepState } from '../engine/types.ts';
import type { StepSpec } from '../plan/schema.ts';
import type { TimelineEvent } from '../engine/types.ts';
import { formatDuration } from '../duration.ts';
import type { ForecastComparison } from './forecast.ts';
import { watchLimits, type WatchLimit } from '../plan/watch-limits.ts';

// A run's report: what happened, how long the service was down, and what the checks measured,
// side by side so the latency before and after a cutover can be compared. Pure: data in, data out.

export interface RunReport {
  id: string;
  service: string;
  environment: string;
  status: RunState['status'];
  startedBy: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  /**
   * Maintenance on: from the first time it went on to the last time it went off, `ms` summed over
   * every window, and each window (`to` null while it is still on); null if never on.
   */
  downtime: {
    from: string;
    to: string | null;
    ms: number | null;
    windows: Array<{ from: string; to: string | null }>;
  } | null;
  steps: Array<{
    id: string;
    kind: string;
    status: StepState['status'];
    durationMs: number | null;
    summary: string | null;
    error: string | null;
    approvedBy: string | null;
  }>;
  /** Each check step's figures, in plan order: the columns of the side-by-side table. */
  checks: Array<{ stepId: string; at: string; passed: boolean; figures: Record<string, number | string> }>;
  /** Each watch step that took samples, in plan order: its latest attempt's samples and its limits. */
  watches: Array<{
    stepId: string;
    status: StepState['status'];
    /** How it ended, in the step's words: its summary, or why it failed. */
    outcome: string | null;
    /** It breached more often than it tolerates (a rollback since keeps the failure). */
    failed: boolean;
    everyMs: number;
    samples: WatchSamplePoint[];
    limits: WatchLimit[];
  }>;
  notes: Array<{ at: string; by: string | null; text: string }>;
  incidents: Array<{ at: string; by: string | null; event: 'opened' | 'resolved'; text: string }>;
  refusals: number;
  /** Forecast and actual side by side, when the run was started with a forecast. */
  forecast?: ForecastComparison;
}

/** One sample of a watch, as the store keeps it: each figure after it, and which breached their limit. */
export interface WatchSamplePoint {
  /** Epoch ms. */
  at: number;
  values: Record<string, number | null>;
  breached: string[];
}

export function buildReport(
  run: RunState,
  specs: ReadonlyMap<string, StepSpec>,
  timeline: readonly TimelineEvent[],
  now: number,
  watchSamples: ReadonlyMap<string, readonly WatchSamplePoint[]> = new Map(),
): RunReport {
  const iso = (ms: number) => new Date(ms).toISOString();
  const maintenanceOn = (id: string | undefined) => {
    const spec = id ? specs.get(id) : undefined;
    return spec?.kind === 'maintenance' ? spec.action : undefined;
  };
  // Every window in which maintenance was on counts: a rollback of a finished run turns it on
  // again (undoing maintenance-off) before turning it off (undoing maintenance-on).
  let downFrom: number | null = null;
  let firstDown: number | null = null;
  let lastUp: number | null = null;
  let downMs = 0;
  const windows: Array<{ from: string; to: string | null }> = [];
  for (const event of timeline) {
    const action = maintenanceOn(event.stepId);
    if (!action || (event.type !== 'step_succeeded' && event.type !== 'undo_succeeded')) continue;
    const at = event.at.getTime();
    const turnsOn = (event.type === 'step_succeeded') === (action === 'on');
    if (turnsOn && downFrom === null) {
      downFrom = at;
      firstDown ??= at;
    } else if (!turnsOn && downFrom !== null) {
      downMs += at - downFrom;
      windows.push({ from: iso(downFrom), to: iso(at) });
      lastUp = at;
      downFrom = null;
    }
  }
  if (downFrom !== null) {
    downMs += now - downFrom;
    windows.push({ from: iso(downFrom), to: null });
  }
  const checks = timeline
    .filter(
      (e) =>
        e.stepId &&
        specs.get(e.stepId)?.kind === 'check' &&
        (e.type === 'step_succeeded' || e.type === 'step_failed') &&
        e.figures,
    )
    .map((e) => ({
      stepId: e.stepId!,
      at: iso(e.at.getTime()),
      passed: e.type === 'step_succeeded',
      figures: e.figures!,
    }));
  return {
    id: run.id,
    service: run.service,
    environment: run.environment,
    status: run.status,
    startedBy: run.startedBy,
    startedAt: iso(run.startedAt),
    finishedAt: run.finishedAt === null ? null : iso(run.finishedAt),
    durationMs: run.finishedAt === null ? null : run.finishedAt - run.startedAt,
    downtime:
      firstDown === null
        ? null
        : {
            from: iso(firstDown),
            to: downFrom === null && lastUp !== null ? iso(lastUp) : null,
            ms: downMs,
            windows,
          },
    steps: run.steps.map((s) => ({
      id: s.id,
      kind: s.kind,
      status: s.status,
      durationMs: s.startedAt !== null && s.finishedAt !== null ? s.finishedAt - s.startedAt : null,
      summary: s.summary,
      error: s.error,
      approvedBy: s.approval?.decision === 'approved' ? s.approval.by : null,
    })),
    checks,
    watches: run.steps.flatMap((step) => {
      const spec = specs.get(step.id);
      const samples = watchSamples.get(step.id) ?? [];
      if (spec?.kind !== 'watch' || samples.length === 0) return [];
      return [
        {
          stepId: step.id,
          status: step.status,
          outcome: step.error ?? step.summary,
          failed: step.error !== null,
          everyMs: spec.every,
          samples: [...samples],
          limits: watchLimits(spec),
        },
      ];
    }),
    notes: timeline
      .filter((e) => e.type === 'note')
      .map((e) => ({ at: iso(e.at.getTime()), by: e.actor ?? null, text: e.detail ?? '' })),
    incidents: timeline
      .filter((e) => e.type === 'incident_opened' || e.type === 'incident_resolved')
      .map((e) => ({
        at: iso(e.at.getTime()),
        by: e.actor ?? null,
        event: e.type === 'incident_opened' ? ('opened' as const) : ('resolved' as const),
        text: e.detail ?? '',
      })),
    refusals: timeline.filter((e) => e.type === 'refused').length,
  };
}

const cell = (text: string | null | undefined) => (text ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** A chart uploaded beside the Markdown, which embeds it by file name; or why it could not be drawn. */
export type ChartFile = { filename: string; alt: string } | { failed: string };

const embed = (chart: ChartFile) =>
  'filename' in chart
    ? `![${chart.alt}](${chart.filename})`
    : `_The chart could not be drawn (${cell(chart.failed)}); the table has the same figures, and Ferry's log the details._`;

export function renderMarkdown(
  report: RunReport,
  charts: { checks?: ChartFile; watches?: ReadonlyMap<string, ChartFile> } = {},
): string {
  const lines = [
    `# ${report.service} ${report.environment} · ${report.id}`,
    '',
    `- Outcome: **${report.status.replace('_', ' ')}**`,
    `- Started by ${report.startedBy} at ${report.startedAt}${report.finishedAt ? `, ended ${report.finishedAt}` : ''} (${formatMs(report.durationMs)})`,
    `- Downtime (maintenance on to off): ${report.downtime ? `**${formatMs(report.downtime.ms)}**${report.downtime.to ? '' : ' and counting'}` : 'none recorded'}`,
    `- Refused actions: ${report.refusals}`,
    '',
    '## Steps',
    '',
    '| step | kind | status | took | what happened |',
    '|---|---|---|---|---|',
    ...report.steps.map(
      (s) =>
        `| ${s.id} | ${s.kind} | ${s.status.replace('_', ' ')} | ${formatMs(s.durationMs)} | ${cell(s.error ?? s.summary)}${s.approvedBy ? ` (approved by ${s.approvedBy})` : ''} |`,
    ),
  ];
  if (report.forecast) lines.push('', ...forecastTable(report.forecast));
  if (report.checks.length > 0) {
    const keys = [...new Set(report.checks.flatMap((c) => Object.keys(c.figures)))].sort();
    lines.push(
      '',
      '## Checks, side by side',
      '',
      ...(charts.checks ? [embed(charts.checks), ''] : []),
      `| figure | ${report.checks.map((c) => `${c.stepId} (${c.at.slice(11, 19)})${c.passed ? '' : ' ❌'}`).join(' | ')} |`,
      `|---|${report.checks.map(() => '---').join('|')}|`,
      ...keys.map(
        (k) => `| ${k} | ${report.checks.map((c) => cell(String(c.figures[k] ?? '–'))).join(' | ')} |`,
      ),
    );
  }
  for (const watch of report.watches) {
    const breaching = watch.samples.filter((s) => s.breached.length > 0).length;
    const chart = charts.watches?.get(watch.stepId);
    lines.push(
      '',
      `## Watch: ${watch.stepId}`,
      '',
      `${watch.samples.length} samples every ${formatDuration(watch.everyMs)}, from ${new Date(watch.samples[0]!.at).toISOString().slice(11, 19)} to ${new Date(watch.samples.at(-1)!.at).toISOString().slice(11, 19)}; ${breaching} breached a limit. ${watch.failed ? '❌ ' : ''}${cell(watch.outcome)}`,
      ...(chart ? ['', embed(chart)] : []),
    );
  }
  if (report.incidents.length > 0) {
    lines.push(
      '',
      '## Incidents',
      '',
      ...report.incidents.map((i) => `- ${i.at.slice(11, 19)} ${i.event} by ${i.by ?? '?'}: ${cell(i.text)}`),
    );
  }
  if (report.notes.length > 0) {
    lines.push(
      '',
      '## Notes',
      '',
      ...report.notes.map((n) => `- ${n.at.slice(11, 19)} ${n.by ?? ''}: ${cell(n.text)}`),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** `/migrate report --all`: the maintenance windows' chart, then one line per run. */
export function renderSummaryMarkdown(reports: readonly RunReport[], windows?: ChartFile): string {
  return [
    ...(windows ? [embed(windows), ''] : []),
    '| run | service | environment | outcome | took | downtime |',
    '|---|---|---|---|---|---|',
    ...reports.map(
      (r) =>
        `| ${r.id} | ${r.service} | ${r.environment} | ${r.status.replace('_', ' ')} | ${formatMs(r.durationMs)} | ${r.downtime ? formatMs(r.downtime.ms) : '–'} |`,
    ),
  ].join('\n');
}

/** How long something took, or a dash where it is not known. */
export function formatMs(ms: number | null): string {
  return ms === null ? '–' : formatDuration(ms);
}

/** Forecast and actual per step, then for the whole run and the downtime: planned against what happened. */
function forecastTable(forecast: ForecastComparison): string[] {
  const row = (name: string, planned: { p50Ms: number; worstMs: number }, actualMs: number | null) => {
    const off = actualMs === null ? '–' : signed(actualMs - planned.p50Ms);
    const worse = actualMs !== null && actualMs > planned.worstMs ? ' ⚠️ longer than any earlier run' : '';
    return `| ${name} | ${formatDuration(planned.p50Ms)} | ${formatDuration(planned.worstMs)} | ${formatMs(actualMs)} | ${off}${worse} |`;
  };
  return [
    '## Forecast and actual',
    '',
    `Forecast at the start, from ${cell(forecast.basis)}. A step's time runs from the end of the one before it, waits for approval and Done included.`,
    '',
    '| step | forecast (p50) | worst before | actual | actual − forecast |',
    '|---|---|---|---|---|',
    ...forecast.steps.map((s) => row(s.id, s.forecast, s.actualMs)),
    row('**whole run**', forecast.total.forecast, forecast.total.actualMs),
    ...(forecast.downtime
      ? [row('**downtime**', forecast.downtime.forecast, forecast.downtime.actualMs)]
      : []),
  ];
}

/** "+2m", "−30s", "±0ms": how far a time was off its forecast. */
function signed(ms: number): string {
  return `${ms > 0 ? '+' : ms < 0 ? '−' : '±'}${formatDuration(Math.abs(ms))}`;
}
