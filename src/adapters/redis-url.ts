import { StepError } from '../errors.ts';

// Redis connection URLs as Heroku and plans write them: `rediss://:<password>@host:port` (password
// only, TLS), `redis://user:pass@host:6379/2`. Parsed here once, so no other module needs to look
// inside a URL that carries a password.

export interface RedisTarget {
  host: string;
  port: number;
  /** `rediss://`: TLS. Heroku Key-Value Store requires it (integrations.md §2). */
  tls: boolean;
  db: number;
  /** Absent when the URL has no user or an empty one (`redis://:pass@host`). */
  username?: string;
  password?: string;
}

const DEFAULT_PORT = 6379;
const usage = 'expected redis://[[user]:password@]host[:port][/db] or rediss://… for TLS';

function invalid(problem: string): StepError {
  return new StepError(`Redis URL ${problem} (${usage})`, { retryable: false, reason: 'redis_url_invalid' });
}

/**
 * What can be shown of a URL that failed our checks: query and fragment dropped, everything up to the
 * last `@` hidden. A string that is not even a URL is not shown at all: it may be a bare password
 * put in the wrong variable.
 */
function redactUnparsed(raw: string): string {
  const text = raw.replace(/[?#].*$/s, '');
  const at = text.lastIndexOf('@');
  if (at !== -1) {
    const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text)?.[0] ?? '';
    return `${scheme}***${text.slice(at)}`;
  }
  if (!URL.canParse(text)) return '(value hidden)';
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function decode(part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalid(`has a badly percent-encoded ${what}`);
  }
}

/**
 * `rediss://user:pass@host:6380/0` -> `{ host, port: 6380, tls: true, db: 0, username, password }`.
 * Errors say what is wrong and never contain the password.
 */
export function parseRedisUrl(url: string): RedisTarget {
  const text = url.trim();
  if (text === '') throw invalid('is empty');
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    const shown = redactUnparsed(text);
    throw invalid(shown === '(value hidden)' ? 'is not a valid URL' : `"${shown}" is not a valid URL`);
  }
  const shown = redactUnparsed(text);
  let tls: boolean;
  if (parsed.protocol === 'redis:') tls = false;
  else if (parsed.protocol === 'rediss:') tls = true;
  else throw invalid(`"${shown}" has scheme "${parsed.protocol.replace(/:$/, '')}"`);

  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw invalid(`"${shown}" has no host`);

  let port = DEFAULT_PORT;
  if (parsed.port !== '') {
    port = Number(parsed.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw invalid(`"${shown}" has port ${parsed.port}`);
  }

  let db = 0;
  const path = parsed.pathname;
  if (path !== '' && path !== '/') {
    const match = /^\/(\d{1,5})\/?$/.exec(path);
    if (!match) throw invalid(`"${shown}" has "${path}" where a database number (0, 1, 2, ...) belongs`);
    db = Number(match[1]);
  }

  const target: RedisTarget = { host, port, tls, db };
  const username = decode(parsed.username, 'user name');
  const password = decode(parsed.password, 'password');
  if (username !== '') target.username = username;
  if (password !== '') target.password = password;
  return target;
}

/** `rediss://***@host:6380/0`: for messages, logs and the timeline. */
export function describeRedisUrl(url: string): string {
  let target: RedisTarget;
  try {
    target = parseRedisUrl(url);
  } catch {
    return redactUnparsed(url.trim());
  }
  return formatTarget(target);
}

/** `host:port/db` with the scheme and a `***@` where credentials were. */
export function formatTarget(target: RedisTarget): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  const credentials = target.username !== undefined || target.password !== undefined ? '***@' : '';
  return `${target.tls ? 'rediss' : 'redis'}://${credentials}${host}:${target.port}/${target.db}`;
}
