import { StepError } from '../errors.ts';
import { displayUrl, httpCall, systemWords, type HttpContext } from './http-client.ts';

// Instant queries against a Prometheus HTTP API (`GET /api/v1/query`), as a watch samples them.
// What Ferry needs of Prometheus is one number per series at this moment; range vectors and strings
// are refused with what to write instead.

export interface PrometheusTarget {
  /** The server's base URL, as a browser opens it: `http://prometheus:9090`. */
  url: string;
  /** Sent as `Authorization: Bearer …` (a proxy in front of Prometheus, Grafana Cloud). */
  token?: string | undefined;
  timeoutMs: number;
}

/** The API path an instant query goes to, under the server's base URL. */
export const INSTANT_QUERY_PATH = '/api/v1/query';

/**
 * One instant query: each series' value now (one for a scalar; none for an empty vector). `NaN`,
 * `+Inf` and `-Inf` come back as such, for the caller to judge. A transport failure is retried once;
 * anything else that is not an answer throws a StepError in Prometheus' own words.
 */
export async function queryInstant(
  fetchFn: typeof fetch,
  target: PrometheusTarget,
  query: string,
  ctx: HttpContext,
): Promise<number[]> {
  const url = `${target.url.replace(/\/+$/, '')}${INSTANT_QUERY_PATH}?${new URLSearchParams({ query })}`;
  const shown = displayUrl(target.url);
  const response = await httpCall(
    fetchFn,
    url,
    {
      method: 'GET',
      timeoutMs: target.timeoutMs,
      system: `Prometheus at ${shown}`,
      headers: {
        Accept: 'application/json',
        ...(target.token ? { Authorization: `Bearer ${target.token}` } : {}),
      },
      ...(target.token ? { secrets: [target.token] } : {}),
      // One more try for a blip; a watch samples again at its next interval anyway.
      retry: { attempts: 2, baseDelayMs: 200, maxDelayMs: 1_000 },
      // Prometheus explains a bad query in its JSON body (400, 422), which is worth more than the status.
      accept: (status) => status < 500 && status !== 401 && status !== 403 && status !== 404,
    },
    ctx,
  );
  const body = response.body as
    | {
        status?: unknown;
        error?: unknown;
        errorType?: unknown;
        data?: { resultType?: unknown; result?: unknown };
      }
    | undefined;
  if (body?.status === 'error') {
    const type = typeof body.errorType === 'string' ? `${body.errorType}: ` : '';
    throw new StepError(
      `Prometheus refused the query (${response.status} ${type}${systemWords(response)}): check the query in the plan`,
      { retryable: false, reason: typeof body.errorType === 'string' ? body.errorType : 'query_refused' },
    );
  }
  if (body?.status !== 'success' || typeof body.data !== 'object' || body.data === null) {
    throw new StepError(
      `${shown} did not answer as a Prometheus API does (${response.status}: ${systemWords(response)}): check the url, which is the server's base URL, without ${INSTANT_QUERY_PATH}`,
      { retryable: false, reason: 'bad_response' },
    );
  }
  const { resultType, result } = body.data;
  if (resultType === 'scalar') return [sampleValue(result)];
  if (resultType === 'vector' && Array.isArray(result))
    return result.map((series) => sampleValue((series as { value?: unknown } | null)?.value));
  if (resultType === 'matrix')
    throw new StepError(
      'Prometheus answered with a range vector: a watch needs one value per series now; wrap the range in a function such as rate(…[1m])',
      { retryable: false, reason: 'range_vector' },
    );
  throw new StepError(`Prometheus answered with a ${String(resultType)}, where a watch needs numbers`, {
    retryable: false,
    reason: 'not_a_number',
  });
}

/** `[<unix seconds>, "<value>"]`, as the API writes a sample. */
function sampleValue(pair: unknown): number {
  const text = Array.isArray(pair) ? (pair[1] as unknown) : undefined;
  if (typeof text !== 'string')
    throw new StepError('Prometheus answered with a sample that is not [time, "value"]', {
      retryable: false,
      reason: 'bad_response',
    });
  // Prometheus writes NaN and ±Inf the way Go formats them; Number() reads neither spelling of Inf.
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}
