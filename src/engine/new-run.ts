import type { StepContent } from '../plan/content.ts';
import type { StepSpec } from '../plan/schema.ts';
import type { Policy, RunState } from './types.ts';

/** A fresh run, before its `start` event: how the store creates one, and how engine tests begin. */
export function newRunState(input: {
  id: string;
  service: string;
  environment: string;
  startedBy: string;
  startedAt: number;
  policy: Policy;
  purpose?: RunState['purpose'];
  steps: ReadonlyArray<{ spec: StepSpec; title: string; approvalsNeeded?: number; content?: StepContent }>;
}): RunState {
  return {
    id: input.id,
    purpose: input.purpose ?? 'runbook',
    service: input.service,
    environment: input.environment,
    status: 'running',
    startedBy: input.startedBy,
    startedAt: input.startedAt,
    finishedAt: null,
    policy: input.policy,
    incidents: [],
    steps: input.steps.map(({ spec, title, approvalsNeeded, content }) => ({
      id: spec.id,
      kind: spec.kind,
      title,
      needsApproval: spec.approval === 'required',
      status: 'pending',
      attempt: 0,
      retries: 0,
      direction: 'do',
      undo: null,
      waitingForPerson: false,
      approval: null,
      approvalsNeeded: approvalsNeeded ?? 1,
      votes: [],
      content: content ?? null,
      actedBy: null,
      approvalRequestedAt: null,
      remindAt: null,
      irreversible: spec.irreversible === true,
      forwardFix: spec.forward_fix ?? null,
      summary: null,
      error: null,
      startedAt: null,
      finishedAt: null,
    })),
  };
}
