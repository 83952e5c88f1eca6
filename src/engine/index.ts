export * from './types.ts';
export { decide, isActive, isReversible, retryDelayMs, MAX_ATTEMPTS, terminalStatuses } from './decide.ts';
export { approvalRefusal, approverList, isApprover, lockRefusal, operateRefusal } from './policy.ts';
export { newRunState } from './new-run.ts';
