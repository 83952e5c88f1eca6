import type { StepContent } from '../plan/content.ts';
import type { StepKind } from '../plan/schema.ts';
import type { Words } from '../words.ts';

// The run as the engine sees it: plain data, no I/O. Times are epoch milliseconds passed in.

export type StepStatus =
  'pending' | 'awaiting_approval' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'rolled_back';

export type RunStatus =
  | 'running'
  | 'waiting' // for an approval or a person (a manual step)
  | 'failed' // waiting for Retry, Skip or Roll back
  | 'rolling_back'
  | 'rolled_back'
  | 'succeeded'
  | 'aborted';

/** Statuses a run never leaves. The database's `run_is_active(status)` says the same (migration 008). */
export const terminalStatuses: readonly RunStatus[] = ['succeeded', 'rolled_back', 'aborted'];

export type Direction = 'do' | 'undo';

export interface Approval {
  /** expired: the request outlived the plan's `approval_expires_after` and was asked again. */
  decision: 'approved' | 'rejected' | 'cancelled' | 'expired';
  by: string;
  at: number;
  /** Why it was rejected, when the person said. */
  reason?: string;
  /** What was approved: the digest of the step as it would run (`StepContent`). */
  digest?: string;
}

/** One person's approval of the open request, while it waits for more (M of N). */
export interface Vote {
  by: string;
  at: number;
}

export interface StepState {
  id: string;
  kind: StepKind;
  /** One line from the plan: what the step will change (the dry-run description when known). */
  title: string;
  needsApproval: boolean;
  status: StepStatus;
  /** Attempts started so far in `direction`; an outcome for another attempt is stale. */
  attempt: number;
  /** Automatic retries used since the step (or its undo) was last started; a person's Retry resets it. */
  retries: number;
  direction: Direction;
  /** Set while an undo runs or after it failed; cleared when the step is rolled back. */
  undo: 'running' | 'failed' | null;
  /** A manual step waits for a person to press Done. */
  waitingForPerson: boolean;
  approval: Approval | null;
  /** Distinct approvals the step needs (the plan's `approvals`, M of N); 1 for most. */
  approvalsNeeded: number;
  /** Approvals of the open request so far, while fewer than `approvalsNeeded`. */
  votes: Vote[];
  /** What the step will do, as its approval request shows it; null for runs older than this. */
  content: StepContent | null;
  /** Who last moved the step by hand: confirmed Done, skipped it or its undo, retried it. */
  actedBy: string | null;
  /** When the step was last asked for approval. */
  approvalRequestedAt: number | null;
  /** When the approval or the Done it waits for is to be reminded of; null once reminded or answered. */
  remindAt: number | null;
  /** The point of no return: once it ran, the run cannot be rolled back (the plan's `irreversible`). */
  irreversible: boolean;
  /** What to do instead of rolling back once an irreversible step ran (the plan's `forward_fix`). */
  forwardFix: string | null;
  summary: string | null;
  error: string | null;
  startedAt: number | null;
  finishedAt: number | null;
}

export interface Policy {
  /** Who may start runs and press Retry/Skip/Roll back/Abort/Done; empty means anyone. */
  starters: string[];
  approverUsers: string[];
  approverGroups: string[];
  fourEyes: boolean;
  /** How long an approval request stays valid (the plan's `approval_expires_after`). */
  approvalExpiresMs: number;
  /** How long an approval, or a manual step's Done, waits before one reminder (`approval_reminder`). */
  approvalReminderMs: number;
  /** Whether a rollback locks the service and environment (`lock_after_rollback`). */
  lockAfterRollback: boolean;
}

export type Severity = 'sev1' | 'sev2' | 'sev3';

/** An incident open on the run. sev1 and sev2 hold it until resolved, or until someone goes on despite it. */
export interface IncidentState {
  id: number;
  severity: Severity;
  summary: string;
  openedBy: string;
  openedAt: number;
  /** The step that was in play when it was opened. */
  stepId: string | null;
  /** Who pressed "Go on despite the incident", and when: it no longer holds the run. */
  overridden: { by: string; at: number } | null;
}

export interface RunState {
  id: string;
  /** runbook: the plan's steps; adhoc: one toggle (`/migrate maintenance|crons`) beside it. */
  purpose: 'runbook' | 'adhoc';
  service: string;
  environment: string;
  status: RunStatus;
  startedBy: string;
  startedAt: number;
  finishedAt: number | null;
  policy: Policy;
  steps: StepState[];
  /** Incidents open on the run (the incidents table, loaded with it). */
  incidents: IncidentState[];
}

/** Who did something, with the user groups they belong to (resolved outside the engine). */
export interface Actor {
  user: string;
  groups: readonly string[];
}

export type RunEvent =
  /** `windowOverride`: an approver started it outside its change windows, saying why (recorded in the timeline). */
  | { type: 'start'; windowOverride?: { by: string; reason: string; breach: string } }
  | {
      type: 'approve';
      stepId: string;
      actor: Actor;
      /** What the button was shown for (`shownFor`): a click on a replaced request is refused. */
      shownFor?: string;
      /** The step as it would run now; when it differs from what the request showed, it asks again. */
      content?: StepContent;
    }
  | { type: 'reject'; stepId: string; actor: Actor; reason?: string; shownFor?: string }
  /** An expired approval request posted afresh. */
  | { type: 'ask_again'; stepId: string; actor: Actor; shownFor?: string }
  | { type: 'done'; stepId: string; actor: Actor; shownFor?: string }
  | { type: 'retry'; stepId: string; actor: Actor; shownFor?: string }
  | { type: 'skip'; stepId: string; actor: Actor; shownFor?: string }
  | { type: 'rollback'; actor: Actor }
  | { type: 'abort'; actor: Actor }
  /** `source`: the Slack message the note quotes (a 📌, the shortcut); typed notes have none. */
  | { type: 'note'; actor: Actor; text: string; source?: NoteSource }
  /** The caller has stored it (its id) and bound it to the step in play (`stepInPlay`). */
  | { type: 'incident_opened'; actor: Actor; incident: Omit<IncidentState, 'overridden'> }
  | { type: 'incident_resolved'; actor: Actor; incidentId: number }
  /** Someone decides the run goes on while incidents that hold it stay open. */
  | { type: 'go_on'; actor: Actor }
  /** The clock: approvals and Done waits whose `remindAt` has come get their one reminder. */
  | { type: 'remind' }
  /** A person ends a running watch early: what it saw so far is good enough. */
  | { type: 'looks_good'; stepId: string; actor: Actor; shownFor?: string }
  /** A running attempt tells how it goes (a watch's summary each minute), for the thread. */
  | {
      type: 'step_progress';
      stepId: string;
      attempt: number;
      detail: string;
      figures?: Record<string, number | string>;
    }
  | {
      type: 'step_succeeded';
      stepId: string;
      attempt: number;
      direction: Direction;
      summary: string;
      figures?: Record<string, number | string>;
    }
  | {
      type: 'step_failed';
      stepId: string;
      attempt: number;
      direction: Direction;
      error: string;
      retryable: boolean;
      /** What a failing check measured, kept for the report's before/after comparison. */
      figures?: Record<string, number | string>;
    }
  /** Just before acting, the step as it would run is no longer what was approved: it asks again. */
  | { type: 'step_changed'; stepId: string; attempt: number; content: StepContent };

export type TimelineType =
  | 'run_started'
  | 'approval_requested'
  | 'approved'
  | 'rejected'
  | 'refused'
  | 'step_started'
  | 'step_retrying'
  | 'step_succeeded'
  | 'step_failed'
  | 'step_skipped'
  | 'step_retried'
  | 'waiting_for_person'
  | 'step_done'
  | 'rollback_started'
  | 'undo_started'
  | 'undo_succeeded'
  | 'undo_failed'
  | 'undo_skipped'
  | 'run_succeeded'
  | 'run_rolled_back'
  | 'run_aborted'
  | 'note'
  | 'incident_opened'
  | 'incident_resolved'
  | 'run_held'
  | 'incident_overridden'
  | 'reminder'
  | 'step_progress'
  | 'watch_ended'
  | 'window_overridden';

export interface TimelineEntry {
  type: TimelineType;
  stepId?: string;
  actor?: string;
  /** The human detail: a summary, an error, a reason, a note. */
  detail?: string;
  figures?: Record<string, number | string>;
  /** A note's message: who wrote it and when, which may be before it was added (`actor`). */
  source?: NoteSource;
}

/** Where a note came from: the author and time of the message it quotes, and a link to it. */
export interface NoteSource {
  author: string;
  at: number;
  link?: string;
}

/** A timeline entry as it was recorded: numbered within its run, with the time it happened. */
export interface TimelineEvent extends TimelineEntry {
  id: number;
  runId: string;
  seq: number;
  at: Date;
}

export type Effect =
  /** Run (or undo) a step attempt, not before `notBefore`. */
  | { type: 'execute'; stepId: string; attempt: number; direction: Direction; notBefore: number }
  /** Post an approval request with Approve / Reject in the run's thread. */
  | { type: 'request_approval'; stepId: string }
  /** Replace the approval request's buttons with who decided what and when. */
  | { type: 'close_approval'; stepId: string; approval: Approval }
  /** Show on the open approval request who has approved so far (1 of 2). */
  | { type: 'approval_progress'; stepId: string }
  /** Stop a running attempt (abort): its outcome will be recorded but not acted on. */
  | { type: 'cancel'; stepId: string }
  /** Tell one person, and only them, why their action changed nothing (and what they can do instead). */
  | { type: 'refuse'; user: string; message: Words; offer?: Offer }
  /** Lock the run's service and environment (after a rollback), unless already locked. */
  | { type: 'lock'; by: string; reason: string }
  | { type: 'timeline'; entry: TimelineEntry };

/** A button offered with a refusal: an expired request can be asked again. */
export interface Offer {
  action: 'ask_again';
  stepId: string;
  shownFor: string;
}

export interface Decision {
  state: RunState;
  effects: Effect[];
}
