import type { KnownBlock } from '@slack/types';
import { approverList, isActive } from '../../engine/policy.ts';
import type { RunState } from '../../engine/types.ts';
import { formatDuration } from '../../duration.ts';
import type { LoadedPlan } from '../../plan/load.ts';
import { buildReport } from '../../report/report.ts';
import type { Campaign, CampaignRun } from '../../runs/home.ts';
import { oneOf, person } from '../../words.ts';
import {
  cutMrkdwn,
  dayTimeOf,
  escapeMrkdwn,
  escapeTruncated,
  mrkdwn,
  sectionsOf,
  timeOf,
  user,
} from './format.ts';
import { heldSince } from './status-message.ts';

// The campaign: services × environments, each with its latest run's state, who it waits on since
// when, its downtime, open incidents, a lock, a scheduled start, and a link to the run's thread. One
// renderer for the App Home tab and `/migrate list`.

/** Links to runs' threads (their status messages' permalinks), by run id. */
export type RunLinks = ReadonlyMap<string, string>;

export const statusIcon: Record<RunState['status'], string> = {
  running: '⏳',
  waiting: '✋',
  failed: '❌',
  rolling_back: '↩️',
  rolled_back: '↩️',
  succeeded: '✅',
  aborted: '⛔',
};

/** The services and their environments: every plan's, and any that only old runs still name. */
export function campaignLayout(
  plans: readonly LoadedPlan[],
  campaign: Campaign,
): Array<{ service: string; environments: string[] }> {
  const layout = new Map<string, string[]>();
  for (const { plan } of plans) layout.set(plan.service, Object.keys(plan.environments));
  for (const { record } of [...campaign.latest, ...campaign.adhoc]) {
    const envs = layout.get(record.state.service) ?? [];
    if (!envs.includes(record.state.environment)) envs.push(record.state.environment);
    layout.set(record.state.service, envs);
  }
  return [...layout.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([service, environments]) => ({ service, environments }));
}

/** A run's id, linked to its thread when the link is known. */
export function runLink(runId: string, links: RunLinks): string {
  const link = links.get(runId);
  return link && /^https?:\/\/[^\s<>|]+$/.test(link) ? `<${link}|${runId}>` : runId;
}

/** Where a run is and who it waits on since when, in a few words: a cell of the matrix. */
export function runState(run: RunState): string {
  const step = run.steps.find(
    (s) => s.undo !== null || ['running', 'awaiting_approval', 'failed'].includes(s.status),
  );
  const starters =
    run.policy.starters.length > 0
      ? mrkdwn(oneOf(run.policy.starters.map((u) => [person(u)])))
      : 'anyone in the channel';
  switch (run.status) {
    case 'waiting':
      if (step?.status === 'awaiting_approval')
        return `waits on ${mrkdwn(approverList(run))} to approve \`${step.id}\`${step.approvalRequestedAt ? ` since ${timeOf(step.approvalRequestedAt)}` : ''}`;
      return `waits on ${starters} to press Done on \`${step?.id ?? '?'}\`${step?.startedAt ? ` since ${timeOf(step.startedAt)}` : ''}`;
    case 'running':
      return `running \`${step?.id ?? '?'}\`${step?.startedAt ? ` since ${timeOf(step.startedAt)}` : ''}`;
    case 'failed':
      return `\`${step?.id ?? '?'}\` ${step?.undo === 'failed' ? 'could not be undone' : 'failed'}${step?.finishedAt ? ` at ${timeOf(step.finishedAt)}` : ''}: waits on ${starters} for Retry, Skip or Roll back`;
    case 'rolling_back':
      return `rolling back${step ? ` \`${step.id}\`` : ''}`;
    case 'succeeded':
    case 'rolled_back':
    case 'aborted':
      return `${run.status.replace('_', ' ')} ${run.finishedAt ? `${dayTimeOf(run.finishedAt)}, took ${formatDuration(run.finishedAt - run.startedAt)}` : ''}`.trim();
  }
}

/** The downtime of a run: "maintenance on since 02:14" while it is on, else the total. */
function downtimeOf(entry: CampaignRun, now: number): string | null {
  const { state, specs } = entry.record;
  const down = buildReport(state, specs, entry.timeline, now).downtime;
  const on = heldSince(state, specs).find((h) => h.label === 'maintenance on');
  if (on && isActive(state.status)) return `maintenance on since ${timeOf(on.since)}`;
  if (!down || down.ms === null) return null;
  return down.to === null
    ? `maintenance on since ${timeOf(Date.parse(down.windows.at(-1)?.from ?? down.from))}`
    : `downtime ${formatDuration(down.ms)}`;
}

/** One environment's line: its latest run, then what else holds it (incidents, a lock, a scheduled start). */
function cellLine(
  environment: string,
  entry: CampaignRun | undefined,
  campaign: Campaign,
  service: string,
  links: RunLinks,
  now: number,
): string {
  const parts: string[] = [];
  if (entry) {
    const { state } = entry.record;
    parts.push(`${statusIcon[state.status]} ${runLink(state.id, links)} ${runState(state)}`);
    const down = downtimeOf(entry, now);
    if (down) parts.push(down);
    for (const incident of entry.record.incidents)
      parts.push(
        `🔴 ${escapeMrkdwn(incident.severity)} open since ${timeOf(incident.openedAt)}: ${escapeTruncated(incident.summary, 80)}`,
      );
  } else {
    parts.push('▫️ no run yet');
  }
  const lock = campaign.locks.find((l) => l.service === service && l.environment === environment);
  if (lock) parts.push(`🔒 locked by ${user(lock.lockedBy)}: ${escapeTruncated(lock.reason, 80)}`);
  for (const s of campaign.scheduled.filter((x) => x.service === service && x.environment === environment))
    parts.push(`⏰ \`${s.id}\` starts ${dayTimeOf(s.startAt)} for ${user(s.requestedBy)}`);
  for (const adhoc of campaign.adhoc.filter(
    (a) => a.record.state.service === service && a.record.state.environment === environment,
  ))
    parts.push(
      `ad hoc ${runLink(adhoc.record.state.id, links)} \`${adhoc.record.state.steps[0]?.id ?? '?'}\` ${runState(adhoc.record.state)}`,
    );
  return `\`${environment}\`  ${parts.join(' · ')}`;
}

/** The matrix as sections: one per service, one line per environment. */
export function renderCampaign(
  plans: readonly LoadedPlan[],
  campaign: Campaign,
  now: number,
  links: RunLinks = new Map(),
  maxSections = 40,
): KnownBlock[] {
  const layout = campaignLayout(plans, campaign);
  if (layout.length === 0) return sectionsOf(['No plans are loaded, and no run has been started yet.']);
  const services = layout.map(({ service, environments }) => {
    const lines = environments.map((environment) =>
      cellLine(
        environment,
        campaign.latest.find(
          (e) => e.record.state.service === service && e.record.state.environment === environment,
        ),
        campaign,
        service,
        links,
        now,
      ),
    );
    return cutMrkdwn([`*${escapeMrkdwn(service)}*`, ...lines].join('\n'), 3000);
  });
  // One section per service keeps a service together; sectionsOf bounds the count.
  return sectionsOf(services, maxSections);
}

/** The runs whose threads the matrix links to. */
export function linkedRuns(campaign: Campaign): CampaignRun[] {
  return [...campaign.latest, ...campaign.adhoc];
}
