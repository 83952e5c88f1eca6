import { crc32, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { RunState, TimelineEvent } from '../../src/engine/types.ts';
import { stepSchema, type StepSpec } from '../../src/plan/schema.ts';
import {
  SERIES_HEIGHT,
  SERIES_WIDTH,
  WINDOWS_WIDTH,
  chartFonts,
  checksSeries,
  maintenanceWindowsChart,
  renderPng,
  seriesChart,
  watchChart,
  windowsHeight,
  type ChartSpec,
  type WindowBar,
} from '../../src/report/charts.ts';
import { buildReport, type RunReport } from '../../src/report/report.ts';

// The charts are built from plain data into vega-lite specs (what is drawn) and rendered to PNG
// (that it is drawn): the PNGs are decoded here by a small reader of their own, not trusted.

const http = { type: 'http', url: 'https://a/maintenance' };
const specs = new Map<string, StepSpec>([
  ['on', stepSchema.parse({ id: 'on', kind: 'maintenance', action: 'on', provider: http })],
  ['off', stepSchema.parse({ id: 'off', kind: 'maintenance', action: 'off', provider: http })],
]);
const T0 = Date.parse('2025-03-01T09:00:00Z');
let seq = 0;
const ev = (type: TimelineEvent['type'], stepId: string, atSeconds: number): TimelineEvent => ({
  id: ++seq,
  runId: 'r',
  seq,
  at: new Date(T0 + atSeconds * 1000),
  type,
  stepId,
});
const reportOf = (
  id: string,
  service: string,
  environment: string,
  status: RunState['status'],
  timeline: TimelineEvent[],
  nowSeconds: number,
): RunReport =>
  buildReport(
    {
      id,
      service,
      environment,
      status,
      startedBy: 'U1',
      startedAt: T0,
      finishedAt: null,
      steps: [],
    } as unknown as RunState,
    specs,
    timeline,
    T0 + nowSeconds * 1000,
  );

const NOW = 1300;
const campaign = [
  // Rolled back after it finished: maintenance on twice.
  reportOf(
    'r1',
    'billing',
    'staging',
    'rolled_back',
    [
      ev('step_succeeded', 'on', 60),
      ev('step_succeeded', 'off', 300),
      ev('undo_succeeded', 'off', 600),
      ev('undo_succeeded', 'on', 660),
    ],
    NOW,
  ),
  // Still down when the report is made.
  reportOf('r2', 'billing', 'production', 'running', [ev('step_succeeded', 'on', 1000)], NOW),
  // Never had maintenance on: no bar.
  reportOf('r3', 'search', 'staging', 'succeeded', [], NOW),
];
const at = (s: number) => T0 + s * 1000;

const barsOf = (spec: ChartSpec) => (spec as { data: { values: WindowBar[] } }).data.values;

describe('the maintenance windows chart', () => {
  it('has one bar per maintenance window, on a time axis, one row per service and environment', () => {
    const spec = maintenanceWindowsChart(campaign, at(NOW))!;
    expect(barsOf(spec)).toEqual([
      {
        row: 'billing · staging',
        run: 'r1',
        from: at(60),
        to: at(300),
        open: false,
        outcome: 'rolled back',
        label: '',
      },
      {
        row: 'billing · staging',
        run: 'r1',
        from: at(600),
        to: at(660),
        open: false,
        outcome: 'rolled back',
        label: 'r1 · 5m in 2 windows',
      },
      {
        row: 'billing · production',
        run: 'r2',
        from: at(1000),
        to: at(NOW),
        open: true,
        outcome: 'running',
        label: 'r2 · 5m so far',
      },
    ]);
    const s = spec as unknown as {
      encoding: { y: { field: string; sort: string[] } };
      layer: Array<{
        mark: { type: string };
        encoding: Record<string, { field?: string; type?: string; scale?: unknown }>;
      }>;
    };
    expect(s.encoding.y).toMatchObject({ field: 'row', sort: ['billing · staging', 'billing · production'] });
    expect(s.layer[0]!.mark.type).toBe('bar');
    expect(s.layer[0]!.encoding.x).toMatchObject({ field: 'from', type: 'temporal', scale: { type: 'utc' } });
    expect(s.layer[0]!.encoding.x2).toEqual({ field: 'to' });
    expect(s.layer[0]!.encoding.color).toMatchObject({
      field: 'outcome',
      scale: { domain: ['rolled back', 'running'] },
    });
  });

  it('orders rows by service, then by when each environment first went down', () => {
    const reports = [
      reportOf(
        'r7',
        'search',
        'production',
        'succeeded',
        [ev('step_succeeded', 'on', 900), ev('step_succeeded', 'off', 960)],
        NOW,
      ),
      reportOf(
        'r6',
        'search',
        'staging',
        'succeeded',
        [ev('step_succeeded', 'on', 100), ev('step_succeeded', 'off', 160)],
        NOW,
      ),
      reportOf(
        'r5',
        'billing',
        'production',
        'succeeded',
        [ev('step_succeeded', 'on', 500), ev('step_succeeded', 'off', 560)],
        NOW,
      ),
    ];
    const spec = maintenanceWindowsChart(reports, at(NOW)) as unknown as {
      encoding: { y: { sort: string[] } };
    };
    expect(spec.encoding.y.sort).toEqual(['billing · production', 'search · staging', 'search · production']);
  });

  it('leaves out a label that would run into the next window of its row', () => {
    const reports = [
      reportOf(
        'r8',
        'billing',
        'staging',
        'failed',
        [ev('step_succeeded', 'on', 0), ev('step_succeeded', 'off', 60)],
        NOW,
      ),
      reportOf(
        'r9',
        'billing',
        'staging',
        'succeeded',
        [ev('step_succeeded', 'on', 61), ev('step_succeeded', 'off', 86_400)],
        86_400,
      ),
    ];
    const bars = barsOf(maintenanceWindowsChart(reports, at(86_400))!);
    expect(bars.map((b) => [b.run, b.label])).toEqual([
      ['r8', ''],
      ['r9', 'r9 · 23h 58m'],
    ]);
  });

  it('is not drawn when no run had maintenance on', () => {
    expect(maintenanceWindowsChart([campaign[2]!], at(NOW))).toBeNull();
  });
});

describe('the checks chart', () => {
  const base = reportOf('r4', 'billing', 'staging', 'succeeded', [], NOW);
  const figures = (p95: number) => ({
    samples: 3,
    status: 200,
    'http.latency.p95_ms': p95,
    'latency.p95_ms': p95,
    'checks.total': 1,
  });

  it('puts each check step side by side, one group per figure in milliseconds', () => {
    const chart = checksSeries({
      ...base,
      checks: [
        { stepId: 'latency-before', at: new Date(at(10)).toISOString(), passed: true, figures: figures(2.5) },
        { stepId: 'latency-after', at: new Date(at(90)).toISOString(), passed: true, figures: figures(3.75) },
      ],
    })!;
    expect(chart).toEqual({
      title: 'Checks before and after',
      unit: 'ms',
      x: 'category',
      series: [
        {
          name: 'latency-before',
          points: [
            { x: 'http.latency.p95', y: 2.5 },
            { x: 'latency.p95', y: 2.5 },
          ],
        },
        {
          name: 'latency-after',
          points: [
            { x: 'http.latency.p95', y: 3.75 },
            { x: 'latency.p95', y: 3.75 },
          ],
        },
      ],
    });
    const spec = seriesChart(chart) as unknown as {
      data: { values: unknown[] };
      encoding: { xOffset: { field: string } };
      layer: Array<{ mark: { type: string } }>;
    };
    expect(spec.data.values).toEqual([
      { series: 'latency-before', x: 'http.latency.p95', y: 2.5 },
      { series: 'latency-before', x: 'latency.p95', y: 2.5 },
      { series: 'latency-after', x: 'http.latency.p95', y: 3.75 },
      { series: 'latency-after', x: 'latency.p95', y: 3.75 },
    ]);
    expect(spec.encoding.xOffset.field).toBe('series');
    expect(spec.layer[0]!.mark.type).toBe('bar');
  });

  it('tells a retried check apart by when it ran, and marks the failed try', () => {
    const chart = checksSeries({
      ...base,
      checks: [
        { stepId: 'latency-after', at: '2025-03-01T09:01:00.000Z', passed: false, figures: figures(900) },
        { stepId: 'latency-after', at: '2025-03-01T09:02:30.000Z', passed: true, figures: figures(4) },
      ],
    })!;
    expect(chart.series.map((s) => s.name)).toEqual([
      'latency-after 09:01:00 (failed)',
      'latency-after 09:02:30',
    ]);
  });

  it('is not drawn when no check measured a time', () => {
    expect(
      checksSeries({
        ...base,
        checks: [{ stepId: 'c', at: base.startedAt, passed: true, figures: { status: 200 } }],
      }),
    ).toBeNull();
  });
});

describe('the watch chart', () => {
  const samples = [0, 1, 2, 3].map((i) => ({
    at: at(i * 15),
    values: { error_rate: i < 2 ? 0 : 0.25, p95_ms: 80 + i, 'prometheus.error_rate': i < 2 ? 0.002 : null },
    breached: i < 2 ? [] : ['error_rate', 'prometheus.error_rate'],
  }));
  const watch = {
    stepId: 'watch-new-platform',
    status: 'failed' as const,
    outcome: 'error rate 25% > 1% in 2 of the last 2 samples',
    failed: true,
    everyMs: 15_000,
    samples,
    limits: [
      { key: 'error_rate', max: 0.01 },
      { key: 'prometheus.error_rate', max: 0.01 },
    ],
  };
  type Row = { figure: string; at: number; value: number; breached: string; limit: number | null };
  const rowsOf = (spec: ChartSpec) => (spec as unknown as { data: { values: Row[] } }).data.values;

  it('draws one panel per figure, error rates in percent, breaching samples apart, with each limit', () => {
    const spec = watchChart(watch)!;
    const rows = rowsOf(spec);
    expect([...new Set(rows.map((r) => r.figure))]).toEqual([
      'error rate (%)',
      'Prometheus error_rate',
      'p95 (ms)',
    ]);
    expect(rows.filter((r) => r.figure === 'error rate (%)')).toEqual(
      samples.map((s, i) => ({
        figure: 'error rate (%)',
        at: s.at,
        value: i < 2 ? 0 : 25,
        breached: i < 2 ? 'within' : 'breached',
        limit: 1,
      })),
    );
    // A query without a value has no point; p95 has no limit in this watch.
    expect(rows.filter((r) => r.figure === 'Prometheus error_rate')).toHaveLength(2);
    expect(rows.filter((r) => r.figure === 'p95 (ms)').every((r) => r.limit === null)).toBe(true);
    const panels = (
      spec as unknown as {
        vconcat: Array<{
          title: { text: string };
          layer: Array<{ mark: { type: string }; encoding: { y: { datum?: number } } }>;
        }>;
      }
    ).vconcat;
    expect(panels.map((p) => p.title.text)).toEqual(['error rate (%)', 'Prometheus error_rate', 'p95 (ms)']);
    // The limit as a rule where there is one: 1% on the error rate, 0.01 on the query, none on p95.
    expect(panels.map((p) => p.layer.find((l) => l.mark.type === 'rule')?.encoding.y.datum ?? null)).toEqual([
      1,
      0.01,
      null,
    ]);
    expect(spec).toMatchObject({ resolve: { scale: { x: 'shared', y: 'independent' } } });
  });

  it('is not drawn without a sample that has a figure', () => {
    expect(watchChart({ ...watch, samples: [{ at: at(0), values: {}, breached: [] }] })).toBeNull();
  });

  it('renders to a PNG with the breaching samples in red', async () => {
    const image = await renderPng(watchChart(watch)!, { scale: 1 });
    expect(image.warnings).toEqual([]);
    const png = decodePng(image.png);
    expect(png.width).toBeGreaterThan(SERIES_WIDTH);
    expect(png.count((r, g, b) => r === 0xc6 && g === 0x28 && b === 0x28)).toBeGreaterThan(50);
  });
});

describe('rendering', () => {
  it('draws the campaign chart as a PNG of the spec’s size, twice over for sharpness', async () => {
    const image = await renderPng(maintenanceWindowsChart(campaign, at(NOW))!);
    expect(image.warnings).toEqual([]);
    const png = decodePng(image.png);
    expect([png.width, png.height]).toEqual([2 * WINDOWS_WIDTH, 2 * windowsHeight(2)]);
    expect([image.width, image.height]).toEqual([png.width, png.height]);
    // Each outcome's colour is on it: the bars were drawn.
    expect(png.count((r, g, b) => r === 0xef && g === 0x6c && b === 0x00)).toBeGreaterThan(100);
    expect(png.count((r, g, b) => r === 0x15 && g === 0x65 && b === 0xc0)).toBeGreaterThan(100);
  });

  it('draws samples over time as lines, for a watch', async () => {
    const spec = seriesChart({
      title: 'p95 while watching',
      unit: 'ms',
      x: 'time',
      series: [{ name: 'p95', points: [0, 30, 60, 90].map((s, i) => ({ x: at(s), y: 10 + i * i })) }],
    });
    expect((spec as { mark?: { type: string } }).mark?.type).toBe('line');
    const image = await renderPng(spec, { scale: 1 });
    expect(image.warnings).toEqual([]);
    const png = decodePng(image.png);
    expect([png.width, png.height]).toEqual([SERIES_WIDTH, SERIES_HEIGHT]);
  });

  it('draws the labels: without any font the same chart has far less ink', async () => {
    const spec = maintenanceWindowsChart(campaign, at(NOW))!;
    const ink = (png: Png) => png.count((r, g, b) => r + g + b < 600);
    const labelled = decodePng((await renderPng(spec)).png);
    const bare = decodePng(
      (await renderPng(spec, { fonts: { files: [], family: undefined, system: false } })).png,
    );
    expect(ink(labelled) - ink(bare)).toBeGreaterThan(5000);
  });

  it.runIf(!chartFonts().system)(
    'draws the labels with the packaged font alone, as on a machine with no fonts',
    async () => {
      const spec = maintenanceWindowsChart(campaign, at(NOW))!;
      const ink = (png: Png) => png.count((r, g, b) => r + g + b < 600);
      const packaged = decodePng((await renderPng(spec, { fonts: chartFonts() })).png);
      const bare = decodePng(
        (await renderPng(spec, { fonts: { files: [], family: undefined, system: false } })).png,
      );
      expect(ink(packaged) - ink(bare)).toBeGreaterThan(5000);
    },
  );

  it('uses the packaged font when it resolves, and the machine’s fonts when it does not', () => {
    expect(chartFonts((id) => `/fonts/${id}`)).toEqual({
      files: [
        '/fonts/open-sans-fontface/fonts/Regular/OpenSans-Regular.ttf',
        '/fonts/open-sans-fontface/fonts/Bold/OpenSans-Bold.ttf',
      ],
      family: 'Open Sans',
      system: false,
    });
    const missing = (id: string): string => {
      throw new Error(`Cannot find module '${id}'`);
    };
    expect(chartFonts(missing)).toEqual({ files: [], family: undefined, system: true });
  });
});

interface Png {
  width: number;
  height: number;
  /** How many pixels match. */
  count(match: (r: number, g: number, b: number, a: number) => boolean): number;
}

/** Reads an 8-bit RGBA PNG: signature, chunk CRCs, IHDR, the inflated IDAT stream and its row filters. */
function decodePng(bytes: Uint8Array): Png {
  const buf = Buffer.from(bytes);
  expect(buf.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  let offset = 8;
  let ihdr: Buffer | undefined;
  const idat: Buffer[] = [];
  for (;;) {
    const length = buf.readUInt32BE(offset);
    const type = buf.toString('latin1', offset + 4, offset + 8);
    const data = buf.subarray(offset + 8, offset + 8 + length);
    expect(buf.readUInt32BE(offset + 8 + length), `CRC of ${type}`).toBe(
      crc32(buf.subarray(offset + 4, offset + 8 + length)),
    );
    if (type === 'IHDR') ihdr = data;
    if (type === 'IDAT') idat.push(data);
    offset += 12 + length;
    if (type === 'IEND') break;
  }
  expect(ihdr, 'IHDR').toBeDefined();
  const width = ihdr!.readUInt32BE(0);
  const height = ihdr!.readUInt32BE(4);
  expect([ihdr![8], ihdr![9], ihdr![12]], 'bit depth, colour type RGBA, no interlace').toEqual([8, 6, 0]);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * 4;
  expect(raw.length).toBe(height * (stride + 1));
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    expect(filter, `row ${y}'s filter`).toBeLessThanOrEqual(4);
    for (let x = 0; x < stride; x++) {
      const value = raw[y * (stride + 1) + 1 + x]!;
      const a = x >= 4 ? pixels[y * stride + x - 4]! : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x]! : 0;
      const c = x >= 4 && y > 0 ? pixels[(y - 1) * stride + x - 4]! : 0;
      let predictor = 0;
      if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      pixels[y * stride + x] = (value + predictor) & 0xff;
    }
  }
  return {
    width,
    height,
    count(match) {
      let n = 0;
      for (let i = 0; i < pixels.length; i += 4)
        if (match(pixels[i]!, pixels[i + 1]!, pixels[i + 2]!, pixels[i + 3]!)) n++;
      return n;
    },
  };
}
