export * from './types.ts';
export { decide, changesSomething, retryDelayMs, MAX_ATTEMPTS } from './decide.ts';
export * from './policy.ts';
export { newRunState } from './new-run.ts';
