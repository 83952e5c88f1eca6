// Every action_id Ferry puts on a button, in one place. A button's value is `<run>:<step>` or `<run>`.

export const ActionId = {
  approve: 'ferry_approve',
  reject: 'ferry_reject',
  retry: 'ferry_retry',
  skip: 'ferry_skip',
  rollback: 'ferry_rollback',
  abort: 'ferry_abort',
  done: 'ferry_done',
} as const;

export type ActionName = keyof typeof ActionId;

export function buttonValue(runId: string, stepId?: string): string {
  return stepId ? `${runId}:${stepId}` : runId;
}

export interface ButtonTarget {
  runId: string;
  stepId?: string;
}

export function parseButtonValue(value: string | undefined): ButtonTarget | null {
  const match = /^(r\d+)(?::([a-z0-9][a-z0-9-]*))?$/.exec(value ?? '');
  if (!match) return null;
  return match[2] ? { runId: match[1]!, stepId: match[2] } : { runId: match[1]! };
}
