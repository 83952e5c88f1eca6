import type { KnownBlock } from '@slack/types';
import { isActive } from '../../engine/policy.ts';
import type { Offer } from '../../engine/types.ts';
import type { LoadedPlan } from '../../plan/load.ts';
import type { ScheduledStart } from '../../runs/schedules.ts';
import type { RunSummary } from '../../runs/lookup.ts';
import { ActionId, buttonValue } from '../action-ids.ts';
import { commandTable } from '../command-table.ts';
import { runLabel, sectionsOf, user } from './format.ts';

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

export function renderList(
  runs: readonly RunSummary[],
  plans: readonly LoadedPlan[],
  scheduled: readonly ScheduledStart[] = [],
): Reply {
  const active = runs.filter((r) => isActive(r.status));
  const lines = runs
    .slice(0, 20)
    .map(
      (r) =>
        `\`${r.id}\` ${r.service} ${r.environment}: ${runLabel[r.status]} (by ${user(r.startedBy)}, ${r.startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC)`,
    );
  lines.unshift(
    ...scheduled.map(
      (s) =>
        `⏰ \`${s.id}\` ${s.service} ${s.environment}: starts ${s.startAt.toISOString().slice(0, 16).replace('T', ' ')} UTC (for ${user(s.requestedBy)})`,
    ),
  );
  const envs = [...new Set(plans.flatMap((p) => Object.keys(p.plan.environments)))].sort();
  const matrix = plans
    .map((p) => {
      const cells = envs.map((env) => {
        if (!p.plan.environments[env]) return `${env} –`;
        const last = runs.find((r) => r.service === p.plan.service && r.environment === env);
        const next = scheduled.find((s) => s.service === p.plan.service && s.environment === env);
        return `${env} ${last ? `${statusIcon(last.status)} ${last.id}` : '▫️'}${next ? ` ⏰ ${next.id}` : ''}`;
      });
      return `*${p.plan.service}*  ${cells.join('  ·  ')}`;
    })
    .join('\n');
  return {
    text: `${active.length} active run(s)`,
    // Each part in as many sections as it needs: a long list must not break Slack's 3000 characters.
    blocks: [
      ...sectionsOf(lines.length ? lines : ['No runs yet.'], 20),
      { type: 'divider' },
      ...sectionsOf(matrix ? matrix.split('\n') : ['No plans loaded.'], 20),
    ],
  };
}

function statusIcon(status: RunSummary['status']): string {
  return {
    running: '⏳',
    waiting: '✋',
    failed: '❌',
    rolling_back: '↩️',
    rolled_back: '↩️',
    succeeded: '✅',
    aborted: '⛔',
  }[status];
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
