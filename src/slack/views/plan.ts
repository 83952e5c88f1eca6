import type { KnownBlock } from '@slack/types';
import { fourEyes } from '../../engine/policy.ts';
import type { LoadedPlan } from '../../plan/load.ts';
import type { Forecast } from '../../report/forecast.ts';
import type { StepPreview } from '../../runs/preview.ts';
import { forecastSection, stepForecast } from './forecast.ts';
import { escapeMrkdwn, truncate } from './format.ts';
import type { Reply } from './replies.ts';

/** `/migrate plan`: each step and what it would change, with blockers; a dry run changes nothing. */
export function renderPlan(
  service: string,
  environment: string,
  fourEyes: boolean,
  steps: readonly StepPreview[],
  /** How long it should take, from earlier runs, and when it may start (`windows:`, described). */
  timing: { forecast: Forecast | null; windows?: string } = { forecast: null },
): Reply {
  const lines = steps.map((step, i) => {
    const gate = step.needsApproval ? ' ✋ _needs approval_' : '';
    const noReturn = step.irreversible
      ? `\n      🚧 *point of no return*: after this, Roll back is no longer offered.${step.forwardFix ? ` Forward fix: ${escapeMrkdwn(step.forwardFix)}` : ''}`
      : '';
    const blocked = step.blocker ? `\n      ⛔ ${escapeMrkdwn(step.blocker)}` : '';
    const unread = step.readError
      ? `\n      ⚠️ could not read the current state: ${escapeMrkdwn(step.readError)}`
      : '';
    return `${i + 1}. \`${step.id}\` (${step.kind})${gate}${stepForecast(timing.forecast, i)}\n      ${escapeMrkdwn(step.text)}${noReturn}${blocked}${unread}`;
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
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: summary } },
      { type: 'section', text: { type: 'mrkdwn', text: forecastSection(timing.forecast, timing.windows) } },
      ...sections.slice(0, 45),
    ],
  };
}

/** `/migrate plan <service>` with no environment: the service's environments, to pick one. */
export function renderEnvironments(loaded: LoadedPlan): Reply {
  const { plan } = loaded;
  const lines = Object.entries(plan.environments).map(
    ([name, env]) =>
      `• \`${escapeMrkdwn(name)}\`: ${env.steps.length} step${env.steps.length === 1 ? '' : 's'}${fourEyes(name, env) ? ', four eyes' : ''}${env.steps.some((s) => s.approval === 'required') ? ', approvals' : ''} · \`/migrate plan ${escapeMrkdwn(plan.service)} ${escapeMrkdwn(name)}\``,
  );
  const text = `*${escapeMrkdwn(plan.service)}* has ${lines.length} environment${lines.length === 1 ? '' : 's'} (${escapeMrkdwn(loaded.file)}). Name one for a dry run:`;
  return {
    text: `${plan.service} environments: ${Object.keys(plan.environments).join(', ')}`,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: truncate(`${text}\n${lines.join('\n')}`, 3000) } },
    ],
  };
}
