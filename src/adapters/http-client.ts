import { StepError } from '../errors.ts';
import { redactText, redactUrl } from '../redact.ts';
import { backoffDelay } from './retry.ts';
import type { StepContext } from './types.ts';

// A small fetch wrapper shared by the HTTP adapters (Heroku, the http toggle, checks, Qovery): one
// timeout per attempt, retries with backoff for what is transient, and StepErrors in the system's
// own words with every credential removed.

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  attempts: number;
  baseDelayMs: number;
  /** Upper bound of one wait; a Retry-After above it ends the retries (the executor backs off instead). */
  maxDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { attempts: 4, baseDelayMs: 250, maxDelayMs: 15_000 };

export type HttpMethod = 'GET' | 'HEAD' | 'PUT' | 'PATCH' | 'POST' | 'DELETE';

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed JSON body, or undefined when the body is empty or not JSON. */
  body: unknown;
  /** Time from sending the request to reading the whole body. */
  elapsedMs: number;
  /** Attempts it took, 1 when the first one answered. */
  attempts: number;
}

export interface HttpFailure {
  method: HttpMethod;
  /** The URL without credentials, fit for a message. */
  url: string;
  status: number;
  /** What the system said (its `message`/`error`, else the start of the body), without secrets. */
  words: string;
  /** The system's own error id, e.g. Heroku's "not_found". */
  reason: string | undefined;
  response: HttpResponse;
  /** True when the status is transient (429, 5xx) and retries ran out. */
  transient: boolean;
}

export interface HttpCallOptions {
  method?: HttpMethod;
  headers?: Record<string, string>;
  /** Sent as a JSON body with Content-Type: application/json. */
  json?: unknown;
  timeoutMs: number;
  /** Who answers, as a person would name it in a message: "Heroku", "the maintenance endpoint". */
  system: string;
  /** Values (tokens) to scrub from any message, on top of the usual patterns. */
  secrets?: readonly string[];
  /** `false` for one attempt only (checks measure; they do not retry). */
  retry?: Partial<RetryPolicy> | false;
  /** Statuses handed back to the caller instead of thrown. Default: 2xx. */
  accept?: (status: number) => boolean;
  /** Builds the error for a status that is not accepted; undefined falls back to a generic message. */
  describeFailure?: (failure: HttpFailure) => StepError | undefined;
  /** Sees every response, retried ones included (Heroku reads RateLimit-Remaining here). */
  onResponse?: (response: Response) => void;
}

export type HttpContext = Pick<StepContext, 'signal' | 'sleep' | 'log'>;

const sensitiveParam = /token|key|secret|password|passwd|signature|sig|auth|credential/i;

/** A URL fit for a message or a log: no userinfo, and sensitive query values replaced by ***. */
export function displayUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return redactText(url);
  }
  for (const name of [...parsed.searchParams.keys()]) {
    if (sensitiveParam.test(name)) parsed.searchParams.set(name, '***');
  }
  const hadCredentials = parsed.username !== '' || parsed.password !== '';
  parsed.username = '';
  parsed.password = '';
  const shown = parsed.toString().replace(/\?$/, '');
  return hadCredentials ? shown.replace('://', '://***@') : redactUrl(shown);
}

function isTransient(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Retry-After in milliseconds (delta-seconds or an HTTP date), or undefined. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const value = headers.get('retry-after');
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function parseBody(text: string, contentType: string | null): unknown {
  const trimmed = text.trim();
  if (trimmed === '') return undefined;
  if (!(contentType ?? '').includes('json') && !/^[[{]/.test(trimmed)) return undefined;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return undefined;
  }
}

function field(body: unknown, name: string): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const value = (body as Record<string, unknown>)[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** What the system said, in its own words, shortened and without secrets. */
export function systemWords(
  response: Pick<HttpResponse, 'body' | 'text'>,
  secrets: readonly string[] = [],
): string {
  const words =
    field(response.body, 'message') ??
    field(response.body, 'error_description') ??
    field(response.body, 'error') ??
    field(response.body, 'detail') ??
    response.text.replace(/\s+/g, ' ').trim();
  const short = words.length > 200 ? `${words.slice(0, 200)}…` : words;
  return redactText(short === '' ? '(empty body)' : short, secrets);
}

function hintFor(status: number): string {
  if (status === 401) return 'check the token';
  if (status === 403) return 'check that the token may do this';
  if (status === 404) return 'check the URL';
  if (isTransient(status)) return 'it may be temporary; retry in a moment';
  return 'check the request in the plan';
}

function cause(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const inner = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${inner}`;
}

/** Waits through ctx.sleep; false when the step was aborted meanwhile. */
export async function pause(ctx: HttpContext, ms: number): Promise<boolean> {
  try {
    await ctx.sleep(ms);
    return true;
  } catch (error) {
    if (ctx.signal.aborted) return false;
    throw error;
  }
}

/**
 * One HTTP exchange with retries. Network errors, timeouts, 408, 429 and 5xx are retried (honouring
 * Retry-After) and end as a retryable StepError; other statuses outside `accept` end as a StepError
 * that is not retryable. Sleeps go through `ctx.sleep`, so an aborted run stops waiting at once.
 */
export async function httpCall(
  fetchFn: typeof fetch,
  url: string,
  options: HttpCallOptions,
  ctx: HttpContext,
): Promise<HttpResponse> {
  const method = options.method ?? 'GET';
  const policy: RetryPolicy =
    options.retry === false
      ? { ...defaultRetryPolicy, attempts: 1 }
      : { ...defaultRetryPolicy, ...options.retry };
  const accept = options.accept ?? ((status: number) => status >= 200 && status < 300);
  const secrets = options.secrets ?? [];
  const shownUrl = displayUrl(url);
  const headers: Record<string, string> = { ...options.headers };
  let body: string | undefined;
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['Content-Type'] ??= 'application/json';
  }

  let lastError: StepError | undefined;
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    if (ctx.signal.aborted) break;
    const started = performance.now();
    let response: HttpResponse;
    try {
      const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(options.timeoutMs)]);
      const raw = await fetchFn(url, { method, headers, body, signal, redirect: 'follow' });
      options.onResponse?.(raw);
      const text = await raw.text();
      response = {
        status: raw.status,
        headers: raw.headers,
        text,
        body: parseBody(text, raw.headers.get('content-type')),
        elapsedMs: performance.now() - started,
        attempts: attempt,
      };
    } catch (error) {
      if (ctx.signal.aborted) break;
      const timedOut =
        error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      lastError = new StepError(
        timedOut
          ? `${options.system} did not answer ${method} ${shownUrl} within ${options.timeoutMs} ms (${attempt} attempt${attempt === 1 ? '' : 's'}): it may be down or overloaded; Ferry retries the step`
          : `${options.system} could not be reached for ${method} ${shownUrl} (${redactText(cause(error), secrets)}, ${attempt} attempt${attempt === 1 ? '' : 's'}): check the URL and the network; Ferry retries the step`,
        { retryable: true, reason: timedOut ? 'timeout' : 'network', cause: error },
      );
      if (attempt < policy.attempts) {
        const delayMs = backoffDelay(attempt, policy.baseDelayMs, policy.maxDelayMs);
        ctx.log.warn(
          { system: options.system, url: shownUrl, attempt, delayMs, reason: lastError.reason },
          'retrying',
        );
        if (!(await pause(ctx, delayMs))) break;
      }
      continue;
    }

    if (accept(response.status)) return response;

    const transient = isTransient(response.status);
    if (transient && attempt < policy.attempts) {
      const told = retryAfterMs(response.headers);
      if (told === undefined || told <= policy.maxDelayMs) {
        const delayMs = told ?? backoffDelay(attempt, policy.baseDelayMs, policy.maxDelayMs);
        ctx.log.warn(
          { system: options.system, url: shownUrl, status: response.status, attempt, delayMs },
          'retrying',
        );
        if (!(await pause(ctx, delayMs))) break;
        continue;
      }
    }
    const failure: HttpFailure = {
      method,
      url: shownUrl,
      status: response.status,
      words: systemWords(response, secrets),
      reason: field(response.body, 'id') ?? field(response.body, 'code') ?? field(response.body, 'reason'),
      response,
      transient,
    };
    throw (
      options.describeFailure?.(failure) ??
      new StepError(
        `${options.system} answered ${failure.status} to ${method} ${shownUrl}: ${failure.words}; ${hintFor(failure.status)}`,
        { retryable: transient, reason: failure.reason ?? String(failure.status) },
      )
    );
  }
  if (ctx.signal.aborted) {
    throw new StepError(`${method} ${shownUrl} was cancelled: the step was aborted or timed out`, {
      retryable: true,
      reason: 'aborted',
      cause: ctx.signal.reason,
    });
  }
  throw lastError ?? new StepError(`${method} ${shownUrl} was not attempted`, { retryable: true });
}

/** Reads a JSON object body, or fails with a message that says what came back instead. */
export function expectObject(response: HttpResponse, what: string): Record<string, unknown> {
  if (typeof response.body === 'object' && response.body !== null && !Array.isArray(response.body)) {
    return response.body as Record<string, unknown>;
  }
  throw new StepError(
    `${what} did not return a JSON object (status ${response.status}): ${systemWords(response)}`,
    {
      retryable: false,
      reason: 'bad_response',
    },
  );
}
