import { formatDuration } from '../duration.ts';
import type { StepContent } from '../plan/content.ts';
import type { Plan, PlanEnvironment } from '../plan/schema.ts';
import {
  describeWindows,
  localTime,
  nextAllowed,
  WINDOW_HORIZON_DAYS,
  windowAt,
  windowsZone,
  type Windows,
} from '../plan/windows.ts';
import { channelOf, moment, oneOf, person, userGroup, words, type Words } from '../words.ts';
import {
  terminalStatuses,
  type Actor,
  type Direction,
  type Policy,
  type RunState,
  type IncidentState,
  type RunStatus,
  type Severity,
  type StepState,
} from './types.ts';

// Every rule that allows or refuses something, each once, with its one wording. Pure: user-group
// membership is resolved outside and arrives in `Actor.groups`; time comes in as an argument.

/** Whether steps that need approval need someone other than the person who started the run. */
export function fourEyes(environment: string, env: Pick<PlanEnvironment, 'four_eyes'> | undefined): boolean {
  return env?.four_eyes ?? environment === 'production';
}

/** How long an approval request stays valid when the plan does not say. */
export const APPROVAL_EXPIRES_MS = 30 * 60_000;

/** How long an approval, or a manual step's Done, waits for its one reminder when the plan does not say. */
export const APPROVAL_REMINDER_MS = 10 * 60_000;

/** Who may do what in one environment of a plan, as a run keeps it from its start. */
export function policyFor(plan: Plan, environment: string): Policy {
  const env = plan.environments[environment];
  return {
    starters: plan.starters ?? [],
    approverUsers: plan.approvers.users,
    approverGroups: plan.approvers.usergroups,
    fourEyes: fourEyes(environment, env),
    approvalExpiresMs: env?.approval_expires_after ?? plan.approval_expires_after ?? APPROVAL_EXPIRES_MS,
    approvalReminderMs: env?.approval_reminder ?? plan.approval_reminder ?? APPROVAL_REMINDER_MS,
    lockAfterRollback: plan.lock_after_rollback ?? true,
  };
}

/** How many distinct people must approve a step: the step's `approvals`, else its environment's, else 1. */
export function approvalsNeeded(
  step: { approvals?: number | undefined },
  env: Pick<PlanEnvironment, 'approvals'> | undefined,
): number {
  return step.approvals ?? env?.approvals ?? 1;
}

/**
 * What a button was shown for, written into its value: the approval request (when it was asked),
 * the failed attempt (Retry, Skip), the wait for a person (Done). A click carrying another token
 * than the step's current one comes from a replaced message and is refused.
 */
export function shownFor(step: StepState, button: 'approval' | 'failure' | 'done'): string {
  switch (button) {
    case 'approval':
      return `q${(step.approvalRequestedAt ?? 0).toString(36)}`;
    case 'failure':
      return `${step.direction === 'undo' ? 'u' : 'a'}${step.attempt}`;
    case 'done':
      return `w${(step.startedAt ?? 0).toString(36)}`;
  }
}

/** Null when a click's token names the step's current request, failure or wait, else the reason. */
export function staleRefusal(
  step: StepState,
  button: 'approval' | 'failure' | 'done',
  token: string | undefined,
): Words | null {
  // A button without a token was posted before buttons carried one: it is taken as it was then.
  if (token === undefined || token === shownFor(step, button)) return null;
  switch (button) {
    case 'approval':
      return words`This approval request for ${step.id} was replaced at ${moment(step.approvalRequestedAt ?? 0)}; use the newest one in the thread.`;
    case 'failure':
      return words`This button was for an earlier failure of ${step.id}; it has been tried again since. Use the newest status message.`;
    case 'done':
      return words`This Done was for an earlier wait of ${step.id}; use the newest status message.`;
  }
}

/** Null while the step's open approval request is valid, else why it is not and when it lapsed. */
export function expiredRefusal(run: RunState, step: StepState, now: number): Words | null {
  const expiresAt = (step.approvalRequestedAt ?? now) + run.policy.approvalExpiresMs;
  if (now <= expiresAt) return null;
  return words`This approval request for ${step.id} expired at ${moment(expiresAt)} (requests last ${formatDuration(run.policy.approvalExpiresMs)}). Press Ask again for a fresh one.`;
}

/** What changed between what an approval request showed and the step as it would run now. */
export function contentChanges(before: StepContent | null, after: StepContent): string {
  if (!before) return 'the step as it would run could not be compared with what was shown';
  const paths = [...new Set([...Object.keys(before.fields), ...Object.keys(after.fields)])].sort();
  const changed = paths
    .filter((p) => before.fields[p] !== after.fields[p])
    .map((p) => `${p}: ${before.fields[p] ?? '(none)'} → ${after.fields[p] ?? '(none)'}`);
  return changed.length > 0 ? changed.join('; ') : 'its settings are the same but its digest differs';
}

export function isApprover(
  run: { policy: Pick<Policy, 'approverUsers' | 'approverGroups'> },
  actor: Actor,
): boolean {
  const { approverUsers, approverGroups } = run.policy;
  if (approverUsers.length === 0 && approverGroups.length === 0) return true;
  return approverUsers.includes(actor.user) || actor.groups.some((g) => approverGroups.includes(g));
}

/** Null when `actor` may approve or reject steps of `run`, else the reason to tell them. */
export function approvalRefusal(run: RunState, actor: Actor): Words | null {
  if (!isApprover(run, actor)) {
    return words`You are not an approver for ${run.service} ${run.environment}. Ask ${approverList(run)}.`;
  }
  if (run.policy.fourEyes && actor.user === run.startedBy) {
    return words`${run.environment} needs four eyes: the person who started ${run.id} cannot approve its steps. Ask ${approverList(run)}.`;
  }
  return null;
}

/** Null when `actor` may operate the run (Retry, Skip, Roll back, Abort, Done), else the reason. */
export function operateRefusal(run: RunState, actor: Actor): Words | null {
  const { starters } = run.policy;
  if (starters.length === 0 || starters.includes(actor.user) || actor.user === run.startedBy) return null;
  if (
    isApprover(run, actor) &&
    (run.policy.approverUsers.length > 0 || run.policy.approverGroups.length > 0)
  ) {
    return null;
  }
  return words`Only the people who may start or approve ${run.service} runs can change ${run.id}.`;
}

/** Who may approve the run's steps, as a person would be told to ask them. */
export function approverList(run: RunState): Words {
  const names = [
    ...run.policy.approverUsers
      .filter((u) => !(run.policy.fourEyes && u === run.startedBy))
      .map((u) => [person(u)]),
    ...run.policy.approverGroups.map((g) => [userGroup(g)]),
  ];
  if (names.length === 0 && run.policy.approverUsers.length > 0) {
    // Four eyes, and the starter is the plan's only approver: anyone else would be refused as well.
    return words`another approver: the plan names only ${person(run.startedBy)}, who started ${run.id}; add one to its approvers`;
  }
  if (names.length === 0)
    return [run.policy.fourEyes ? 'someone else in the channel' : 'anyone in the channel'];
  return oneOf(names);
}

/** Null when `user` may start runs of the plan (its starters; anyone when it names none). */
export function startRefusal(policy: Policy, service: string, user: string): Words | null {
  const { starters } = policy;
  if (starters.length === 0 || starters.includes(user)) return null;
  return words`Only ${oneOf(starters.map((u) => [person(u)]))} may start ${service} runs.`;
}

/** Null when `actor` may lock or unlock a service (a starter or an approver of its plan), else the reason. */
export function lockRefusal(policy: Policy, service: string, actor: Actor): Words | null {
  const { starters, approverUsers, approverGroups } = policy;
  if (starters.length === 0 && approverUsers.length === 0 && approverGroups.length === 0) return null;
  if (starters.includes(actor.user) || approverUsers.includes(actor.user)) return null;
  if (actor.groups.some((g) => approverGroups.includes(g))) return null;
  return words`Only the people who may start or approve ${service} runs can lock or unlock it.`;
}

/** Null when `actor` may cancel a scheduled start: who asked for it, or whoever may lock the service. */
export function cancelScheduledRefusal(
  scheduled: { id: string; service: string; requestedBy: string },
  policy: Policy,
  actor: Actor,
): Words | null {
  if (actor.user === scheduled.requestedBy || !lockRefusal(policy, scheduled.service, actor)) return null;
  return words`Only the person who scheduled ${scheduled.id}, or someone who may start or approve ${scheduled.service} runs, can cancel it.`;
}

/** Changing a run is for the people in its channel, where its thread tells everyone. */
export function channelRefusal(run: { id: string; channel: string }, here: string): Words | null {
  return run.channel === here
    ? null
    : words`${run.id} runs in ${channelOf(run.channel)}: change it from there.`;
}

export interface LockHeld {
  service: string;
  environment: string;
  reason: string;
  lockedBy: string;
  lockedAt: Date;
}

/** Why a run cannot start on a locked service and environment, and how to lift it. */
export function lockedRefusal(lock: LockHeld): Words {
  return words`${lock.service} ${lock.environment} is locked by ${person(lock.lockedBy)} since ${utcMinute(lock.lockedAt)} UTC: ${lock.reason}. \`/migrate unlock ${lock.service} ${lock.environment}\` when it may run again.`;
}

/** How old a lock grows before it reminds its owner, when the plan does not say. */
export const LOCK_REMINDER_MS = 24 * 3_600_000;

/** The one reminder of a lock that has stood for `lock_reminder`: to its owner, saying how to lift it. */
export function lockReminder(lock: LockHeld): Words {
  return words`🔒 ${lock.service} ${lock.environment} has been locked since ${moment(lock.lockedAt.getTime())} (${lock.reason}). ${person(lock.lockedBy)}, unlock it with \`/migrate unlock ${lock.service} ${lock.environment}\` once it may run again, or leave it locked.`;
}

/** Null when a start may be scheduled at `at`: 10 s to 30 days ahead. */
export function scheduleRefusal(at: number, now: number, startNow: string): Words | null {
  if (at < now + 10_000)
    return words`${new Date(at).toISOString()} is ${at > now ? 'less than 10 seconds ahead' : 'not in the future'}: start now with \`${startNow}\`.`;
  if (at > now + 30 * 86_400_000) return ['Ferry schedules starts at most 30 days ahead.'];
  return null;
}

/**
 * A finished run's captures are the state before it; once a later run of the same service and
 * environment has changed things (and was not itself rolled back), restoring them would undo that
 * run's work blindly.
 */
export function rollbackRefusal(
  run: Pick<RunState, 'id' | 'status' | 'purpose' | 'service' | 'environment' | 'startedAt'>,
  others: ReadonlyArray<{ id: string; purpose: RunState['purpose']; status: RunStatus; startedAt: number }>,
): Words | null {
  if (run.status !== 'succeeded' || run.purpose !== 'runbook') return null;
  const later = others
    .filter((r) => r.purpose === 'runbook' && r.startedAt > run.startedAt && r.status !== 'rolled_back')
    .sort((a, b) => a.startedAt - b.startedAt)[0];
  return later
    ? words`${run.id} was followed by ${later.id} on ${run.service} ${run.environment}: roll back ${later.id} first, or undo ${run.id}'s changes by hand.`
    : null;
}

/** How often an attempt may be lost (claimed without an outcome or a hand-back) before Ferry stops acting on it. */
export const MAX_CLAIMS = 5;

/**
 * Why a claimed attempt must not act, or null. A forward attempt acts only while its run runs: one
 * whose backoff outlived a Roll back or an Abort would otherwise redo the change being undone.
 */
export function attemptRefusal(
  attempt: { claims: number; direction: Direction },
  runStatus: RunStatus,
): string | null {
  if (attempt.claims > MAX_CLAIMS) {
    return `claimed ${attempt.claims} times without an outcome being recorded, so it was not run again; check Ferry's log and the system, then Retry or Skip`;
  }
  if (attempt.direction === 'do' && runStatus !== 'running') {
    return `not run: the run is ${runStatus.replace('_', ' ')}`;
  }
  return null;
}

export const isActive = (status: RunStatus): boolean => !terminalStatuses.includes(status);

/**
 * The irreversible step the run went past, or null: one that succeeded, or that was attempted (it may
 * have acted before it failed). From then on the run cannot be rolled back.
 */
export function pointOfNoReturn(run: Pick<RunState, 'steps'>): StepState | null {
  return (
    run.steps.find(
      (s) =>
        s.irreversible &&
        s.direction === 'do' &&
        (s.status === 'succeeded' || ((s.status === 'failed' || s.status === 'skipped') && s.attempt > 0)),
    ) ?? null
  );
}

/** What people are told instead of Roll back once the run went past its point of no return. */
export function forwardFixGuidance(step: Pick<StepState, 'id' | 'status' | 'forwardFix'>): Words {
  const passed = step.status === 'succeeded' ? 'went through' : 'was attempted';
  const fix = step.forwardFix
    ? ` Fix forward: ${step.forwardFix}`
    : ' Fix forward: the plan gives no forward fix for it.';
  return words`${step.id} ${passed} and cannot be undone, so this run can no longer be rolled back.${fix}`;
}

/** Null while the run may be rolled back as far as its steps go, else why not (the point of no return). */
export function irreversibleRefusal(run: Pick<RunState, 'id' | 'steps'>): Words | null {
  const step = pointOfNoReturn(run);
  return step ? forwardFixGuidance(step) : null;
}

/** The steps whose approval or Done has waited past `remindAt`: each gets one reminder. */
export function remindersDue(run: Pick<RunState, 'steps'>, now: number): StepState[] {
  return run.steps.filter((s) => s.remindAt !== null && s.remindAt <= now && isWaitingOnPerson(s));
}

/** A step waits on people: for approval, or for Done. */
export function isWaitingOnPerson(step: Pick<StepState, 'status' | 'waitingForPerson'>): boolean {
  return step.status === 'awaiting_approval' || (step.status === 'running' && step.waitingForPerson);
}

/**
 * Null when `environment` may start given the one it requires (`requires: { environment, soak }`):
 * that environment's latest run succeeded at least `soak` ago and has no open incident. Else why not,
 * and when it can (a time, when only the soak is missing).
 */
export function soakRefusal(
  service: string,
  environment: string,
  requires: { environment: string; soak: number },
  latest: {
    id: string;
    status: RunStatus;
    finishedAt: number | null;
    incidents: ReadonlyArray<{ severity: Severity; summary: string }>;
  } | null,
  now: number,
): Words | null {
  const needs = words`${service} ${environment} needs a ${requires.environment} run that succeeded at least ${formatDuration(requires.soak)} ago`;
  if (!latest)
    return words`${needs}, and ${requires.environment} has no run yet. Start one with \`/migrate start ${service} ${requires.environment}\`.`;
  if (latest.status !== 'succeeded' || latest.finishedAt === null) {
    const state = isActive(latest.status) ? 'is still going' : `ended ${latest.status.replace('_', ' ')}`;
    return words`${needs}; its latest, ${latest.id}, ${state}.`;
  }
  const incident = latest.incidents[0];
  if (incident) {
    return words`${needs} with no open incident; ${latest.id} has an open ${incident.severity} ("${incident.summary}"): resolve it with \`/migrate incident resolve ${latest.id}\`.`;
  }
  const canStartAt = latest.finishedAt + requires.soak;
  if (canStartAt > now) {
    return words`${needs}; ${latest.id} succeeded at ${moment(latest.finishedAt)}, so ${environment} can start at ${moment(canStartAt)}.`;
  }
  return null;
}

/** sev1 and sev2 hold a run until resolved or gone on despite; sev3 is recorded only. */
export function holds(incident: Pick<IncidentState, 'severity' | 'overridden'>): boolean {
  return incident.severity !== 'sev3' && incident.overridden === null;
}

/** The incident that holds the run (the oldest), or null. */
export function holdingIncident(run: Pick<RunState, 'incidents'>): IncidentState | null {
  return run.incidents.find(holds) ?? null;
}

/** Null while no incident holds the run, else why nothing may move on and how to release it. */
export function heldRefusal(run: RunState): Words | null {
  const incident = holdingIncident(run);
  if (!incident) return null;
  return words`${run.id} is held by ${incident.severity} "${incident.summary}" (opened by ${person(incident.openedBy)} at ${moment(incident.openedAt)}): resolve it with \`/migrate incident resolve ${run.id}\`, or press Go on despite the incident.`;
}

/**
 * Null when a run of the service may start, else the open incident that refuses it: an incident that
 * holds one run of a service holds back every other run of it (ad hoc toggles excepted, which are how
 * an incident gets handled).
 */
export function incidentStartRefusal(
  service: string,
  open: ReadonlyArray<Pick<IncidentState, 'severity' | 'summary' | 'overridden'> & { runId: string }>,
): Words | null {
  const incident = open.find(holds);
  if (!incident) return null;
  return words`${service} has an open ${incident.severity} on ${incident.runId} ("${incident.summary}"): resolve it with \`/migrate incident resolve ${incident.runId}\` before another run starts.`;
}

/** The step an incident opened now is about: the one running or waiting, else the last one that ran. */
export function stepInPlay(run: Pick<RunState, 'steps'>): string | null {
  const live = run.steps.find(
    (s) =>
      s.status === 'running' || s.status === 'awaiting_approval' || s.status === 'failed' || s.undo !== null,
  );
  if (live) return live.id;
  const ran = run.steps.filter((s) => s.finishedAt !== null);
  return ran.at(-1)?.id ?? null;
}

/** "2026-12-05 02:14": minutes are what people compare across a migration night. */
export function utcMinute(at: Date | number): string {
  return new Date(at).toISOString().slice(0, 16).replace('T', ' ');
}

/** A start's time checked against its environment's change windows (`windows:` in the plan). */
export interface WindowCheck {
  service: string;
  environment: string;
  windows: Windows;
  /** When it would start: now, or the time asked for with `--at`. */
  at: number;
  scheduled: boolean;
  /** How long it is expected to take (the forecast's median run), and from what; null without earlier runs. */
  forecast: { ms: number; basis: string } | null;
  /** Who may start it anyway: the plan's approvers. */
  policy: Pick<Policy, 'approverUsers' | 'approverGroups'>;
}

/**
 * Null when a start at `check.at` fits the change windows: inside an allowed window, in no blackout,
 * and with its forecast ending before the window does. Else what it breaks (`breach`, for the
 * timeline when an approver overrides it) and the refusal, with the next start that would fit.
 */
export function windowRefusal(check: WindowCheck): { breach: string; refusal: Words } | null {
  const { service, environment, windows, at, forecast } = check;
  const zone = windowsZone(windows);
  const status = windowAt(windows, at);
  const when = check.scheduled ? localTime(at, zone) : `now (${localTime(at, zone)})`;
  let breach: string;
  let why: Words;
  if (!status.allowed && status.reason === 'blackout') {
    breach = `in the blackout ${status.blackout ?? ''}`.trim();
    why = words`${service} ${environment} is in a blackout (${status.blackout ?? describeWindows(windows)}) ${when}.`;
  } else if (!status.allowed) {
    breach = `outside its change windows (${describeWindows(windows)})`;
    why = words`${service} ${environment} starts only in its change windows (${describeWindows(windows)}); ${when} is outside them.`;
  } else if (forecast && status.endsAt !== null && at + forecast.ms > status.endsAt) {
    const ends = localTime(status.endsAt, zone);
    breach = `its forecast of ${formatDuration(forecast.ms)} runs past the window's end at ${ends}`;
    why = words`${service} ${environment} would run past its change window: the window closes at ${ends}, and the forecast is ${formatDuration(forecast.ms)} (${forecast.basis}), so it would end at ${localTime(at + forecast.ms, zone)}.`;
  } else {
    return null;
  }
  const room = forecast?.ms ?? 0;
  const next = nextAllowed(windows, at, room);
  const nextStart =
    next === null
      ? words`No start within ${WINDOW_HORIZON_DAYS} days fits${room > 0 ? ` a run of ${formatDuration(room)}` : ''}.`
      : words`The next start that fits${room > 0 ? ' the forecast' : ''} is ${localTime(next, zone)}: \`/migrate start ${service} ${environment} --at ${isoMinute(next)}\`.`;
  const { approverUsers, approverGroups } = check.policy;
  const approvers = [...approverUsers.map((u) => [person(u)]), ...approverGroups.map((g) => [userGroup(g)])];
  const anyway =
    approvers.length > 0
      ? words`${oneOf(approvers)} may start it anyway by adding \`--override <reason>\`.`
      : words`To start it anyway, add \`--override <reason>\`: the reason goes in the run's timeline.`;
  return { breach, refusal: words`${why} ${nextStart} ${anyway}` };
}

/** Null when `actor` may start a run outside its change windows: the plan's approvers (anyone, where it names none). */
export function windowOverrideRefusal(
  policy: Pick<Policy, 'approverUsers' | 'approverGroups'>,
  service: string,
  environment: string,
  actor: Actor,
): Words | null {
  if (isApprover({ policy }, actor)) return null;
  const approvers = [
    ...policy.approverUsers.map((u) => [person(u)]),
    ...policy.approverGroups.map((g) => [userGroup(g)]),
  ];
  return words`Only ${oneOf(approvers)} may start ${service} ${environment} outside its change windows: ask one of them, or start it in a window.`;
}

/** "2026-11-28T00:00Z": a time `--at` takes, to the minute unless it has seconds. */
function isoMinute(at: number): string {
  const iso = new Date(at).toISOString();
  return at % 60_000 === 0 ? `${iso.slice(0, 16)}Z` : `${iso.slice(0, 19)}Z`;
}
