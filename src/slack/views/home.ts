import { createHash } from 'node:crypto';
import type { KnownBlock } from '@slack/types';
import type { LoadedPlan } from '../../plan/load.ts';
import type { Campaign } from '../../runs/home.ts';
import { renderCampaign, type RunLinks } from './campaign.ts';

export interface HomeView {
  type: 'home';
  blocks: KnownBlock[];
}

/** Slack's limit on a Home tab's blocks. */
const MAX_HOME_BLOCKS = 100;

/**
 * Ferry's App Home tab: the campaign matrix. It carries no "as of" time: it is republished when the
 * campaign changes, and the same campaign must render the same view (see `homeDigest`).
 */
export function renderHome(
  plans: readonly LoadedPlan[],
  campaign: Campaign,
  now: number,
  links: RunLinks,
): HomeView {
  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: 'Migrations: services × environments' } },
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: "Each environment's latest run: where it is, who it waits on since when, its downtime, open incidents, locks and scheduled starts. A run id opens its thread. Kept up to date as runs change; `/migrate list` shows the same in a channel.",
        },
      ],
    },
    { type: 'divider' },
    ...renderCampaign(plans, campaign, now, links, MAX_HOME_BLOCKS - 4),
  ];
  return { type: 'home', blocks };
}

/** What a viewer was shown, to publish a campaign to each person once. */
export function homeDigest(view: HomeView): string {
  return createHash('sha256').update(JSON.stringify(view)).digest('hex').slice(0, 32);
}
