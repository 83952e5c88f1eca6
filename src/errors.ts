import { plain, type Words } from './words.ts';

// Coded errors, after bolt-js's errors.ts: a stable `code`, a message a person can act on, and the
// original kept as `cause`. `toFerryError` turns anything thrown into one.

export type ErrorCode =
  | 'config_invalid'
  | 'plan_invalid'
  | 'plan_not_found'
  | 'command_invalid'
  | 'run_not_found'
  | 'run_ambiguous'
  | 'run_active'
  | 'run_locked'
  | 'run_held'
  | 'run_not_soaked'
  | 'outside_window'
  | 'env_missing'
  | 'not_authorized'
  | 'transition_refused'
  | 'step_failed'
  | 'step_blocked'
  | 'timeout'
  | 'unexpected';

export class FerryError extends Error {
  readonly code: ErrorCode;
  /** The message with the people, groups and channels it names kept apart, for each surface to render. */
  readonly words: Words;
  constructor(code: ErrorCode, message: string | Words, options?: { cause?: unknown }) {
    super(plain(message), options);
    this.name = 'FerryError';
    this.code = code;
    this.words = typeof message === 'string' ? [message] : message;
  }
}

/**
 * What an adapter throws when a step cannot complete. `retryable` errors (throttling, timeouts,
 * connection resets) are retried with backoff by the executor; the others fail the step with
 * `message`, which is shown to people and must carry no secret.
 */
export class StepError extends FerryError {
  readonly retryable: boolean;
  /** The external system's own error code, e.g. "InvalidChangeBatch" or "rate_limit". */
  readonly reason: string | undefined;
  constructor(message: string, options: { retryable: boolean; reason?: string; cause?: unknown }) {
    super('step_failed', message, { cause: options.cause });
    this.name = 'StepError';
    this.retryable = options.retryable;
    this.reason = options.reason;
  }
}

export function toFerryError(error: unknown): FerryError {
  if (error instanceof FerryError) return error;
  if (error instanceof Error) return new FerryError('unexpected', error.message, { cause: error });
  return new FerryError('unexpected', String(error));
}
