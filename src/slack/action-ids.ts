// Every action_id Ferry puts on a button, in one place. A button's value is `<run>`, `<run>:<step>`
// or `<run>:<step>:<token>`: the token says what the button was shown for (the approval request,
// the failed attempt, the wait for Done), so a click on a replaced message is refused rather than
// taken for the newest one. Values without a token come from messages posted before tokens existed.

export const ActionId = {
  approve: 'ferry_approve',
  reject: 'ferry_reject',
  askAgain: 'ferry_ask_again',
  retry: 'ferry_retry',
  skip: 'ferry_skip',
  rollback: 'ferry_rollback',
  abort: 'ferry_abort',
  done: 'ferry_done',
  goOn: 'ferry_go_on',
  /** Ends a running watch early: what it saw so far is good enough. */
  looksGood: 'ferry_looks_good',
  /** Opens the Add note modal; its value is the run. */
  addNote: 'ferry_add_note',
} as const;

export type ActionName = keyof typeof ActionId;

/** The callback ids of Ferry's modal and its message shortcut (manifest.yml names the shortcut's). */
export const CallbackId = {
  /** The Add note modal (the status message's button, or the shortcut when the run is to be chosen). */
  noteModal: 'ferry_note',
  /** The message shortcut "Add to migration timeline". */
  addToTimeline: 'ferry_add_to_timeline',
} as const;

export function buttonValue(runId: string, stepId?: string, shownFor?: string): string {
  if (!stepId) return runId;
  return shownFor ? `${runId}:${stepId}:${shownFor}` : `${runId}:${stepId}`;
}

export interface ButtonTarget {
  runId: string;
  stepId?: string;
  shownFor?: string;
}

export function parseButtonValue(value: string | undefined): ButtonTarget | null {
  const match = /^(r\d+)(?::([a-z0-9][a-z0-9-]*)(?::([a-z][a-z0-9]{0,16}))?)?$/.exec(value ?? '');
  if (!match) return null;
  return {
    runId: match[1]!,
    ...(match[2] ? { stepId: match[2] } : {}),
    ...(match[3] ? { shownFor: match[3] } : {}),
  };
}
