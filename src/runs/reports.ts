import { toFerryError } from '../errors.ts';
import {
  checksSeries,
  maintenanceWindowsChart,
  renderPng,
  seriesChart,
  watchChart,
  type ChartSpec,
} from '../report/charts.ts';
import {
  buildReport,
  renderMarkdown,
  renderSummaryMarkdown,
  type ChartFile,
  type RunReport,
} from '../report/report.ts';
import { compareWithForecast } from '../report/forecast.ts';
import { messagesOf } from '../store/slack-messages.ts';
import { findRuns, readTimeline } from '../store/runs.ts';
import { readWatchSamples } from '../store/watch-samples.ts';
import type { RunsDeps } from './deps.ts';
import { showRun } from './lookup.ts';

// `/migrate report`: downtime, step timings and checks side by side, as Markdown, JSON and charts.

/** A chart to upload beside the Markdown, under the file name the Markdown embeds it by. */
export interface ChartUpload {
  filename: string;
  title: string;
  png: Uint8Array;
}

type Deps = Pick<RunsDeps, 'db' | 'clock' | 'log'>;

/** The run's report, with where its status message lives so the report can go into its thread. */
export async function reportRun(
  deps: Deps,
  runId: string,
): Promise<{
  report: RunReport;
  markdown: string;
  thread: { channel: string; ts: string } | null;
  charts: ChartUpload[];
}> {
  const { report, thread } = await readReport(deps, runId);
  const series = checksSeries(report);
  const checks = series
    ? await draw(deps, seriesChart(series), {
        filename: `ferry-${report.id}-checks.png`,
        title: `Report ${report.id}: checks before and after`,
        alt: `Checks of ${report.id} before and after, side by side`,
      })
    : null;
  // Each watch's samples beside the checks: what the service did in the minutes after the change.
  const watches = new Map<string, Awaited<ReturnType<typeof draw>>>();
  for (const watch of report.watches) {
    const spec = watchChart(watch);
    if (!spec) continue;
    watches.set(
      watch.stepId,
      await draw(deps, spec, {
        filename: `ferry-${report.id}-watch-${watch.stepId}.png`,
        title: `Report ${report.id}: watch ${watch.stepId}`,
        alt: `The samples of watch ${watch.stepId}, with its limits`,
      }),
    );
  }
  return {
    report,
    markdown: renderMarkdown(report, {
      ...(checks ? { checks: checks.file } : {}),
      watches: new Map([...watches].map(([id, chart]) => [id, chart.file])),
    }),
    thread,
    charts: [checks, ...watches.values()].flatMap((c) => (c?.upload ? [c.upload] : [])),
  };
}

/** `/migrate report --all`: this channel's runs, newest first, as one Markdown table and a chart of their maintenance windows. */
export async function reportChannel(
  deps: Deps,
  channel: string,
): Promise<{ reports: RunReport[]; markdown: string; charts: ChartUpload[] }> {
  // Only this channel's runs: a private channel's runs must not surface wherever --all is typed.
  const reports: RunReport[] = [];
  for (const run of await findRuns(deps.db, { channel, limit: 200 }))
    reports.push((await readReport(deps, run.id)).report);
  const spec = maintenanceWindowsChart(reports, deps.clock.now());
  const windows = spec
    ? await draw(deps, spec, {
        filename: 'ferry-runs-windows.png',
        title: `Maintenance windows (${reports.length} runs)`,
        alt: 'Maintenance windows by service and environment',
      })
    : null;
  return {
    reports,
    markdown: renderSummaryMarkdown(reports, windows?.file),
    charts: windows?.upload ? [windows.upload] : [],
  };
}

async function readReport(
  deps: Deps,
  runId: string,
): Promise<{ report: RunReport; thread: { channel: string; ts: string } | null }> {
  const record = await showRun(deps, runId);
  const built = buildReport(
    record.state,
    record.specs,
    await readTimeline(deps.db, runId),
    deps.clock.now(),
    await readWatchSamples(deps.db, runId),
  );
  // What the run was expected to take at its start, beside what it took.
  const report: RunReport = record.forecast
    ? { ...built, forecast: compareWithForecast(record.state, record.forecast, built.downtime?.ms ?? null) }
    : built;
  const status = (await messagesOf(deps.db, runId)).find((m) => m.kind === 'status');
  return { report, thread: status ? { channel: status.channel, ts: status.ts } : null };
}

/** A chart drawn, or, when drawing fails, the report without it and the reason in its place. */
async function draw(
  deps: Deps,
  spec: ChartSpec,
  file: { filename: string; title: string; alt: string },
): Promise<{ file: ChartFile; upload: ChartUpload | null }> {
  try {
    const image = await renderPng(spec);
    if (image.warnings.length > 0)
      deps.log.warn(
        { chart: file.filename, warnings: image.warnings },
        'a report chart was drawn with warnings',
      );
    return {
      file: { filename: file.filename, alt: file.alt },
      upload: { filename: file.filename, title: file.title, png: image.png },
    };
  } catch (error) {
    deps.log.error({ err: error, chart: file.filename }, 'could not draw a report chart');
    return { file: { failed: toFerryError(error).message }, upload: null };
  }
}
