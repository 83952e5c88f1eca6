import type { KnownBlock } from '@slack/types';
import type { StepPreview } from '../../runs/preview.ts';
import { escapeMrkdwn, truncate } from './format.ts';
import type { Reply } from './replies.ts';

/** `/migrate plan`: each step and what it would change, with blockers; a dry run changes nothing. */
export function renderPlan(
  service: string,
  environment: string,
  fourEyes: boolean,
  steps: readonly StepPreview[],
): Reply {
  const lines = steps.map((step, i) => {
    const gate = step.needsApproval ? ' ✋ _needs approval_' : '';
    const blocked = step.blocker ? `\n      ⛔ ${escapeMrkdwn(step.blocker)}` : '';
    const unread = step.readError
      ? `\n      ⚠️ could not read the current state: ${escapeMrkdwn(step.readError)}`
      : '';
    return `${i + 1}. \`${step.id}\` (${step.kind})${gate}\n      ${escapeMrkdwn(step.text)}${blocked}${unread}`;
  });
  const blocked = steps.filter((s) => s.blocker).length;
  const summary = `Dry run of *${service} ${environment}*: ${steps.length} steps, nothing was changed.${fourEyes ? ' Four eyes: approvals need someone other than the starter.' : ''}${blocked ? ` ⛔ ${blocked} step(s) would be blocked now.` : ''}`;
  // Sections hold at most 3000 characters: split the step list across as many as it needs.
  const sections: KnownBlock[] = [];
  let chunk = '';
  for (const line of lines) {
    if (chunk && chunk.length + line.length + 1 > 2900) {
      sections.push({ type: 'section', text: { type: 'mrkdwn', text: chunk } });
      chunk = '';
    }
    chunk = chunk ? `${chunk}\n${line}` : truncate(line, 2900);
  }
  if (chunk) sections.push({ type: 'section', text: { type: 'mrkdwn', text: chunk } });
  return {
    text: `Dry run of ${service} ${environment}: ${steps.length} steps, nothing changed`,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: summary } }, ...sections.slice(0, 45)],
  };
}
