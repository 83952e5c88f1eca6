import { lockRefusal, policyFor } from '../engine/index.ts';
import { FerryError } from '../errors.ts';
import { deleteLock, insertLock, type Lock } from '../store/locks-and-incidents.ts';
import { person, words } from '../words.ts';
import type { RunsDeps } from './deps.ts';
import { environmentOf } from './plans.ts';

// `/migrate lock|unlock`: no run (or scheduled start) may start for a service and environment until
// unlocked. Only the plan's starters and approvers may do either (anyone, when it names neither).

export async function lock(
  deps: RunsDeps,
  input: { service: string; environment: string; reason: string; user: string; channel?: string },
): Promise<Lock> {
  await mayLock(deps, input);
  const lock: Lock = {
    service: input.service,
    environment: input.environment,
    reason: input.reason,
    lockedBy: input.user,
    lockedAt: new Date(deps.clock.now()),
    // Its reminder (`lock_reminder`) goes where it was taken.
    channel: input.channel ?? null,
  };
  const existing = await insertLock(deps.db, lock);
  if (existing) {
    throw new FerryError(
      'run_locked',
      words`${input.service} ${input.environment} is already locked by ${person(existing.lockedBy)}: ${existing.reason}.`,
    );
  }
  deps.log.info({ ...input }, 'locked');
  return lock;
}

export async function unlock(
  deps: RunsDeps,
  input: { service: string; environment: string; user: string },
): Promise<Lock> {
  await mayLock(deps, input);
  const removed = await deleteLock(deps.db, input.service, input.environment);
  if (!removed)
    throw new FerryError('command_invalid', `${input.service} ${input.environment} is not locked.`);
  deps.log.info({ ...input }, 'unlocked');
  return removed;
}

async function mayLock(
  deps: RunsDeps,
  input: { service: string; environment: string; user: string },
): Promise<void> {
  const { plan } = environmentOf(deps, input.service, input.environment);
  const policy = policyFor(plan, input.environment);
  const groups = await deps.directory.groupsOf(input.user, policy.approverGroups);
  const refusal = lockRefusal(policy, input.service, { user: input.user, groups });
  if (refusal) throw new FerryError('not_authorized', refusal);
}
