import { buildReport, renderMarkdown, renderSummaryMarkdown, type RunReport } from '../report/report.ts';
import { messagesOf } from '../store/slack-messages.ts';
import { findRuns, readTimeline } from '../store/runs.ts';
import type { RunsDeps } from './deps.ts';
import { showRun } from './lookup.ts';

// `/migrate report`: downtime, step timings and checks side by side, as Markdown and JSON.

/** The run's report, with where its status message lives so the report can go into its thread. */
export async function reportRun(
  deps: Pick<RunsDeps, 'db' | 'clock'>,
  runId: string,
): Promise<{ report: RunReport; markdown: string; thread: { channel: string; ts: string } | null }> {
  const record = await showRun(deps, runId);
  const report = buildReport(
    record.state,
    record.specs,
    await readTimeline(deps.db, runId),
    deps.clock.now(),
  );
  const status = (await messagesOf(deps.db, runId)).find((m) => m.kind === 'status');
  return {
    report,
    markdown: renderMarkdown(report),
    thread: status ? { channel: status.channel, ts: status.ts } : null,
  };
}

/** `/migrate report --all`: this channel's runs, newest first, as one Markdown table. */
export async function reportChannel(
  deps: Pick<RunsDeps, 'db' | 'clock'>,
  channel: string,
): Promise<{ reports: RunReport[]; markdown: string }> {
  // Only this channel's runs: a private channel's runs must not surface wherever --all is typed.
  const reports: RunReport[] = [];
  for (const run of await findRuns(deps.db, { channel, limit: 200 }))
    reports.push((await reportRun(deps, run.id)).report);
  return { reports, markdown: renderSummaryMarkdown(reports) };
}
