import type { Redis } from 'ioredis';
import { StepError } from '../errors.ts';
import { redactText } from '../redact.ts';
import { formatTarget, parseRedisUrl } from './redis-url.ts';
import type { RedisTarget } from './redis-url.ts';

// One short-lived ioredis connection per use: every Redis-backed step opens, works and closes, so a
// step never inherits a half-broken connection from another, and a password lives only as long as
// the call. ioredis 6 speaks RESP3 by default (HELLO 3, falling back to RESP2 on old servers) with
// RESP2-shaped replies ("legacy" mapping), so replies look as they did in ioredis 5.

export interface RedisConnectOptions {
  /** Skip certificate verification for `rediss://`: Heroku Redis serves self-signed certificates. */
  tlsInsecure?: boolean;
  /** Connect timeout and per-command timeout. */
  timeoutMs: number;
  /**
   * Prefix for every key argument (redis-namespace apps: `"myapp:"`). ioredis does NOT apply it to
   * SCAN/KEYS patterns nor strip it from the keys they return: callers scanning must do both.
   */
  keyPrefix?: string;
}

const RECONNECT_ATTEMPTS = 2;

/**
 * Opens a connection to `url`, runs `fn` with it and always closes it. Connection failures and
 * transient Redis errors become retryable `StepError`s naming the host; refused credentials,
 * untrusted certificates and other Redis errors become permanent ones. No message carries the
 * password.
 */
export async function withRedis<T>(
  url: string,
  opts: RedisConnectOptions,
  fn: (redis: Redis) => Promise<T>,
): Promise<T> {
  const target = parseRedisUrl(url);
  const where = formatTarget(target);
  const secrets = [target.password, target.username].filter((s): s is string => s !== undefined);
  let lastError: Error | undefined;

  // Loaded on the first Redis-backed step: a Ferry whose plans use no Redis never carries ioredis.
  const { Redis } = await import('ioredis');
  const client = new Redis({
    host: target.host,
    port: target.port,
    db: target.db,
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
    ...(target.tls ? { tls: { rejectUnauthorized: opts.tlsInsecure !== true } } : {}),
    ...(opts.keyPrefix ? { keyPrefix: opts.keyPrefix } : {}),
    lazyConnect: true,
    connectTimeout: opts.timeoutMs,
    commandTimeout: opts.timeoutMs,
    maxRetriesPerRequest: 1,
    // A blip mid-step reconnects a couple of times; anything longer fails the step, which the
    // executor retries with its own backoff.
    retryStrategy: (times) => (times > RECONNECT_ATTEMPTS ? null : Math.min(100 * 2 ** times, 1000)),
    // How long a closing connection may linger before its socket is destroyed (ioredis: 2 s).
    disconnectTimeout: Math.min(opts.timeoutMs, 2000),
    connectionName: 'ferry',
    disableClientInfo: true,
  });
  // Without a listener ioredis prints every connection error to stderr; the last one explains a
  // failed connect() better than its generic "Connection is closed.".
  client.on('error', (error: Error) => {
    lastError = error;
  });

  try {
    try {
      await connectOrFail(client);
    } catch (error) {
      throw toRedisStepError(lastError ?? error, where, secrets, target) ?? error;
    }
    try {
      return await fn(client);
    } catch (error) {
      throw toRedisStepError(error, where, secrets, target) ?? error;
    }
  } finally {
    await close(client, Math.min(opts.timeoutMs, 2000));
  }
}

/**
 * `connect()` settles only when the connection closes, which after a failed handshake waits out
 * ioredis's reconnect and disconnect timers; the first error during connecting is answer enough.
 */
function connectOrFail(client: Redis): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    client.once('error', onError);
    client.connect().then(
      () => {
        client.off('error', onError);
        resolve();
      },
      (error: unknown) => {
        client.off('error', onError);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

async function close(client: Redis, timeoutMs: number): Promise<void> {
  if (client.status === 'end') return;
  let timer: NodeJS.Timeout | undefined;
  const ended = new Promise<void>((resolve) => {
    client.once('end', () => resolve());
    timer = setTimeout(resolve, timeoutMs);
    timer.unref();
  });
  if (client.status === 'ready') {
    try {
      await client.quit();
    } catch {
      // the connection is going away either way
    }
  }
  client.disconnect();
  await ended;
  clearTimeout(timer);
}

/**
 * ioredis attaches the failed command to reply errors (`err.command.args`), and for HELLO/AUTH
 * those args hold the password: keep only the name, code and redacted message as the cause.
 */
function sanitized(error: Error, message: string): Error {
  const copy = new Error(message);
  copy.name = error.name;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') Object.assign(copy, { code });
  return copy;
}

const transientReplies = ['LOADING', 'BUSY', 'TRYAGAIN', 'MASTERDOWN', 'CLUSTERDOWN', 'READONLY'];
const authReplies = [
  'WRONGPASS',
  'NOAUTH',
  'NOPERM',
  'ERR AUTH',
  'ERR invalid password',
  'ERR Client sent AUTH',
];
const connectionMessages = [
  'Connection is closed.',
  'Command timed out',
  "Stream isn't writeable and enableOfflineQueue options is false",
];

function isCertificateError(error: Error & { code?: unknown }): boolean {
  const code = typeof error.code === 'string' ? error.code : '';
  return (
    code.startsWith('CERT_') ||
    code.includes('SELF_SIGNED') ||
    code.startsWith('UNABLE_TO_') ||
    code === 'ERR_TLS_CERT_ALTNAME_INVALID' ||
    /self[- ]signed certificate|unable to verify the first certificate/i.test(error.message)
  );
}

/**
 * A Redis or connection error as a `StepError` with an actionable message, or undefined when the
 * error did not come from Redis (a bug in the caller), which is rethrown unchanged.
 */
export function toRedisStepError(
  error: unknown,
  where: string,
  secrets: readonly string[] = [],
  target?: RedisTarget,
): StepError | undefined {
  if (error instanceof StepError) return error;
  if (!(error instanceof Error)) return undefined;
  const said = redactText(error.message, secrets);
  const code = (error as { code?: unknown }).code;
  const cause = sanitized(error, said);

  if (error.name === 'ReplyError') {
    if (authReplies.some((prefix) => error.message.startsWith(prefix))) {
      return new StepError(
        `Redis at ${where} refused the credentials (${said}). Check the user and password in the URL.`,
        { retryable: false, reason: error.message.split(' ')[0], cause },
      );
    }
    if (transientReplies.some((prefix) => error.message.startsWith(prefix))) {
      // Whether it is retried is the step's business (checks are not): the timeline says when it is.
      return new StepError(`Redis at ${where} is busy (${said}).`, {
        retryable: true,
        reason: error.message.split(' ')[0],
        cause,
      });
    }
    return new StepError(`Redis at ${where} answered with an error: ${said}`, {
      retryable: false,
      reason: error.message.split(' ')[0],
      cause,
    });
  }

  if (isCertificateError(error)) {
    const hint =
      target?.tls === true
        ? ' Heroku Redis serves self-signed certificates: set tls_insecure: true on the provider.'
        : '';
    return new StepError(`Redis at ${where}: TLS certificate not trusted (${said}).${hint}`, {
      retryable: false,
      reason: typeof code === 'string' ? code : 'tls_certificate',
      cause,
    });
  }

  if (
    typeof code === 'string' ||
    error.name === 'MaxRetriesPerRequestError' ||
    connectionMessages.some((m) => error.message.startsWith(m))
  ) {
    return new StepError(
      `Redis at ${where} is unreachable (${said}). If this persists, check the host, ` +
        `port and whether the URL needs rediss:// (TLS).`,
      { retryable: true, reason: typeof code === 'string' ? code : 'connection', cause },
    );
  }
  return undefined;
}

/** Per-command timeout for Redis-backed steps: the adapters' per-call timeout from config. */
export function redisTimeoutMs(env: { httpTimeoutMs: number }): number {
  return env.httpTimeoutMs;
}

/** `withRedis` options for a provider that has `tls_insecure`. */
export function connectOptions(
  env: { httpTimeoutMs: number },
  provider: { tls_insecure?: boolean | undefined },
  keyPrefix?: string,
): RedisConnectOptions {
  return {
    timeoutMs: redisTimeoutMs(env),
    ...(provider.tls_insecure !== undefined ? { tlsInsecure: provider.tls_insecure } : {}),
    ...(keyPrefix ? { keyPrefix } : {}),
  };
}
