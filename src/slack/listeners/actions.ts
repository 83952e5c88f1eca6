import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { Logger } from 'pino';
import type { RunEvent } from '../../engine/types.ts';
import { toFerryError } from '../../errors.ts';
import type { RunService } from '../../runs/service.ts';
import { ActionId, parseButtonValue, type ActionName } from '../action-ids.ts';
import type { UserGroups } from '../usergroups.ts';

export interface ActionDeps {
  runs: RunService;
  groups: UserGroups;
  log: Logger;
}

/**
 * Buttons: ack first, then let the engine decide on the locked run. A double click or a second
 * replica racing on the same click finds the step already decided and changes nothing.
 */
export function registerActions(app: App, deps: ActionDeps): void {
  for (const name of Object.keys(ActionId) as ActionName[]) {
    app.action<BlockAction<ButtonAction>>(ActionId[name], async ({ ack, body, action, client }) => {
      await ack();
      const user = body.user.id;
      const container = body.container as { channel_id?: string };
      const channel = body.channel?.id ?? container.channel_id;
      const threadTs = (body.message as { thread_ts?: string } | undefined)?.thread_ts;
      const tell = async (text: string) => {
        if (!channel) return;
        await client.chat.postEphemeral({
          channel,
          user,
          text,
          ...(threadTs ? { thread_ts: threadTs } : {}),
        });
      };
      const target = parseButtonValue(action.value);
      if (!target) {
        await tell('⚠️ That button does not name a run Ferry knows.');
        return;
      }
      try {
        const record = await deps.runs.get(target.runId);
        if (!record) {
          await tell(`⚠️ There is no run ${target.runId}.`);
          return;
        }
        // A button outside the run's channel (on a /migrate status reply typed elsewhere) changes nothing.
        if (channel !== record.channel) {
          await tell(`🚫 ${target.runId} runs in <#${record.channel}>: use its buttons there.`);
          return;
        }
        const groups = await deps.groups.groupsOf(user, record.state.policy.approverGroups);
        const event = toEvent(name, target, { user, groups });
        if (!event) {
          await tell('⚠️ That button is missing its step.');
          return;
        }
        const outcome = await deps.runs.act(target.runId, event);
        for (const refusal of outcome.refusals) await tell(`🚫 ${refusal}`);
      } catch (error) {
        deps.log.error({ err: error, action: name, target }, 'button failed');
        await tell(`⚠️ ${toFerryError(error).message}`);
      }
    });
  }
}

function toEvent(
  name: ActionName,
  target: { runId: string; stepId?: string },
  actor: { user: string; groups: string[] },
): RunEvent | null {
  switch (name) {
    case 'rollback':
      return { type: 'rollback', actor };
    case 'abort':
      return { type: 'abort', actor };
    case 'approve':
    case 'reject':
    case 'retry':
    case 'skip':
    case 'done':
      return target.stepId ? { type: name, stepId: target.stepId, actor } : null;
  }
}
