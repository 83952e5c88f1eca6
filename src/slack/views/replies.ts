import type { KnownBlock } from '@slack/types';
import { isActive } from '../../engine/policy.ts';
import type { Offer } from '../../engine/types.ts';
import type { LoadedPlan } from '../../plan/load.ts';
import type { Campaign } from '../../runs/home.ts';
import type { RunSummary } from '../../runs/lookup.ts';
import { ActionId, buttonValue } from '../action-ids.ts';
import { commandTable } from '../command-table.ts';
import { renderCampaign, runLink, statusIcon, type RunLinks } from './campaign.ts';
import { dayTimeOf, runLabel, sectionsOf, user } from './format.ts';

export interface Reply {
  text: string;
  blocks?: KnownBlock[];
}

export function renderHelp(): Reply {
  const lines = commandTable.map((c) => `\`${c.usage}\`  ${c.does}`);
  return {
    text: 'Ferry runs migration runbooks.',
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: '*Ferry* runs migration runbooks from plan files, step by step, with approvals and one-button rollback.',
        },
      },
      ...sectionsOf(lines),
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: 'Where a run id (like `r12`) is left out, the channel’s only active run is meant.',
          },
        ],
      },
    ],
  };
}

/**
 * `/migrate list`: the campaign matrix (the App Home tab's renderer), then the most recent runs,
 * active first, each linked to its thread where the link is known.
 */
export function renderList(
  runs: readonly RunSummary[],
  plans: readonly LoadedPlan[],
  campaign: Campaign,
  now: number,
  links: RunLinks = new Map(),
): Reply {
  const active = runs.filter((r) => isActive(r.status));
  const recent = runs
    .slice(0, 15)
    .map(
      (r) =>
        `${statusIcon[r.status]} ${runLink(r.id, links)} ${r.service} ${r.environment}${r.purpose === 'adhoc' ? ' (ad hoc)' : ''}: ${runLabel[r.status]} (by ${user(r.startedBy)}, started ${dayTimeOf(r.startedAt)})`,
    );
  return {
    text: `${active.length} active run(s)`,
    // Each part in as many sections as it needs: a long list must not break Slack's 3000 characters.
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: 'Services × environments' } },
      ...renderCampaign(plans, campaign, now, links, 30),
      { type: 'divider' },
      {
        type: 'context',
        elements: [{ type: 'mrkdwn', text: `*Recent runs* (${runs.length > 15 ? 'the latest 15' : 'all'})` }],
      },
      ...sectionsOf(recent.length ? recent : ['No runs yet.'], 10),
    ],
  };
}

/** A refusal with a way forward: an expired approval request gets an Ask again button. */
export function renderOffer(text: string, runId: string, offer: Offer): Reply {
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      {
        type: 'actions',
        block_id: `offer:${offer.stepId}:${offer.shownFor}`,
        elements: [
          {
            type: 'button',
            text: { type: 'plain_text', text: 'Ask again' },
            action_id: ActionId.askAgain,
            value: buttonValue(runId, offer.stepId, offer.shownFor),
            style: 'primary',
          },
        ],
      },
    ],
  };
}
