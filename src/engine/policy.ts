import type { Actor, Policy, RunState } from './types.ts';

// Who may do what. Pure: user-group membership is resolved outside and arrives in `Actor.groups`.

export function isApprover(run: RunState, actor: Actor): boolean {
  const { approverUsers, approverGroups } = run.policy;
  if (approverUsers.length === 0 && approverGroups.length === 0) return true;
  return approverUsers.includes(actor.user) || actor.groups.some((g) => approverGroups.includes(g));
}

/** Null when `actor` may approve or reject steps of `run`, else the reason to tell them. */
export function approvalRefusal(run: RunState, actor: Actor): string | null {
  if (!isApprover(run, actor)) {
    return `You are not an approver for ${run.service} ${run.environment}. Ask ${approverList(run)}.`;
  }
  if (run.policy.fourEyes && actor.user === run.startedBy) {
    return `${run.environment} needs four eyes: the person who started ${run.id} cannot approve its steps. Ask ${approverList(run)}.`;
  }
  return null;
}

/** Null when `actor` may operate the run (Retry, Skip, Roll back, Abort, Done), else the reason. */
export function operateRefusal(run: RunState, actor: Actor): string | null {
  const { starters } = run.policy;
  if (starters.length === 0 || starters.includes(actor.user) || actor.user === run.startedBy) return null;
  if (
    isApprover(run, actor) &&
    (run.policy.approverUsers.length > 0 || run.policy.approverGroups.length > 0)
  ) {
    return null;
  }
  return `Only the people who may start or approve ${run.service} runs can change ${run.id}.`;
}

export function approverList(run: RunState): string {
  const names = [
    ...run.policy.approverUsers
      .filter((u) => !(run.policy.fourEyes && u === run.startedBy))
      .map((u) => `<@${u}>`),
    ...run.policy.approverGroups.map((g) => `<!subteam^${g}>`),
  ];
  if (names.length === 0 && run.policy.approverUsers.length > 0) {
    // Four eyes, and the starter is the plan's only approver: anyone else would be refused as well.
    return `another approver: the plan names only <@${run.startedBy}>, who started ${run.id}; add one to its approvers`;
  }
  if (names.length === 0)
    return run.policy.fourEyes ? 'someone else in the channel' : 'anyone in the channel';
  return names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} or ${names.at(-1)!}`;
}

/** Null when `actor` may lock or unlock a service (a starter or an approver of its plan), else the reason. */
export function lockRefusal(policy: Policy, service: string, actor: Actor): string | null {
  const { starters, approverUsers, approverGroups } = policy;
  if (starters.length === 0 && approverUsers.length === 0 && approverGroups.length === 0) return null;
  if (starters.includes(actor.user) || approverUsers.includes(actor.user)) return null;
  if (actor.groups.some((g) => approverGroups.includes(g))) return null;
  return `Only the people who may start or approve ${service} runs can lock or unlock it.`;
}
