import type { App, RespondFn } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import { fourEyes } from '../../engine/policy.ts';
import { act, openIncident, resolveLatestIncident, type PersonEvent } from '../../runs/act.ts';
import type { RunsDeps } from '../../runs/deps.ts';
import { lock, unlock } from '../../runs/locks.ts';
import { campaign } from '../../runs/home.ts';
import { listRuns, planOf, resolveRunId, showRun } from '../../runs/lookup.ts';
import { addNote } from '../../runs/notes.ts';
import { environmentOf } from '../../runs/plans.ts';
import { forecastFor } from '../../runs/forecasts.ts';
import { dryRun } from '../../runs/preview.ts';
import { describeWindows } from '../../plan/windows.ts';
import { reportChannel, reportRun, type ChartUpload } from '../../runs/reports.ts';
import { cancelScheduledStart, scheduleStart } from '../../runs/schedules.ts';
import { startAdhoc, startRun } from '../../runs/start.ts';
import { parseCommand, type Command } from '../command-parser.ts';
import { handOverAfterAck } from '../deliveries.ts';
import type { Permalinks } from '../permalinks.ts';
import { linkedRuns } from '../views/campaign.ts';
import { forecastSentence } from '../views/forecast.ts';
import { renderEnvironments, renderPlan } from '../views/plan.ts';
import { renderReportSummary } from '../views/report.ts';
import { renderHelp, renderList, type Reply } from '../views/replies.ts';
import { dayTimeOf, mrkdwn } from '../views/format.ts';
import { renderStatusMessage } from '../views/status-message.ts';
import { failureReply } from './failures.ts';

export interface ListenerDeps {
  runs: RunsDeps;
  log: Logger;
  now: () => number;
  /** Links to runs' threads in `/migrate list`; without it the list names runs without links. */
  permalinks?: Permalinks;
}

/** `/migrate`: ack at once, then record the decision; replies go to the person who typed it. */
export function registerCommands(app: App, deps: ListenerDeps): void {
  app.command('/migrate', async ({ command, ack, respond, client, context }) => {
    // Slack sends &, < and > in slash-command text as HTML entities; views escape on the way out.
    const parsed = parseCommand(decodeEntities(command.text));
    if (!parsed.ok) {
      await ack({ response_type: 'ephemeral', text: `⚠️ ${parsed.error}` });
      return;
    }
    if (parsed.command.name === 'help') {
      await ack({ response_type: 'ephemeral', ...renderHelp() });
      return;
    }
    await ack();
    // Only what the reply needs is held while the work waits its turn, not Slack's whole request.
    const who = { user: command.user_id, channel: command.channel_id };
    await handOverAfterAck(context, () => answer(parsed.command, who, { respond, client }, deps));
  });
}

/** Runs the command and replies to the person who typed it. */
async function answer(
  command: Command,
  who: { user: string; channel: string },
  slack: { respond: RespondFn | undefined; client: WebClient },
  deps: ListenerDeps,
): Promise<void> {
  // Slack always sends a response_url; without one, the reply goes as an ephemeral message.
  const say = async (reply: Reply) => {
    const message = { text: reply.text, ...(reply.blocks ? { blocks: reply.blocks } : {}) };
    try {
      if (typeof slack.respond === 'function')
        await slack.respond({ response_type: 'ephemeral', replace_original: false, ...message });
      else await slack.client.chat.postEphemeral({ channel: who.channel, user: who.user, ...message });
    } catch (error) {
      deps.log.warn({ err: error, command: command.name }, 'could not answer a /migrate command');
    }
  };
  try {
    const reply = await execute(command, who, deps, slack.client);
    if (reply) await say(reply);
  } catch (error) {
    await say({ text: failureReply(error, deps.log, `running \`/migrate ${command.name}\``) });
  }
}

/** What a subcommand does, in the use cases' terms; every reply is for the person who typed it. */
async function execute(
  command: Command,
  who: { user: string; channel: string },
  deps: ListenerDeps,
  client: WebClient,
): Promise<Reply | null> {
  const { runs } = deps;
  /** Acts on the named run, or on the channel's only active one. */
  const actOn = async (ref: string | undefined, event: PersonEvent) => {
    const runId = await resolveRunId(runs, who.channel, ref);
    return { runId, outcome: await act(runs, { runId, user: who.user, channel: who.channel, event }) };
  };
  switch (command.name) {
    case 'help':
      return renderHelp();
    case 'list': {
      const matrix = await campaign(runs);
      const recent = await listRuns(runs, { limit: 50 });
      const links = deps.permalinks
        ? await deps.permalinks.forRuns(
            linkedRuns(matrix).map((e) => ({ runId: e.record.state.id, statusMessage: e.statusMessage })),
          )
        : new Map<string, string>();
      return renderList(recent, runs.plans(), matrix, deps.now(), links);
    }
    case 'start': {
      if (command.at) {
        const scheduled = await scheduleStart(runs, {
          service: command.service,
          environment: command.environment,
          user: who.user,
          channel: who.channel,
          at: new Date(command.at),
          ...(command.override !== undefined ? { override: command.override } : {}),
        });
        const { plan } = environmentOf(runs, scheduled.service, scheduled.environment);
        const forecast = await forecastFor(runs, plan, scheduled.environment);
        return {
          text: `⏰ ${scheduled.service} ${scheduled.environment} will start at ${dayTimeOf(scheduled.startAt)} (${scheduled.id}), on your behalf. \`/migrate abort ${scheduled.id}\` cancels it. ${forecastSentence(forecast, scheduled.startAt.getTime())}`,
        };
      }
      const state = await startRun(runs, {
        service: command.service,
        environment: command.environment,
        user: who.user,
        channel: who.channel,
        ...(command.override !== undefined ? { override: command.override } : {}),
      });
      const started = await showRun(runs, state.id);
      const overridden = started.timeline.some((e) => e.type === 'window_overridden')
        ? ' It started outside its change windows: your reason is in its timeline.'
        : '';
      return {
        text: `Started ${state.id}: ${state.service} ${state.environment}. Follow it in the status message and its thread.${overridden} ${forecastSentence(started.forecast, state.startedAt)}`,
      };
    }
    case 'status': {
      const record = await showRun(
        runs,
        await resolveRunId(runs, who.channel, command.run, { latest: true }),
      );
      return renderStatusMessage(record.state, deps.now(), {
        incidents: record.incidents.map((i) => ({ ...i, openedAt: i.openedAt.getTime() })),
        specs: record.specs,
        timeline: record.timeline,
        forecast: record.forecast ?? null,
      });
    }
    case 'note': {
      const runId = await resolveRunId(runs, who.channel, command.run);
      await addNote(runs, { user: who.user, channel: who.channel, text: command.text, runId });
      return { text: `📝 Noted on ${runId}.` };
    }
    case 'rollback':
    case 'abort': {
      if (command.name === 'abort' && command.run?.startsWith('s')) {
        const cancelled = await cancelScheduledStart(runs, { id: command.run, user: who.user });
        return {
          text: `⏹️ Cancelled ${cancelled.id}: ${cancelled.service} ${cancelled.environment} will not start.`,
        };
      }
      const { runId, outcome } = await actOn(command.run, { type: command.name });
      if (outcome.refusals.length)
        return { text: `⚠️ ${outcome.refusals.map((r) => mrkdwn(r.message)).join(' ')}` };
      return { text: command.name === 'abort' ? `⛔ Aborted ${runId}.` : `↩️ Rolling back ${runId}.` };
    }
    case 'plan': {
      // No environment named: which ones the service has, rather than a usage line.
      if (!command.environment) return renderEnvironments(planOf(runs, command.service));
      const { plan, steps } = await dryRun(runs, command.service, command.environment);
      const { env } = environmentOf(runs, command.service, command.environment);
      return renderPlan(plan.service, command.environment, fourEyes(command.environment, env), steps, {
        forecast: await forecastFor(runs, plan, command.environment),
        ...(env.windows ? { windows: describeWindows(env.windows) } : {}),
      });
    }
    case 'report': {
      // Charts go up beside the Markdown, which embeds them by file name.
      const pictures = (charts: ChartUpload[]) =>
        charts.map((c) => ({ filename: c.filename, title: c.title, file: Buffer.from(c.png) }));
      if (command.all) {
        const { reports, markdown, charts } = await reportChannel(runs, who.channel);
        await client.files.uploadV2({
          channel_id: who.channel,
          file_uploads: [
            { filename: 'ferry-runs.md', title: `Ferry runs (${reports.length})`, content: markdown },
            ...pictures(charts),
          ],
        });
        return {
          text: `📄 Uploaded a summary of ${reports.length} run(s) to this channel${charts.length > 0 ? ', with a chart of their maintenance windows' : ''}.`,
        };
      }
      const runId = await resolveRunId(runs, who.channel, command.run, { latest: true });
      const { report, markdown, thread, charts } = await reportRun(runs, runId);
      if (thread) {
        // Markdown to read, JSON for whoever compiles the migration's figures across services.
        await client.files.uploadV2({
          channel_id: thread.channel,
          thread_ts: thread.ts,
          file_uploads: [
            {
              filename: `ferry-${report.id}-report.md`,
              title: `Report ${report.id}: ${report.service} ${report.environment}`,
              content: markdown,
            },
            {
              filename: `ferry-${report.id}-report.json`,
              title: `Report ${report.id} (JSON)`,
              content: `${JSON.stringify(report, null, 2)}\n`,
            },
            ...pictures(charts),
          ],
        });
      }
      return renderReportSummary(report, thread !== null);
    }
    case 'lock':
      await lock(runs, { ...command, user: who.user, channel: who.channel });
      return {
        text: `🔒 Locked ${command.service} ${command.environment}: no run may start there until \`/migrate unlock ${command.service} ${command.environment}\`.`,
      };
    case 'unlock':
      await unlock(runs, { ...command, user: who.user });
      return { text: `🔓 Unlocked ${command.service} ${command.environment}.` };
    case 'incident': {
      const runId = await resolveRunId(runs, who.channel, command.run);
      const { held } = await openIncident(runs, {
        runId,
        user: who.user,
        channel: who.channel,
        severity: command.severity,
        summary: command.summary,
      });
      return {
        text: held
          ? `🔴 ${command.severity} opened on ${runId}, and told to the channel. It holds the run: no further step starts until \`/migrate incident resolve\`, or someone presses Go on despite the incident.`
          : `🔴 ${command.severity} opened on ${runId}, and told to the channel; it shows on the status message until \`/migrate incident resolve\`.`,
      };
    }
    case 'incident-resolve': {
      const runId = await resolveRunId(runs, who.channel, command.run);
      const incident = await resolveLatestIncident(runs, { runId, user: who.user, channel: who.channel });
      return { text: `🟢 Resolved ${incident.severity} on ${runId}: ${incident.summary}` };
    }
    case 'maintenance':
    case 'crons': {
      const action = command.name === 'maintenance' ? command.state : command.action;
      const state = await startAdhoc(runs, {
        service: command.service,
        environment: command.environment,
        kind: command.name,
        action,
        user: who.user,
        channel: who.channel,
      });
      return {
        text: `${state.id}: ${command.name} ${action} for ${state.service} ${state.environment} waits for approval in its thread.`,
      };
    }
  }
}

function decodeEntities(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
