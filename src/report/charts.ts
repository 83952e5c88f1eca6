import { createRequire } from 'node:module';
import type * as Resvg from '@resvg/resvg-js';
import type * as Vega from 'vega';
import type * as VegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { formatDuration } from '../duration.ts';
import type { RunReport } from './report.ts';

// The reports' pictures: Vega-Lite specs built from plain data, drawn to SVG by Vega and rasterized
// to PNG by resvg. Pure apart from the drawing: data in, spec out; spec in, PNG bytes out. The
// libraries load with the first chart, so a Ferry that never draws one does not carry them.

/** A vega-lite spec, as the charts below build it: tests read its data to see what will be drawn. */
export type ChartSpec = TopLevelSpec;

/** One named series of figures: a check's figures (`x` the figure's name) or samples over time (`x` epoch ms). */
export interface Series {
  name: string;
  points: ReadonlyArray<{ x: string | number; y: number }>;
}

/** Series sharing one unit, drawn as one chart: bars side by side per category, or lines over time. */
export interface SeriesChart {
  title: string;
  /** The y axis: what the figures count ("ms"). */
  unit: string;
  x: 'category' | 'time';
  series: readonly Series[];
}

/** One maintenance window of one run, as the campaign chart draws it. */
export interface WindowBar {
  /** `service · environment`: one row of the chart each. */
  row: string;
  run: string;
  /** Epoch ms. */
  from: number;
  /** Epoch ms; for a window still open, the time of the report. */
  to: number;
  open: boolean;
  /** The run's outcome, as the Markdown table words it: the bar's colour. */
  outcome: string;
  /** Written at the end of the bar: the run and how long maintenance was on. */
  label: string;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#b279a2', '#e45756', '#72b7b2', '#9d755d', '#bab0ac'];
// Fixed per outcome, so a colour means the same thing in every report.
const OUTCOME_COLOURS: Record<RunReport['status'], string> = {
  succeeded: '#2e7d32',
  rolled_back: '#ef6c00',
  rolling_back: '#ffa726',
  failed: '#c62828',
  aborted: '#757575',
  running: '#1565c0',
  waiting: '#64b5f6',
};
const outcomeOf = (status: RunReport['status']) => status.replace('_', ' ');
// The packaged font first; on a machine's own fonts, a sans-serif one rather than whatever comes first.
const CONFIG = {
  font: 'Open Sans, DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif',
  legend: { orient: 'top' },
  view: { stroke: null },
} as const;

/** Labels as fine as the campaign's span: seconds for a rehearsal, days for a migration. */
function timeFormat(bars: readonly WindowBar[]): string {
  const span = Math.max(...bars.map((b) => b.to)) - Math.min(...bars.map((b) => b.from));
  if (span < 30 * 60_000) return '%H:%M:%S';
  return span < 24 * 3_600_000 ? '%H:%M' : '%b %d %H:%M';
}

/** Wide enough for a Slack preview, narrow enough to read on a laptop; rows are a bar's height apart. */
export const WINDOWS_WIDTH = 760;
export const windowsHeight = (rows: number) => 96 + 30 * Math.max(1, rows);
export const SERIES_WIDTH = 560;
export const SERIES_HEIGHT = 280;

/** Every maintenance window of every run, oldest first. */
export function maintenanceWindowBars(reports: readonly RunReport[], now: number): WindowBar[] {
  const bars: WindowBar[] = [];
  for (const report of reports) {
    const windows = report.downtime?.windows ?? [];
    const total = windows.reduce(
      (sum, w) => sum + ((w.to === null ? now : Date.parse(w.to)) - Date.parse(w.from)),
      0,
    );
    const open = windows.some((w) => w.to === null);
    for (const [index, window] of windows.entries()) {
      const from = Date.parse(window.from);
      const to = window.to === null ? Math.max(from, now) : Date.parse(window.to);
      bars.push({
        row: `${report.service} · ${report.environment}`,
        run: report.id,
        from,
        to,
        open: window.to === null,
        outcome: outcomeOf(report.status),
        // One label per run, after its last window: the run and its downtime in all.
        label:
          index === windows.length - 1
            ? `${report.id} · ${formatDuration(total)}${open ? ' so far' : ''}${windows.length > 1 ? ` in ${windows.length} windows` : ''}`
            : '',
      });
    }
  }
  return bars.sort((a, b) => a.from - b.from);
}

/**
 * Drops the labels that would run into the next bar or label of their row (the table has the same
 * figures), estimating the text's width on the plot: a text mark has no overlap removal of its own.
 */
function withoutCollidingLabels(bars: WindowBar[], plotWidth: number): WindowBar[] {
  const start = Math.min(...bars.map((b) => b.from));
  const span = Math.max(1, Math.max(...bars.map((b) => b.to)) - start);
  const px = (t: number) => ((t - start) / span) * plotWidth;
  const labelEnd = (b: WindowBar) => px(b.to) + 4 + b.label.length * 6;
  return bars.map((bar) => {
    if (bar.label === '') return bar;
    const next = bars
      .filter((b) => b.row === bar.row && b !== bar && b.from >= bar.to)
      .reduce<number>((first, b) => Math.min(first, px(b.from)), Infinity);
    return labelEnd(bar) > next ? { ...bar, label: '' } : bar;
  });
}

/**
 * `/migrate report --all`: one bar per maintenance window on a time axis (UTC), one row per
 * service and environment, coloured by the run's outcome; null when no run had maintenance on.
 */
export function maintenanceWindowsChart(reports: readonly RunReport[], now: number): ChartSpec | null {
  const bars = maintenanceWindowBars(reports, now);
  if (bars.length === 0) return null;
  // Rows by service, then by when each environment first went down (staging before production).
  const firstDown = new Map<string, { service: string; from: number }>();
  for (const report of reports)
    for (const bar of bars.filter((b) => b.run === report.id))
      if (!firstDown.has(bar.row) || firstDown.get(bar.row)!.from > bar.from)
        firstDown.set(bar.row, { service: report.service, from: bar.from });
  const rows = [...firstDown.entries()]
    .sort(([, a], [, b]) => a.service.localeCompare(b.service) || a.from - b.from)
    .map(([row]) => row);
  const outcomes = [...new Set(bars.map((b) => b.outcome))];
  const colour = {
    field: 'outcome',
    type: 'nominal',
    title: 'outcome',
    scale: {
      domain: outcomes,
      range: outcomes.map((o) => OUTCOME_COLOURS[o.replace(' ', '_') as RunReport['status']] ?? '#9e9e9e'),
    },
  } as const;
  const time = {
    field: 'from',
    type: 'temporal',
    title: null,
    // Room after the last bar for its label.
    scale: { type: 'utc', padding: 64, nice: false },
    // A utc scale formats its labels in UTC.
    axis: { format: timeFormat(bars), tickCount: 6, labelOverlap: true },
  } as const;
  return {
    $schema: SCHEMA,
    title: {
      text: 'Maintenance windows',
      subtitle: `one bar per window, by service and environment (UTC, from ${new Date(bars[0]!.from).toUTCString().slice(5, 16)})`,
    },
    width: WINDOWS_WIDTH,
    height: windowsHeight(rows.length),
    autosize: { type: 'fit', contains: 'padding' },
    padding: 12,
    background: 'white',
    data: { values: withoutCollidingLabels(bars, WINDOWS_WIDTH - 240) },
    encoding: { y: { field: 'row', type: 'nominal', sort: rows, title: null } },
    layer: [
      { mark: { type: 'bar', height: 18 }, encoding: { x: time, x2: { field: 'to' }, color: colour } },
      // A window of seconds in a campaign of days is narrower than a pixel: a tick marks its start.
      { mark: { type: 'tick', thickness: 2, size: 18 }, encoding: { x: time, color: colour } },
      {
        mark: { type: 'text', align: 'left', baseline: 'middle', dx: 4, fontSize: 10, color: '#333' },
        transform: [{ filter: "datum.label !== ''" }],
        encoding: { x: { ...time, field: 'to' }, text: { field: 'label' } },
      },
    ],
    config: CONFIG,
  };
}

/**
 * A run's checks before and after, side by side: each check step is a series, each figure in
 * milliseconds a group of bars. Null when no check measured a time.
 */
export function checksSeries(report: RunReport): SeriesChart | null {
  const keys: string[] = [];
  for (const check of report.checks)
    for (const [key, value] of Object.entries(check.figures))
      if (key.endsWith('_ms') && typeof value === 'number' && !keys.includes(key)) keys.push(key);
  if (keys.length === 0) return null;
  // As the Markdown table orders them (the stored figures keep no order).
  keys.sort();
  const repeated = (stepId: string) => report.checks.filter((c) => c.stepId === stepId).length > 1;
  return {
    title: 'Checks before and after',
    unit: 'ms',
    x: 'category',
    series: report.checks.map((check) => ({
      // A check tried twice is two series: the step id and when.
      name: `${check.stepId}${repeated(check.stepId) ? ` ${check.at.slice(11, 19)}` : ''}${check.passed ? '' : ' (failed)'}`,
      points: keys.flatMap((key) => {
        const value = check.figures[key];
        // The unit is on the axis; the figure's name matches the Markdown table's row.
        return typeof value === 'number' ? [{ x: key.replace(/_ms$/, ''), y: value }] : [];
      }),
    })),
  };
}

/** A watch's panels: one per figure, this high, with the width of the series charts. */
export const WATCH_PANEL_HEIGHT = 110;

/** How a watch figure is named on its panel, and the factor its values are drawn with. */
function watchFigure(key: string): { label: string; scale: number } {
  if (key === 'error_rate') return { label: 'error rate (%)', scale: 100 };
  if (key === 'p95_ms') return { label: 'p95 (ms)', scale: 1 };
  return { label: `Prometheus ${key.replace(/^prometheus\./, '')}`, scale: 1 };
}

/**
 * A watch's samples over time: one panel per figure (its own y axis), its limit as a dashed rule,
 * the samples that breached it in red. Null when no sample has a figure to draw.
 */
export function watchChart(watch: RunReport['watches'][number]): ChartSpec | null {
  const keys = [
    ...new Set([...watch.limits.map((l) => l.key), ...watch.samples.flatMap((s) => Object.keys(s.values))]),
  ];
  const rows = keys.flatMap((key) => {
    const { label, scale } = watchFigure(key);
    const limit = watch.limits.find((l) => l.key === key);
    const bound = limit?.max ?? limit?.min;
    return watch.samples.flatMap((sample) => {
      const value = sample.values[key];
      if (value === null || value === undefined) return [];
      return [
        {
          figure: label,
          at: sample.at,
          value: value * scale,
          breached: sample.breached.includes(key) ? 'breached' : 'within',
          limit: bound === undefined ? null : bound * scale,
        },
      ];
    });
  });
  if (rows.length === 0) return null;
  const figures = [...new Set(rows.map((r) => r.figure))];
  const time = {
    field: 'at',
    type: 'temporal',
    title: null,
    scale: { type: 'utc' },
    axis: { format: '%H:%M:%S', labelOverlap: true },
  } as const;
  const value = { field: 'value', type: 'quantitative', title: null } as const;
  const breaching = watch.samples.filter((s) => s.breached.length > 0).length;
  return {
    $schema: SCHEMA,
    title: {
      text: `Watch ${watch.stepId}`,
      subtitle: `${watch.samples.length} samples, ${breaching} breaching (red); dashed: the limit (UTC)`,
    },
    padding: 12,
    background: 'white',
    data: { values: rows },
    // A panel per figure, each on its own scale, one above the other on the same time axis.
    vconcat: figures.map((figure) => {
      const limit = rows.find((r) => r.figure === figure)?.limit ?? null;
      return {
        title: { text: figure, anchor: 'start', fontSize: 12, fontWeight: 'normal' },
        width: SERIES_WIDTH,
        height: WATCH_PANEL_HEIGHT,
        transform: [{ filter: { field: 'figure', equal: figure } }],
        layer: [
          { mark: { type: 'line', color: PALETTE[0] }, encoding: { x: time, y: value } },
          {
            mark: { type: 'point', filled: true, size: 40, opacity: 1 },
            encoding: {
              x: time,
              y: value,
              color: {
                field: 'breached',
                type: 'nominal',
                title: null,
                scale: { domain: ['within', 'breached'], range: [PALETTE[0]!, '#c62828'] },
              },
            },
          },
          ...(limit === null
            ? []
            : [
                {
                  mark: { type: 'rule', color: '#c62828', strokeDash: [6, 4] },
                  encoding: { y: { datum: limit, type: 'quantitative' } },
                },
              ]),
        ],
      };
    }),
    resolve: { scale: { x: 'shared', y: 'independent', color: 'shared' } },
    config: CONFIG,
  } as ChartSpec;
}

/** Series of one unit as a chart: grouped bars for categories, lines with points over time (UTC). */
export function seriesChart(chart: SeriesChart): ChartSpec {
  const values = chart.series.flatMap((s) => s.points.map((p) => ({ series: s.name, x: p.x, y: p.y })));
  const names = chart.series.map((s) => s.name);
  const colour = {
    field: 'series',
    type: 'nominal',
    title: null,
    sort: names,
    scale: { domain: names, range: names.map((_, i) => PALETTE[i % PALETTE.length]!) },
  } as const;
  const y = { field: 'y', type: 'quantitative', title: chart.unit } as const;
  const body =
    chart.x === 'category'
      ? {
          encoding: {
            x: {
              field: 'x',
              type: 'nominal',
              title: null,
              sort: [...new Set(values.map((v) => v.x))],
              // "http.latency.p95" on two lines, "http" above "latency.p95", so groups do not collide.
              axis: { labelAngle: 0, labelExpr: "split(replace(datum.label, '.', '\\n'), '\\n')" },
            },
            xOffset: { field: 'series', type: 'nominal', sort: names },
            y,
            color: colour,
          },
          layer: [
            { mark: { type: 'bar' } },
            {
              mark: { type: 'text', baseline: 'bottom', dy: -2, fontSize: 10, color: '#333' },
              encoding: { text: { field: 'y', type: 'quantitative', format: '~r' } },
            },
          ],
        }
      : {
          mark: { type: 'line', point: true },
          encoding: {
            x: {
              field: 'x',
              type: 'temporal',
              title: null,
              scale: { type: 'utc' },
              axis: { format: '%H:%M:%S' },
            },
            y,
            color: colour,
          },
        };
  return {
    $schema: SCHEMA,
    title: chart.title,
    width: SERIES_WIDTH,
    height: SERIES_HEIGHT,
    autosize: { type: 'fit', contains: 'padding' },
    padding: 12,
    background: 'white',
    data: { values },
    ...body,
    config: CONFIG,
  } as ChartSpec;
}

/** The font files a chart's text is drawn with. */
export interface ChartFonts {
  /** TTF or OTF files. */
  files: readonly string[];
  /** The family those files hold; sans-serif text is drawn in it. */
  family: string | undefined;
  /** Also read the machine's fonts: slower, and a slim container image has none. */
  system: boolean;
}

const PACKAGED_FONTS = [
  'open-sans-fontface/fonts/Regular/OpenSans-Regular.ttf',
  'open-sans-fontface/fonts/Bold/OpenSans-Bold.ttf',
];

/**
 * The packaged Open Sans when it is installed, so labels are drawn on a machine with no fonts;
 * otherwise the machine's own fonts.
 */
export function chartFonts(
  resolve: (id: string) => string = createRequire(import.meta.url).resolve,
): ChartFonts {
  try {
    return { files: PACKAGED_FONTS.map((f) => resolve(f)), family: 'Open Sans', system: false };
  } catch {
    return { files: [], family: undefined, system: true };
  }
}

export interface ChartImage {
  png: Uint8Array;
  width: number;
  height: number;
  /** What vega-lite and Vega warned about while drawing (a setting they ignored, say). */
  warnings: string[];
}

type Libraries = { vega: typeof Vega; vegaLite: typeof VegaLite; resvg: typeof Resvg };
let libraries: Promise<Libraries> | undefined;
let defaultFonts: ChartFonts | undefined;

function load(): Promise<Libraries> {
  libraries ??= Promise.all([import('vega'), import('vega-lite'), import('@resvg/resvg-js')]).then(
    ([vega, vegaLite, resvg]) => ({ vega, vegaLite, resvg }),
    (error: unknown) => {
      libraries = undefined;
      throw error;
    },
  );
  return libraries;
}

/**
 * Draws a chart: vega-lite compiles the spec, Vega renders it to SVG, resvg rasterizes it (off the
 * event loop) at `scale` times its size, so `width` and `height` are the spec's times `scale`.
 */
export async function renderPng(
  spec: ChartSpec,
  options: { fonts?: ChartFonts; scale?: number } = {},
): Promise<ChartImage> {
  const { vega, vegaLite, resvg } = await load();
  // Kept for the caller to log: by default they would go to the console, outside Ferry's log.
  const warnings: string[] = [];
  const logger = vega.logger(vega.Warn, undefined, (_method, level, args) => {
    warnings.push(`${level} ${args.map(String).join(' ')}`);
  });
  const compiled = vegaLite.compile(spec, { logger }).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logger });
  let svg: string;
  try {
    svg = await view.toSVG();
  } finally {
    view.finalize();
  }
  const fonts = options.fonts ?? (defaultFonts ??= chartFonts());
  const image = await resvg.renderAsync(svg, {
    font: {
      loadSystemFonts: fonts.system,
      fontFiles: [...fonts.files],
      ...(fonts.family ? { defaultFontFamily: fonts.family, sansSerifFamily: fonts.family } : {}),
    },
    fitTo: { mode: 'zoom', value: options.scale ?? 2 },
    background: 'white',
  });
  return { png: image.asPng(), width: image.width, height: image.height, warnings };
}
