import type { KnownBlock } from '@slack/types';
import { formatMs, type RunReport } from '../../report/report.ts';
import { truncate } from './format.ts';
import type { Reply } from './replies.ts';

/** The report's headline figures in Slack; the full Markdown goes up as a file in the run's thread. */
export function renderReportSummary(report: RunReport, uploaded: boolean): Reply {
  const downtime = report.downtime
    ? `${formatMs(report.downtime.ms)}${report.downtime.to ? '' : ' and counting'}`
    : 'none recorded';
  const blocks: KnownBlock[] = [
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text:
          `*Report ${report.id}*: ${report.service} ${report.environment}, ${report.status.replace('_', ' ')}\n` +
          `Took ${formatMs(report.durationMs)} · downtime ${downtime} · ${report.steps.filter((s) => s.status === 'succeeded').length} of ${report.steps.length} steps succeeded · ${report.refusals} refused action(s)`,
      },
    },
  ];
  if (report.checks.length > 0) {
    const keys = [...new Set(report.checks.flatMap((c) => Object.keys(c.figures)))].sort();
    const width = Math.max(6, ...keys.map((k) => k.length));
    const header = `${'figure'.padEnd(width)}  ${report.checks.map((c) => c.stepId.padEnd(12)).join('  ')}`;
    const rows = keys.map(
      (k) =>
        `${k.padEnd(width)}  ${report.checks.map((c) => String(c.figures[k] ?? '–').padEnd(12)).join('  ')}`,
    );
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: truncate(`\`\`\`\n${[header, ...rows].join('\n')}\n\`\`\``, 3000) },
    });
  }
  if (uploaded)
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: 'The full report is in the run’s thread.' }],
    });
  return { text: `Report ${report.id}: ${report.status}, downtime ${downtime}`, blocks };
}
