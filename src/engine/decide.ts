import type { StepKind } from '../plan/schema.ts';
import { person, words, type Words } from '../words.ts';
import type { StepContent } from '../plan/content.ts';
import {
  approvalRefusal,
  approverList,
  contentChanges,
  expiredRefusal,
  heldRefusal,
  holdingIncident,
  holds,
  irreversibleRefusal,
  isActive,
  isApprover,
  isWaitingOnPerson,
  operateRefusal,
  remindersDue,
  shownFor,
  staleRefusal,
} from './policy.ts';
import type { Decision, Effect, Offer, RunEvent, RunState, StepState, TimelineEntry } from './types.ts';

// The whole run and step state machine as one pure function: given a run, an event and the time,
// the new state and the effects to carry out. No clock, no database, no Slack.
// Refused events return the state unchanged with a `refuse` effect; stale outcomes (an attempt that
// is no longer current) change nothing, which is what makes replays and double deliveries harmless.

export const MAX_ATTEMPTS = 5;
const RETRY_BASE_MS = 2_000;
const RETRY_MAX_MS = 60_000;

/**
 * Kinds that change nothing, so a rollback has nothing to undo for them (and stops them at once). Not
 * to be confused with a step the plan marks `irreversible`: that one changes what cannot be undone.
 */
const observesOnly: ReadonlySet<StepKind> = new Set(['check', 'drain', 'manual', 'env-diff', 'watch']);
export const changesSomething = (kind: StepKind): boolean => !observesOnly.has(kind);

/** Why a Looks good finds no watch to end, by the watch step's status. */
const watchEnded: Record<StepState['status'], string> = {
  pending: 'it has not started yet',
  awaiting_approval: 'it waits for approval',
  running: 'it is being undone',
  succeeded: 'it has already finished',
  failed: 'it failed; Retry watches again',
  skipped: 'it was skipped',
  rolled_back: 'it was rolled back',
};

export function retryDelayMs(attempt: number): number {
  return Math.min(RETRY_BASE_MS * 2 ** (attempt - 1), RETRY_MAX_MS);
}

export function decide(run: RunState, event: RunEvent, now: number): Decision {
  const d = new Draft(run, now);
  switch (event.type) {
    case 'start':
      if (run.status !== 'running' || run.steps.some((s) => s.status !== 'pending')) {
        return d.refuse(run.startedBy, [`${run.id} has already started.`]);
      }
      d.timeline({ type: 'run_started', actor: run.startedBy });
      if (event.windowOverride) {
        const { by, reason, breach } = event.windowOverride;
        d.timeline({ type: 'window_overridden', actor: by, detail: `${reason} (started ${breach})` });
      }
      d.advance();
      return d.result();

    case 'approve':
    case 'reject': {
      const step = d.step(event.stepId);
      if (!step) return d.refuse(event.actor.user, [`${run.id} has no step ${event.stepId}.`]);
      if (step.status !== 'awaiting_approval' || !isActive(d.run.status)) {
        const already = step.approval
          ? words`was ${step.approval.decision} by ${person(step.approval.by)}`
          : [`is ${step.status.replace('_', ' ')}`];
        return d.refuse(event.actor.user, words`${step.id} no longer waits for approval: it ${already}.`);
      }
      const stale = staleRefusal(step, 'approval', event.shownFor);
      if (stale) return d.refuse(event.actor.user, stale);
      const refusal = approvalRefusal(run, event.actor);
      if (refusal) {
        // The thread gets the reason without the approvers' mentions: a stranger clicking Approve
        // again and again must not ping the approvers' group each time.
        d.timeline({
          type: 'refused',
          stepId: step.id,
          actor: event.actor.user,
          detail: `${event.type}: ${isApprover(run, event.actor) ? 'four eyes, and they started the run' : 'not an approver'}`,
        });
        return d.refuse(event.actor.user, refusal);
      }
      const held = event.type === 'approve' ? heldRefusal(run) : null;
      if (held) return d.refuse(event.actor.user, held);
      if (event.type === 'reject') {
        // Rejecting is the safe direction: it needs no second person and may follow an expiry.
        const approval = {
          decision: 'rejected' as const,
          by: event.actor.user,
          at: now,
          ...(event.reason ? { reason: event.reason } : {}),
        };
        step.approval = approval;
        step.votes = [];
        d.effects.push({ type: 'close_approval', stepId: step.id, approval });
        step.status = 'failed';
        // Who rejected it is the approval's `by`; the text stays free of people.
        step.error = event.reason ? `Rejected: ${event.reason}` : 'Rejected';
        step.actedBy = event.actor.user;
        step.finishedAt = now;
        d.run.status = 'failed';
        d.timeline({ type: 'rejected', stepId: step.id, actor: event.actor.user, detail: event.reason });
        return d.result();
      }
      const expired = expiredRefusal(run, step, now);
      if (expired) {
        return d.refuse(event.actor.user, expired, {
          action: 'ask_again',
          stepId: step.id,
          shownFor: shownFor(step, 'approval'),
        });
      }
      if (event.content && step.content && event.content.digest !== step.content.digest) {
        // What would run is not what the request showed: this approval cannot count for it.
        const changes = contentChanges(step.content, event.content);
        d.reask(step, event.actor.user, event.content, `the step changed since it was shown: ${changes}`);
        return d.tell(
          event.actor.user,
          words`${step.id} changed since its approval request was shown (${changes}), so your approval does not count for it: it asks again in the thread.`,
        );
      }
      if (step.votes.some((v) => v.by === event.actor.user)) {
        return d.refuse(
          event.actor.user,
          words`You already approved ${step.id} (${step.votes.length} of ${step.approvalsNeeded}); it needs another approver: ${approverList(run)}.`,
        );
      }
      step.votes.push({ by: event.actor.user, at: now });
      const tally = step.approvalsNeeded > 1 ? `${step.votes.length} of ${step.approvalsNeeded}` : undefined;
      const approved = {
        type: 'approved' as const,
        stepId: step.id,
        actor: event.actor.user,
        ...(tally ? { detail: tally } : {}),
      };
      if (step.votes.length < step.approvalsNeeded) {
        d.timeline(approved);
        d.effects.push({ type: 'approval_progress', stepId: step.id });
        return d.result();
      }
      const approval = {
        decision: 'approved' as const,
        by: event.actor.user,
        at: now,
        ...(step.content ? { digest: step.content.digest } : {}),
      };
      step.approval = approval;
      d.effects.push({ type: 'close_approval', stepId: step.id, approval });
      d.timeline(approved);
      d.begin(step);
      return d.result();
    }

    case 'ask_again': {
      const step = d.step(event.stepId);
      if (!step || step.status !== 'awaiting_approval' || !isActive(d.run.status)) {
        return d.refuse(event.actor.user, [
          `${event.stepId} does not wait for approval, so there is nothing to ask again.`,
        ]);
      }
      const stale = staleRefusal(step, 'approval', event.shownFor);
      if (stale) return d.refuse(event.actor.user, stale);
      if (!isApprover(run, event.actor) && d.operateRefusal(event.actor)) {
        return d.refuse(
          event.actor.user,
          words`Only the people who may start or approve ${run.service} runs can ask again.`,
        );
      }
      if (!expiredRefusal(run, step, now)) {
        return d.refuse(event.actor.user, [
          `The approval request for ${step.id} is still open: approve or reject it there.`,
        ]);
      }
      d.reask(step, event.actor.user, step.content, 'the request expired', 'expired');
      return d.result();
    }

    case 'step_changed': {
      const step = d.step(event.stepId);
      if (!step || step.attempt !== event.attempt || step.direction !== 'do' || step.status !== 'running') {
        return d.result();
      }
      const changes = contentChanges(step.content, event.content);
      step.startedAt = null;
      d.reask(step, null, event.content, `the step changed since it was approved: ${changes}`);
      return d.result();
    }

    case 'done': {
      const step = d.step(event.stepId);
      const refusal = d.operateRefusal(event.actor);
      if (refusal) return d.refuse(event.actor.user, refusal);
      if (!step || step.status !== 'running' || !step.waitingForPerson || !isActive(d.run.status)) {
        return d.refuse(event.actor.user, [`${event.stepId} is not waiting for Done.`]);
      }
      const stale = staleRefusal(step, 'done', event.shownFor);
      if (stale) return d.refuse(event.actor.user, stale);
      const held = heldRefusal(run);
      if (held) return d.refuse(event.actor.user, held);
      step.waitingForPerson = false;
      step.actedBy = event.actor.user;
      d.succeed(step, 'Done');
      d.timeline({ type: 'step_done', stepId: step.id, actor: event.actor.user });
      d.advance();
      return d.result();
    }

    case 'retry':
    case 'skip': {
      const step = d.step(event.stepId);
      const refusal = d.operateRefusal(event.actor);
      if (refusal) return d.refuse(event.actor.user, refusal);
      if (!step || d.run.status !== 'failed') {
        return d.refuse(event.actor.user, [`${run.id} has no failed step ${event.stepId} to ${event.type}.`]);
      }
      const stale = staleRefusal(step, 'failure', event.shownFor);
      if (stale) return d.refuse(event.actor.user, stale);
      // Moving on is what an incident holds back; undoing (the rollback's Retry and Skip) is not.
      const held = step.undo === 'failed' ? null : heldRefusal(run);
      if (held) return d.refuse(event.actor.user, held);
      step.actedBy = event.actor.user;
      if (step.undo === 'failed') {
        if (event.type === 'retry') {
          d.run.status = 'rolling_back';
          d.timeline({ type: 'step_retried', stepId: step.id, actor: event.actor.user, detail: 'undo' });
          d.startUndo(step);
        } else {
          step.undo = null;
          step.status = 'skipped';
          step.error = 'Undo skipped: its change may still be in place';
          d.timeline({ type: 'undo_skipped', stepId: step.id, actor: event.actor.user });
          d.run.status = 'rolling_back';
          d.continueRollback();
        }
        return d.result();
      }
      const stuckUndo = d.run.steps.find((s) => s.undo === 'failed');
      if (stuckUndo) {
        // The run is rolling back: going forward again would leave half the rollback in place.
        return d.refuse(event.actor.user, [
          `${run.id} is rolling back: Retry or Skip the failed undo of ${stuckUndo.id}, or Abort.`,
        ]);
      }
      if (step.status !== 'failed') {
        return d.refuse(event.actor.user, [
          `${step.id} has not failed, so there is nothing to ${event.type}.`,
        ]);
      }
      if (event.type === 'retry') {
        d.timeline({ type: 'step_retried', stepId: step.id, actor: event.actor.user });
        step.error = null;
        if (step.approval?.decision === 'rejected') {
          step.approval = null;
          d.requestApproval(step);
        } else {
          d.begin(step);
        }
      } else {
        step.status = 'skipped';
        step.finishedAt = now;
        d.timeline({ type: 'step_skipped', stepId: step.id, actor: event.actor.user });
        d.advance();
      }
      return d.result();
    }

    case 'rollback': {
      const refusal = d.operateRefusal(event.actor);
      if (refusal) return d.refuse(event.actor.user, refusal);
      const pastNoReturn = irreversibleRefusal(d.run);
      if (pastNoReturn) return d.refuse(event.actor.user, pastNoReturn);
      if (!['running', 'waiting', 'failed', 'succeeded'].includes(d.run.status)) {
        return d.refuse(event.actor.user, [
          `${run.id} is ${d.run.status.replace('_', ' ')}: there is nothing to roll back.`,
        ]);
      }
      if (d.run.status === 'failed' && d.run.steps.some((s) => s.undo === 'failed')) {
        return d.refuse(event.actor.user, [
          `${run.id} is already rolling back: Retry or Skip the failed undo.`,
        ]);
      }
      d.run.status = 'rolling_back';
      d.run.finishedAt = null;
      d.timeline({ type: 'rollback_started', actor: event.actor.user });
      // Nobody starts the service again before someone has looked at why it was rolled back.
      if (d.run.policy.lockAfterRollback && d.run.purpose === 'runbook') {
        d.effects.push({
          type: 'lock',
          by: event.actor.user,
          reason: `${run.id} was rolled back; unlock once the cause is understood`,
        });
      }
      d.closeOpenWaits(event.actor.user);
      // A check or a drain still running (or waiting out a retry) changes nothing: stop it now rather
      // than wait out its timeout. A later attempt number makes its outcome, should one come, stale.
      // A step that changes something finishes, and is then undone.
      for (const step of d.run.steps) {
        if (step.status === 'running' && !step.waitingForPerson && !changesSomething(step.kind)) {
          d.effects.push({ type: 'cancel', stepId: step.id });
          step.status = 'failed';
          step.attempt += 1;
          step.error = 'stopped by the rollback';
          step.finishedAt = now;
        }
      }
      d.continueRollback();
      return d.result();
    }

    case 'abort': {
      const refusal = d.operateRefusal(event.actor);
      if (refusal) return d.refuse(event.actor.user, refusal);
      if (!isActive(d.run.status))
        return d.refuse(event.actor.user, [
          `${run.id} has already ended (${d.run.status.replace('_', ' ')}).`,
        ]);
      for (const step of d.run.steps) {
        if (step.status === 'running' && !step.waitingForPerson)
          d.effects.push({ type: 'cancel', stepId: step.id });
        if (step.undo === 'running') d.effects.push({ type: 'cancel', stepId: step.id });
      }
      d.closeOpenWaits(event.actor.user);
      d.run.status = 'aborted';
      d.run.finishedAt = now;
      d.timeline({ type: 'run_aborted', actor: event.actor.user });
      return d.result();
    }

    case 'note':
      d.timeline({
        type: 'note',
        actor: event.actor.user,
        detail: event.text,
        ...(event.source ? { source: event.source } : {}),
      });
      return d.result();

    case 'incident_opened': {
      // Recorded on any run, finished ones included: trouble often starts after a cutover.
      const incident = { ...event.incident, overridden: null };
      d.run.incidents.push(incident);
      d.timeline({
        type: 'incident_opened',
        actor: event.actor.user,
        ...(incident.stepId ? { stepId: incident.stepId } : {}),
        detail: `${incident.severity}: ${incident.summary}`,
      });
      return d.result();
    }

    case 'incident_resolved': {
      const incident = d.run.incidents.find((i) => i.id === event.incidentId);
      if (!incident)
        return d.refuse(event.actor.user, [`${run.id} has no open incident ${event.incidentId}.`]);
      d.run.incidents = d.run.incidents.filter((i) => i.id !== event.incidentId);
      d.timeline({
        type: 'incident_resolved',
        actor: event.actor.user,
        ...(incident.stepId ? { stepId: incident.stepId } : {}),
        detail: `${incident.severity}: ${incident.summary}`,
      });
      d.releaseIfHeld();
      return d.result();
    }

    case 'go_on': {
      const refusal = d.operateRefusal(event.actor);
      if (refusal) return d.refuse(event.actor.user, refusal);
      const holding = d.run.incidents.filter(holds);
      if (holding.length === 0) return d.refuse(event.actor.user, [`No incident holds ${run.id}.`]);
      for (const incident of holding) {
        incident.overridden = { by: event.actor.user, at: now };
        d.timeline({
          type: 'incident_overridden',
          actor: event.actor.user,
          ...(incident.stepId ? { stepId: incident.stepId } : {}),
          detail: `went on despite ${incident.severity}: ${incident.summary}`,
        });
      }
      d.releaseIfHeld();
      return d.result();
    }

    case 'remind': {
      for (const step of remindersDue(d.run, now)) {
        if (holdingIncident(d.run)) {
          // Nobody can answer while an incident holds the run: remind once it could be answered.
          step.remindAt = now + d.run.policy.approvalReminderMs;
          continue;
        }
        step.remindAt = null;
        d.timeline({
          type: 'reminder',
          stepId: step.id,
          detail: step.status === 'awaiting_approval' ? 'approval' : 'done',
        });
      }
      return d.result();
    }

    case 'looks_good': {
      const step = d.step(event.stepId);
      const refusal = d.operateRefusal(event.actor);
      if (refusal) return d.refuse(event.actor.user, refusal);
      if (!step || step.kind !== 'watch') {
        return d.refuse(event.actor.user, [`${run.id} has no watch step ${event.stepId}.`]);
      }
      if (step.status !== 'running' || step.direction !== 'do' || !isActive(d.run.status)) {
        // The watch ended on its own (or the run did) between the message and the click.
        const where = isActive(d.run.status)
          ? watchEnded[step.status]
          : `${run.id} is ${d.run.status.replace('_', ' ')}`;
        return d.refuse(event.actor.user, [`${step.id} is not watching: ${where}.`]);
      }
      const stale = staleRefusal(step, 'done', event.shownFor);
      if (stale) return d.refuse(event.actor.user, stale);
      const held = heldRefusal(run);
      if (held) return d.refuse(event.actor.user, held);
      // The attempt is stopped; should its outcome still come, the step has moved on and it is ignored.
      d.effects.push({ type: 'cancel', stepId: step.id });
      step.actedBy = event.actor.user;
      d.succeed(step, 'Ended early: looks good');
      d.timeline({ type: 'watch_ended', stepId: step.id, actor: event.actor.user });
      d.advance();
      return d.result();
    }

    case 'step_progress': {
      const step = d.step(event.stepId);
      const current =
        step?.attempt === event.attempt &&
        step.status === 'running' &&
        step.direction === 'do' &&
        isActive(d.run.status);
      if (!step || !current) return d.result();
      d.timeline({
        type: 'step_progress',
        stepId: step.id,
        detail: event.detail,
        ...(event.figures ? { figures: event.figures } : {}),
      });
      return d.result();
    }

    case 'step_succeeded':
    case 'step_failed': {
      const step = d.step(event.stepId);
      if (!step || step.attempt !== event.attempt || step.direction !== event.direction) return d.result();
      // A manual step has no attempt in flight: only Done completes it.
      const running =
        event.direction === 'do'
          ? step.status === 'running' && !step.waitingForPerson
          : step.undo === 'running';
      if (!running) return d.result();
      if (event.type === 'step_succeeded') {
        d.recordSuccess(step, event.summary, event.figures);
      } else {
        d.recordFailure(step, event.error, event.retryable, event.figures);
      }
      return d.result();
    }
  }
}

/** A mutable copy of the run, with the effects collected while deciding. */
class Draft {
  readonly run: RunState;
  readonly effects: Effect[] = [];
  private readonly original: RunState;
  private readonly now: number;

  constructor(run: RunState, now: number) {
    this.original = run;
    this.run = structuredClone(run);
    this.now = now;
  }

  result(): Decision {
    // A reminder is for a wait that is still open: whatever ended the wait ends its reminder.
    for (const step of this.run.steps) if (!isWaitingOnPerson(step)) step.remindAt = null;
    return { state: this.run, effects: this.effects };
  }

  refuse(user: string, message: Words, offer?: Offer): Decision {
    // A refusal changes nothing but the timeline entries already collected (an unauthorized approval).
    return {
      state: this.original,
      effects: [
        ...this.effects.filter((e) => e.type === 'timeline'),
        { type: 'refuse', user, message, ...(offer ? { offer } : {}) },
      ],
    };
  }

  /** What was decided, and a word for the one person whose action it did not do as they meant. */
  tell(user: string, message: Words): Decision {
    this.effects.push({ type: 'refuse', user, message });
    return this.result();
  }

  /**
   * Closes the step's open request (if any) and asks again: a changed step, an expired request.
   * Votes for the old request do not carry over.
   */
  reask(
    step: StepState,
    by: string | null,
    content: StepContent | null,
    why: string,
    decision: 'cancelled' | 'expired' = 'cancelled',
  ): void {
    if (step.status === 'awaiting_approval') {
      const approval = { decision, by: by ?? 'ferry', at: this.now };
      this.effects.push({ type: 'close_approval', stepId: step.id, approval });
    }
    step.approval = null;
    step.content = content;
    this.requestApproval(step, why, by);
  }

  step(id: string): StepState | undefined {
    return this.run.steps.find((s) => s.id === id);
  }

  operateRefusal(actor: { user: string; groups: readonly string[] }): Words | null {
    return operateRefusal(this.run, actor);
  }

  timeline(entry: TimelineEntry): void {
    this.effects.push({ type: 'timeline', entry });
  }

  /** Moves forward to the next pending step, or finishes the run; an incident that holds the run stops it here. */
  advance(): void {
    if (this.run.status === 'aborted' || this.run.status === 'rolling_back') return;
    const incident = holdingIncident(this.run);
    if (incident && this.run.steps.some((s) => s.status === 'pending')) {
      this.run.status = 'waiting';
      this.timeline({ type: 'run_held', detail: `${incident.severity}: ${incident.summary}` });
      return;
    }
    const next = this.run.steps.find((s) => s.status === 'pending');
    if (!next) {
      this.run.status = 'succeeded';
      this.run.finishedAt = this.now;
      this.timeline({ type: 'run_succeeded' });
      return;
    }
    if (next.needsApproval && next.approval?.decision !== 'approved') {
      this.requestApproval(next);
      return;
    }
    this.begin(next);
  }

  requestApproval(step: StepState, why?: string, by?: string | null): void {
    step.status = 'awaiting_approval';
    step.approvalRequestedAt = this.now;
    step.remindAt = this.now + this.run.policy.approvalReminderMs;
    step.votes = [];
    this.run.status = 'waiting';
    this.effects.push({ type: 'request_approval', stepId: step.id });
    this.timeline({
      type: 'approval_requested',
      stepId: step.id,
      ...(why ? { detail: `asked again: ${why}` } : {}),
      ...(by ? { actor: by } : {}),
    });
  }

  /** Starts a step's next forward attempt (a manual step waits for a person instead). */
  begin(step: StepState): void {
    step.status = 'running';
    step.direction = 'do';
    step.startedAt = this.now;
    step.finishedAt = null;
    step.error = null;
    if (step.kind === 'manual') {
      step.waitingForPerson = true;
      step.remindAt = this.now + this.run.policy.approvalReminderMs;
      this.run.status = 'waiting';
      this.timeline({ type: 'waiting_for_person', stepId: step.id });
      return;
    }
    step.attempt += 1;
    step.retries = 0;
    this.run.status = 'running';
    this.effects.push({
      type: 'execute',
      stepId: step.id,
      attempt: step.attempt,
      direction: 'do',
      notBefore: this.now,
    });
    this.timeline({ type: 'step_started', stepId: step.id });
  }

  succeed(step: StepState, summary: string): void {
    step.status = 'succeeded';
    step.summary = summary;
    step.finishedAt = this.now;
  }

  recordSuccess(
    step: StepState,
    summary: string,
    figures: Record<string, number | string> | undefined,
  ): void {
    if (step.direction === 'undo') {
      step.undo = null;
      step.status = 'rolled_back';
      step.summary = summary;
      step.finishedAt = this.now;
      this.timeline({ type: 'undo_succeeded', stepId: step.id, detail: summary, figures });
      if (this.run.status === 'rolling_back') this.continueRollback();
      return;
    }
    this.succeed(step, summary);
    this.timeline({ type: 'step_succeeded', stepId: step.id, detail: summary, figures });
    if (this.run.status === 'rolling_back') this.continueRollback();
    else if (this.run.status === 'running') this.advance();
  }

  recordFailure(
    step: StepState,
    error: string,
    retryable: boolean,
    figures?: Record<string, number | string>,
  ): void {
    const undoing = step.direction === 'undo';
    const stillWanted = undoing ? this.run.status === 'rolling_back' : this.run.status === 'running';
    if (retryable && step.retries < MAX_ATTEMPTS - 1 && stillWanted) {
      step.retries += 1;
      const delay = retryDelayMs(step.retries);
      step.attempt += 1;
      this.effects.push({
        type: 'execute',
        stepId: step.id,
        attempt: step.attempt,
        direction: step.direction,
        notBefore: this.now + delay,
      });
      this.timeline({
        type: 'step_retrying',
        stepId: step.id,
        detail: `${error} (attempt ${step.retries + 1} of ${MAX_ATTEMPTS} in ${Math.round(delay / 1000)} s)`,
      });
      return;
    }
    step.error = error;
    step.finishedAt = this.now;
    if (undoing) {
      step.undo = 'failed';
      this.timeline({ type: 'undo_failed', stepId: step.id, detail: error });
    } else {
      step.status = 'failed';
      this.timeline({ type: 'step_failed', stepId: step.id, detail: error, ...(figures ? { figures } : {}) });
    }
    if (this.run.status === 'aborted') return;
    if (this.run.status === 'rolling_back' && !undoing) {
      this.continueRollback();
      return;
    }
    this.run.status = 'failed';
  }

  /** Moves on where an incident held the run, once none holds it any more. */
  releaseIfHeld(): void {
    if (holdingIncident(this.run) || this.run.status !== 'waiting') return;
    const waitingOnSomeone = this.run.steps.some(
      (s) => s.status === 'awaiting_approval' || (s.status === 'running' && s.waitingForPerson),
    );
    if (!waitingOnSomeone) this.advance();
  }

  /** Approvals and manual waits that nobody needs to answer any more. */
  closeOpenWaits(by: string): void {
    for (const step of this.run.steps) {
      if (step.status === 'awaiting_approval') {
        step.status = 'pending';
        const approval = { decision: 'cancelled' as const, by, at: this.now };
        step.approval = approval;
        this.effects.push({ type: 'close_approval', stepId: step.id, approval });
      }
      if (step.status === 'running' && step.waitingForPerson) {
        step.status = 'pending';
        step.waitingForPerson = false;
      }
    }
  }

  /**
   * Undoes, newest first, every step that changed something: succeeded steps, and failed or skipped ones
   * whose capture may have been acted on (their undo restores what was captured, or does nothing).
   * Waits while a forward attempt is still running.
   */
  continueRollback(): void {
    if (this.run.steps.some((s) => (s.status === 'running' && !s.waitingForPerson) || s.undo === 'running'))
      return;
    for (let i = this.run.steps.length - 1; i >= 0; i--) {
      const step = this.run.steps[i]!;
      const ranForward = step.direction === 'do' && step.attempt > 0;
      const changed =
        step.status === 'succeeded' ||
        (step.status === 'failed' && step.attempt > 0) ||
        // A step whose undo was skipped has direction 'undo': it is left alone.
        (step.status === 'skipped' && ranForward && changesSomething(step.kind));
      if (!changed) continue;
      if (!changesSomething(step.kind)) {
        step.status = 'rolled_back';
        step.summary = 'nothing to undo';
        this.timeline({ type: 'undo_succeeded', stepId: step.id, detail: 'nothing to undo' });
        continue;
      }
      this.startUndo(step);
      return;
    }
    this.run.status = 'rolled_back';
    this.run.finishedAt = this.now;
    this.timeline({ type: 'run_rolled_back' });
  }

  startUndo(step: StepState): void {
    // Retrying a failed undo continues its attempt numbers, so the failed attempt's outcome stays stale
    // and each (step, attempt, direction) names one execution.
    step.attempt = step.direction === 'undo' ? step.attempt + 1 : 1;
    step.direction = 'undo';
    step.retries = 0;
    step.undo = 'running';
    step.error = null;
    this.effects.push({
      type: 'execute',
      stepId: step.id,
      attempt: step.attempt,
      direction: 'undo',
      notBefore: this.now,
    });
    this.timeline({ type: 'undo_started', stepId: step.id });
  }
}
