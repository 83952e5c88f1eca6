import type { App, RespondFn } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { Logger } from 'pino';
import { toFerryError } from '../../errors.ts';
import type { RunService } from '../../runs/service.ts';
import type { UserGroups } from '../usergroups.ts';
import { parseCommand, type Command } from '../command-parser.ts';
import { renderPlan } from '../views/plan.ts';
import { renderReportSummary } from '../views/report.ts';
import { renderHelp, renderList, type Reply } from '../views/replies.ts';
import { renderStatusMessage } from '../views/status-message.ts';

export interface ListenerDeps {
  runs: RunService;
  log: Logger;
  now: () => number;
  groups: UserGroups;
}

/** `/migrate`: ack at once, then record the decision; replies go to the person who typed it. */
export function registerCommands(app: App, deps: ListenerDeps): void {
  app.command('/migrate', async ({ command, ack, respond, client }) => {
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
    try {
      const reply = await execute(
        parsed.command,
        { user: command.user_id, channel: command.channel_id },
        deps,
        client,
      );
      if (reply) await say(respond, reply);
    } catch (error) {
      const ferry = toFerryError(error);
      if (ferry.code === 'unexpected') deps.log.error({ err: error, text: command.text }, '/migrate failed');
      await say(respond, { text: `⚠️ ${ferry.message}` });
    }
  });
}

async function say(respond: RespondFn, reply: Reply): Promise<void> {
  await respond({
    response_type: 'ephemeral',
    replace_original: false,
    text: reply.text,
    ...(reply.blocks ? { blocks: reply.blocks } : {}),
  });
}

async function execute(
  command: Command,
  who: { user: string; channel: string },
  deps: ListenerDeps,
  client: WebClient,
): Promise<Reply | null> {
  const { runs } = deps;
  const actorFor = async (run: { policy: { approverGroups: string[] } }) => ({
    user: who.user,
    groups: await deps.groups.groupsOf(who.user, run.policy.approverGroups),
  });
  switch (command.name) {
    case 'help':
      return renderHelp();
    case 'list':
      return renderList(await runs.list({ limit: 50 }), runs.plans(), await runs.scheduled());
    case 'start': {
      if (command.at) {
        const scheduled = await runs.schedule({
          service: command.service,
          environment: command.environment,
          user: who.user,
          channel: who.channel,
          at: new Date(command.at),
        });
        return {
          text: `⏰ ${scheduled.service} ${scheduled.environment} will start at ${scheduled.startAt.toISOString().slice(0, 16).replace('T', ' ')} UTC (${scheduled.id}), on your behalf. \`/migrate abort ${scheduled.id}\` cancels it.`,
        };
      }
      const state = await runs.start({
        service: command.service,
        environment: command.environment,
        user: who.user,
        channel: who.channel,
      });
      return {
        text: `Started ${state.id}: ${state.service} ${state.environment}. Follow it in the status message and its thread.`,
      };
    }
    case 'status': {
      const record = await runs.resolve(who.channel, command.run, { latest: true });
      return renderStatusMessage(record.state, deps.now(), {
        incidents: record.incidents.map((i) => ({ ...i, openedAt: i.openedAt.getTime() })),
        specs: record.specs,
      });
    }
    case 'note': {
      const record = await runs.resolve(who.channel, command.run, { here: true });
      const outcome = await runs.act(record.state.id, {
        type: 'note',
        actor: await actorFor(record.state),
        text: command.text,
      });
      return outcome.refusals.length
        ? { text: `⚠️ ${outcome.refusals.join(' ')}` }
        : { text: `📝 Noted on ${record.state.id}.` };
    }
    case 'rollback':
    case 'abort': {
      if (command.name === 'abort' && command.run?.startsWith('s')) {
        const scheduled = await runs.scheduled().then((all) => all.find((s) => s.id === command.run));
        const groups = scheduled
          ? await deps.groups.groupsOf(
              who.user,
              runs.environment(scheduled.service, scheduled.environment).plan.approvers.usergroups,
            )
          : [];
        const cancelled = await runs.cancelScheduled(command.run, { user: who.user, groups });
        return {
          text: `⏹️ Cancelled ${cancelled.id}: ${cancelled.service} ${cancelled.environment} will not start.`,
        };
      }
      const record = await runs.resolve(who.channel, command.run, { here: true });
      const outcome = await runs.act(record.state.id, {
        type: command.name,
        actor: await actorFor(record.state),
      });
      if (outcome.refusals.length) return { text: `⚠️ ${outcome.refusals.join(' ')}` };
      return {
        text:
          command.name === 'abort' ? `⛔ Aborted ${record.state.id}.` : `↩️ Rolling back ${record.state.id}.`,
      };
    }
    case 'plan': {
      const { plan, steps } = await runs.dryRun(command.service, command.environment);
      const env = plan.environments[command.environment]!;
      return renderPlan(
        plan.service,
        command.environment,
        env.four_eyes ?? command.environment === 'production',
        steps,
      );
    }
    case 'report': {
      if (command.all) {
        const { reports, markdown } = await runs.reportAll(who.channel);
        await client.files.uploadV2({
          channel_id: who.channel,
          filename: 'ferry-runs.md',
          title: `Ferry runs (${reports.length})`,
          content: markdown,
        });
        return { text: `📄 Uploaded a summary of ${reports.length} run(s) to this channel.` };
      }
      const record = await runs.resolve(who.channel, command.run, { latest: true });
      const { report, markdown, thread } = await runs.report(record.state.id);
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
          ],
        });
      }
      return renderReportSummary(report, thread !== null);
    }
    case 'lock':
    case 'unlock': {
      const { plan } = runs.environment(command.service, command.environment);
      const actor = {
        user: who.user,
        groups: await deps.groups.groupsOf(who.user, plan.approvers.usergroups),
      };
      if (command.name === 'lock') {
        await runs.lock(command.service, command.environment, command.reason, actor);
        return {
          text: `🔒 Locked ${command.service} ${command.environment}: no run may start there until \`/migrate unlock ${command.service} ${command.environment}\`.`,
        };
      }
      await runs.unlock(command.service, command.environment, actor);
      return { text: `🔓 Unlocked ${command.service} ${command.environment}.` };
    }
    case 'incident': {
      const record = await runs.resolve(who.channel, command.run, { here: true });
      await runs.openIncident(
        record.state.id,
        command.severity,
        command.summary,
        await actorFor(record.state),
      );
      return {
        text: `🔴 ${command.severity} opened on ${record.state.id}; it shows on the status message until \`/migrate incident resolve\`.`,
      };
    }
    case 'incident-resolve': {
      const record = await runs.resolve(who.channel, command.run, { here: true });
      const incident = await runs.resolveIncident(record.state.id, await actorFor(record.state));
      return { text: `🟢 Resolved ${incident.severity} on ${record.state.id}: ${incident.summary}` };
    }
    case 'maintenance':
    case 'crons': {
      const state = await runs.startAdhoc({
        service: command.service,
        environment: command.environment,
        kind: command.name,
        action: command.name === 'maintenance' ? command.state : command.action,
        user: who.user,
        channel: who.channel,
      });
      return {
        text: `${state.id}: ${command.name} ${command.name === 'maintenance' ? command.state : command.action} for ${state.service} ${state.environment} waits for approval in its thread.`,
      };
    }
  }
}

function decodeEntities(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
