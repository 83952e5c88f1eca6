import { cancelScheduledRefusal, policyFor, scheduleRefusal, utcMinute } from '../engine/index.ts';
import { FerryError, toFerryError } from '../errors.ts';
import {
  closeScheduledStart,
  findScheduledStart,
  insertScheduledStart,
  pendingScheduledStarts,
  type ScheduledStart,
} from '../store/scheduled-starts.ts';
import type { RunsDeps } from './deps.ts';

export type { ScheduledStart };
import { channelFor, environmentOf } from './plans.ts';
import { assertMayStart, startRun } from './start.ts';

// `/migrate start … --at`: a start checked now as a start would be (plan, starters, variables,
// lock), started by the scheduler when due on behalf of the person who asked, and checked again then.

export async function scheduleStart(
  deps: RunsDeps,
  input: {
    service: string;
    environment: string;
    user: string;
    channel: string;
    at: Date;
    /** `--override <reason>`: an approver schedules it outside its change windows. */
    override?: string;
  },
): Promise<ScheduledStart> {
  const { plan } = environmentOf(deps, input.service, input.environment);
  const refusal = scheduleRefusal(
    input.at.getTime(),
    deps.clock.now(),
    `/migrate start ${plan.service} ${input.environment}`,
  );
  if (refusal) throw new FerryError('command_invalid', refusal);
  // The change windows judge the time asked for, not the moment it was asked.
  await assertMayStart(deps, plan, input.environment, input.user, {
    at: input.at.getTime(),
    ...(input.override !== undefined ? { override: input.override } : {}),
  });
  const scheduled = await insertScheduledStart(deps.db, {
    service: plan.service,
    environment: input.environment,
    requestedBy: input.user,
    channel: channelFor(deps, plan.service, input.environment, input.channel),
    startAt: input.at,
    ...(input.override !== undefined ? { overrideReason: input.override } : {}),
  });
  deps.log.info(
    { scheduled: scheduled.id, service: plan.service, environment: input.environment },
    'start scheduled',
  );
  return scheduled;
}

/** `/migrate abort s3`: the person who asked, or anyone who may start or approve, cancels it. */
export async function cancelScheduledStart(
  deps: RunsDeps,
  input: { id: string; user: string },
): Promise<ScheduledStart> {
  const scheduled = await findScheduledStart(deps.db, input.id);
  if (!scheduled) throw new FerryError('run_not_found', `There is no scheduled start ${input.id}.`);
  if (scheduled.status !== 'pending') {
    throw new FerryError(
      'transition_refused',
      `${input.id} is ${scheduled.status}${scheduled.runId ? ` (${scheduled.runId})` : ''}: there is nothing to cancel.`,
    );
  }
  const { plan } = environmentOf(deps, scheduled.service, scheduled.environment);
  const policy = policyFor(plan, scheduled.environment);
  const groups = await deps.directory.groupsOf(input.user, policy.approverGroups);
  const refusal = cancelScheduledRefusal(scheduled, policy, { user: input.user, groups });
  if (refusal) throw new FerryError('not_authorized', refusal);
  if (!(await closeScheduledStart(deps.db, input.id, { status: 'cancelled', by: input.user }))) {
    throw new FerryError('transition_refused', `${input.id} started or was cancelled a moment ago.`);
  }
  return scheduled;
}

export function pendingStarts(deps: Pick<RunsDeps, 'db'>): Promise<ScheduledStart[]> {
  return pendingScheduledStarts(deps.db);
}

/**
 * Starts every scheduled start that is due. Returns those that could not start, with why, for the
 * channel to hear; a start another replica took is neither.
 */
/** How late a scheduled start may come due and still be judged at its `--at`: the scheduler's ticks. */
const LATE_MS = 60_000;

export async function startDue(
  deps: RunsDeps,
): Promise<Array<{ scheduled: ScheduledStart; error: FerryError }>> {
  const failures: Array<{ scheduled: ScheduledStart; error: FerryError }> = [];
  const due = await pendingScheduledStarts(deps.db, { dueBy: new Date(deps.clock.now()) });
  for (const scheduled of due) {
    // The change windows judge when it really starts: on time, its `--at`; a start that comes due
    // late (no Ferry was running) is judged at the moment it would change production.
    const now = deps.clock.now();
    const startsAt = now - scheduled.startAt.getTime() > LATE_MS ? now : scheduled.startAt.getTime();
    try {
      await startRun(deps, {
        service: scheduled.service,
        environment: scheduled.environment,
        user: scheduled.requestedBy,
        channel: scheduled.channel,
        scheduledStartId: scheduled.id,
        at: startsAt,
        ...(scheduled.overrideReason !== null ? { override: scheduled.overrideReason } : {}),
      });
    } catch (error) {
      const ferry = toFerryError(error);
      if (ferry.code === 'transition_refused') continue;
      if (ferry.code === 'unexpected') {
        // A database or network blip: the start stays pending and the next tick tries again.
        deps.log.warn({ err: error, scheduled: scheduled.id }, 'scheduled start deferred');
        continue;
      }
      if (await closeScheduledStart(deps.db, scheduled.id, { status: 'failed', error: ferry.message })) {
        failures.push({ scheduled, error: ferry });
      }
    }
  }
  return failures;
}

/** "s3 at 2026-12-05 02:00 UTC": how a scheduled start is named to people. */
export function scheduledLabel(scheduled: ScheduledStart): string {
  return `${scheduled.id} at ${utcMinute(scheduled.startAt)} UTC`;
}
