import { decide, LOCK_REMINDER_MS, lockReminder } from '../engine/index.ts';
import { locksNotReminded, markLockReminded, type Lock } from '../store/locks-and-incidents.ts';
import { applyToRun, runsWithRemindersDue } from '../store/runs.ts';
import type { Words } from '../words.ts';
import { afterDecision, type RunsDeps } from './deps.ts';
import { channelFor } from './plans.ts';

// What the clock reminds people of: an approval or a Done left waiting (`approval_reminder`), and a
// lock left standing (`lock_reminder`). Each is told once.

/**
 * Gives every due approval and Done its one reminder. The engine decides which are due under the
 * run's lock, so two replicas ticking at once remind once; the publisher posts it.
 */
export async function remindDue(deps: RunsDeps): Promise<void> {
  const now = deps.clock.now();
  for (const runId of await runsWithRemindersDue(deps.db, new Date(now))) {
    const { decision } = await applyToRun(deps.db, runId, now, (record) =>
      decide(record.state, { type: 'remind' }, now),
    );
    if (decision.effects.length > 0) await afterDecision(deps, runId, decision.effects, 'remind');
  }
}

/**
 * Reminds the owner of each lock older than its plan's `lock_reminder`, once, in the channel it was
 * taken in. The lock is marked before the channel is told, so two replicas tell it once; when
 * telling fails, the mark is taken back and a later tick tries again.
 */
export async function remindLocks(
  deps: RunsDeps,
  tell: (channel: string, message: Words) => Promise<void>,
): Promise<void> {
  const now = deps.clock.now();
  for (const lock of await locksNotReminded(deps.db)) {
    const plan = deps.plans().find((p) => p.plan.service === lock.service)?.plan;
    const after = plan?.lock_reminder ?? LOCK_REMINDER_MS;
    if (lock.lockedAt.getTime() + after > now) continue;
    const channel = lock.channel ?? channelOf(deps, lock);
    if (!channel) continue;
    if (!(await markLockReminded(deps.db, lock, new Date(now)))) continue;
    try {
      await tell(channel, lockReminder(lock));
    } catch (error) {
      await markLockReminded(deps.db, lock, null);
      throw error;
    }
  }
}

/** A lock taken before locks kept their channel: the channel its service's runs post to, if any. */
function channelOf(deps: RunsDeps, lock: Lock): string | undefined {
  try {
    return channelFor(deps, lock.service, lock.environment, '') || undefined;
  } catch {
    // Its plan is gone: nobody to remind where.
    return undefined;
  }
}
