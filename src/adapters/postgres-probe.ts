import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { StepError } from '../errors.ts';
import { redactText } from '../redact.ts';
import { summariseLatency, type LatencyResult } from './latency-stats.ts';

// The `postgres` latency check: N `SELECT 1` round trips on one connection, measured after connecting
// so the TCP/TLS handshake and authentication do not count, summarised as nearest-rank p50/p95.

export interface PostgresLatencyOptions {
  samples: number;
  /** The check fails when p95 is above this. Without it the check reports figures and passes. */
  maxP95Ms?: number;
  /** Connect timeout and per-statement timeout. */
  timeoutMs: number;
  /** Ends the connection early when the step is aborted. */
  signal?: AbortSignal;
}

export type PostgresLatencyResult = LatencyResult;

/** `postgres://user:pw@db.example.com:5432/billing` -> `***@db.example.com/billing`. */
export function describePostgresUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '(a Postgres URL that does not parse)';
  }
  const credentials = parsed.username !== '' || parsed.password !== '' ? '***@' : '';
  const port = parsed.port !== '' && parsed.port !== '5432' ? `:${parsed.port}` : '';
  const db = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  return `${credentials}${parsed.hostname}${port}/${db}`;
}

function secretsOf(url: string): string[] {
  try {
    const parsed = new URL(url);
    return [decodeURIComponent(parsed.password), parsed.password].filter((s) => s !== '');
  } catch {
    return [];
  }
}

/** Auth and "no such database" will not fix themselves; connection trouble might. */
const permanentCodes = new Set(['28P01', '28000', '3D000', '42501']);

function toStepError(error: unknown, where: string, secrets: string[], doing: string): StepError {
  const code = (error as { code?: unknown } | null)?.code;
  const text = redactText(error instanceof Error ? error.message : String(error), secrets);
  const permanent = typeof code === 'string' && permanentCodes.has(code);
  return new StepError(
    `Postgres ${where} ${doing} (${text}${typeof code === 'string' ? `, ${code}` : ''}): ${
      permanent
        ? 'check the user, password and database in the URL'
        : 'check the URL and that Ferry can reach the database'
    }`,
    { retryable: !permanent, reason: typeof code === 'string' ? code : 'connection', cause: error },
  );
}

/**
 * Measures `SELECT 1` round trips. Throws a StepError (retryable unless credentials or the database
 * name are wrong) when Postgres cannot be reached or a statement times out.
 */
export async function postgresLatencyCheck(
  url: string,
  opts: PostgresLatencyOptions,
): Promise<PostgresLatencyResult> {
  const count = Math.max(1, Math.floor(opts.samples));
  const where = describePostgresUrl(url);
  const secrets = secretsOf(url);
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: opts.timeoutMs,
    statement_timeout: opts.timeoutMs,
    query_timeout: opts.timeoutMs,
    application_name: 'ferry-latency-check',
  });
  // A connection dropped mid-check emits 'error' on the client; the failing query reports it.
  client.on('error', () => undefined);
  const onAbort = () => void client.end().catch(() => undefined);
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    opts.signal?.throwIfAborted();
    try {
      await client.connect();
    } catch (error) {
      throw toStepError(error, where, secrets, 'could not be reached');
    }
    const durations: number[] = [];
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      try {
        await client.query('SELECT 1');
      } catch (error) {
        throw toStepError(error, where, secrets, `failed SELECT 1 (sample ${i + 1} of ${count})`);
      }
      durations.push(performance.now() - started);
    }
    return summariseLatency(durations, {
      system: 'Postgres',
      where,
      unit: 'round trip',
      maxP95Ms: opts.maxP95Ms,
    });
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    await client.end().catch(() => undefined);
  }
}
