import { createHash } from 'node:crypto';
import { findVarRefs } from './plan/vars.ts';

// Nothing secret reaches Slack, the logs, the timeline or an uploaded file.
// Two kinds of redaction, applied together by `Redactor.text`:
// - secrets known by value (Ferry's own credentials, the secret values of the plans' ${VAR}s) are cut
//   wherever they appear: 4 characters or more as any substring, shorter ones only as a whole word;
// - credential-shaped text is cut whatever its value: URL userinfo and credential paths, sensitive
//   query and fragment parameters, Authorization/Cookie/`*-key:` headers, `password=` in DSNs and
//   key-value text, secret-named JSON fields, and tokens with a known shape (xoxb-, Bearer, AKIA...).

/** What replaces a secret. */
export const MASK = '***';

/**
 * A known secret of fewer characters than this is cut only where it stands as a word of its own, so
 * that a secret "a" does not shred every message; a longer one is cut wherever it appears.
 */
export const SHORT_SECRET_LENGTH = 4;

/**
 * Characters that glue a short secret to its neighbours: letters, digits, combining marks, `_`, and
 * `*` (the mask), so cutting one occurrence never turns a neighbouring one into a whole word.
 */
const WORD_CHAR = String.raw`\p{L}\p{N}\p{M}_*`;
const hasLetterOrDigit = /[\p{L}\p{N}]/u;

/** Length as a person counts characters (code points), not UTF-16 units. */
export function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Each character of `text` as a literal for a `u` regex (ASCII letters and digits stay readable). */
function literal(text: string): string {
  let out = '';
  for (const ch of text) {
    out += /^[A-Za-z0-9_]$/.test(ch) ? ch : `\\u{${ch.codePointAt(0)!.toString(16)}}`;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// URLs

const schemeStart = /\b[a-z][a-z0-9+.-]*:\/\//gi;
/** Where a URL written in text ends: whitespace, a quote, an angle bracket or a backtick. */
const urlStop = /[\s"'<>`]/;

/**
 * Userinfo, read the way a person writes it: up to the last `@` of the URL, so a raw `@`, `/`, `?` or
 * `#` in a password (`redis://:p@ss/word@host`) is removed whole. An `@` after a path or query
 * (`https://h/p?email=a@b.com`) is not userinfo, unless what precedes the first `/` looks like
 * `user:` (a password holding `/`): then the whole run up to the last `@` goes, more than needed
 * rather than a password's tail.
 */
function redactUserinfo(text: string): string {
  schemeStart.lastIndex = 0;
  let out = '';
  let from = 0;
  for (let m = schemeStart.exec(text); m; m = schemeStart.exec(text)) {
    const start = m.index + m[0].length;
    if (start < from) continue;
    let end = start;
    while (end < text.length && !urlStop.test(text[end]!)) end++;
    const at = text.lastIndexOf('@', end - 1);
    if (at < start) continue;
    const userinfo = text.slice(start, at);
    const authority = userinfo.split(/[/?#]/, 1)[0]!;
    if (userinfo !== authority && !/[:@]/.test(authority)) continue;
    out += text.slice(from, start) + MASK;
    from = at;
    schemeStart.lastIndex = at;
  }
  return out + text.slice(from);
}

/** Paths that are themselves the credential: Slack incoming webhooks, and `/webhook/<id>/<token>`. */
const credentialPaths = [
  /(\bhttps?:\/\/(?:[^\s/"'<>`]*\.)?hooks\.slack(?:-gov)?\.com\/(?:services|workflows|triggers)\/)[^\s?#"'<>`]+/gi,
  /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/"'<>`]+(?:\/[^\s/?#"'<>`]*)*?\/webhook[a-z0-9]*\/)[^\s?#"'<>`]+/gi,
];

/**
 * `?token=…`, `&api_key=…`, `sig=…`, `#access_token=…`: a parameter whose name ends like a credential's
 * (not `token_type=`, `design=`); its value runs to the next `&`, `#` or space.
 */
const sensitiveParam =
  /([?&;#][a-z0-9_.-]*?(?:token|key|secret|password|passwd|pwd|signature|sig|auth|credentials?)=)([^&#\s"<>]+)/gi;

/**
 * `rediss://user:pass@host:6380/0` -> `rediss://***@host:6380/0`,
 * `https://hooks.slack.com/services/T0/B0/x` -> `https://hooks.slack.com/services/***`, `?token=x` ->
 * `?token=***`. Text without such URLs is returned as it is.
 */
export function redactUrl(text: string): string {
  let out = redactUserinfo(text);
  for (const pattern of credentialPaths) out = out.replace(pattern, `$1${MASK}`);
  return out.replace(sensitiveParam, `$1${MASK}`);
}

// ---------------------------------------------------------------------------------------------------
// Headers, key-value text, JSON fields and token shapes

const quoted = String.raw`"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'`;

/** `Authorization: Basic …` of any scheme, also as a JSON field: the scheme stays, the credential goes. */
const authorizationHeader = new RegExp(
  String.raw`(?<![\w-])(["']?(?:proxy-)?authorization["']?\s*[:=]\s*)(?:(["'])(?:([A-Za-z][\w.-]*)\s+(?=[^\s"']))?(?:(?!\2)[^\\\n]|\\.)*\2|(?:([A-Za-z][\w.-]*)[ \t]+(?=[^\s"']))?[^\s"']+)`,
  'gi',
);

/** `Cookie:` and `Set-Cookie:` values, to the end of the line (cookies hold spaces: `a=1; b=2`). */
const cookieHeader = new RegExp(
  String.raw`(?<![\w-])(["']?(?:set-)?cookie["']?\s*[:=]\s*)(?:(["'])(?:(?!\2)[^\\\n]|\\.)*\2|[^\r\n"']+)`,
  'gi',
);

/** `x-api-key:`, `X-Auth-Token:`, `PRIVATE-TOKEN:`, `api-key:`: header names that carry a credential. */
const keyHeader = new RegExp(
  String.raw`(?<![\w-])(["']?(?:[A-Za-z0-9]+-)+(?:key|token|secret)["']?\s*:\s*|["']?api-?key["']?\s*:\s*)(?:${quoted}|[^\s"']+)`,
  'gi',
);

const secretKeyName = String.raw`[\w.-]*?(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|signature|credentials?)`;

/**
 * `password=… host=…` (libpq DSNs), `client_secret=…`, `PGPASSWORD=…`, and `password: …`. Starts
 * after a space or bracket, not after `&` or `?`, which are URL queries (above).
 */
const keyValue = new RegExp(
  String.raw`(?<=^|[\s{(\[,;])(${secretKeyName}\s*=\s*|(?:password|passwd|pwd)\s*:\s*)(?:${quoted}|[^\s"']+)`,
  'gim',
);

/** `"password": "…"`, `'api_key': …`: a JSON or YAML-ish field named like a secret. */
const secretField = new RegExp(
  String.raw`(["'])(${secretKeyName})\1(\s*:\s*)(?:(${quoted})|[^\s,}\]]+)`,
  'gi',
);

/** Tokens with a known shape; `true` keeps the scheme word in front ("Bearer ***"). */
const tokenPatterns: Array<[RegExp, boolean]> = [
  [/\bxox[a-z]-[A-Za-z0-9-]+/g, false],
  [/\bxapp-[A-Za-z0-9-]+/g, false],
  [/\bBearer\s+[A-Za-z0-9._~+/=-]+/gi, true],
  // "Token <credential>" (some APIs' scheme), but not English: "invalid token provided" keeps its words.
  [/\bToken\s+(?=[A-Za-z._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}/gi, true],
  [/\bAKIA[0-9A-Z]{16}\b/g, false],
  [/\bgh[pousr]_[A-Za-z0-9]{20,}/g, false],
  [/\bgithub_pat_[A-Za-z0-9_]{20,}/g, false],
  [/\bHRKU-[A-Za-z0-9_-]{20,}/g, false],
  [/\b[rs]k_(?:live|test)_[A-Za-z0-9]{10,}/g, false],
  [/\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, false],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, false],
];

/** Credential-shaped text, whatever its value. */
function redactShapes(text: string): string {
  let out = redactUrl(text)
    .replace(authorizationHeader, (_m, head: string, q?: string, s1?: string, s2?: string) => {
      const scheme = s1 ?? s2;
      const credential = `${scheme ? `${scheme} ` : ''}${MASK}`;
      return q ? `${head}${q}${credential}${q}` : `${head}${credential}`;
    })
    .replace(cookieHeader, (_m, head: string, q?: string) =>
      q ? `${head}${q}${MASK}${q}` : `${head}${MASK}`,
    )
    .replace(keyHeader, (m, head: string) => {
      const value = m.slice(head.length);
      const q = value[0] === '"' || value[0] === "'" ? value[0] : '';
      return `${head}${q}${MASK}${q}`;
    })
    .replace(keyValue, (m, head: string) => {
      const value = m.slice(head.length);
      const q = value[0] === '"' || value[0] === "'" ? value[0] : '';
      return `${head}${q}${MASK}${q}`;
    })
    .replace(secretField, (_m, q: string, name: string, sep: string, str?: string) => {
      const vq = str ? str[0] : '"';
      return `${q}${name}${q}${sep}${vq}${MASK}${vq}`;
    });
  for (const [pattern, keepScheme] of tokenPatterns) {
    out = out.replace(pattern, (m) => (keepScheme ? m.replace(/\S+$/, MASK) : MASK));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Secrets known by value

/** The forms a value takes in text: as is, URL-encoded, form-encoded and JSON-escaped. */
function spellings(secret: string): string[] {
  const forms = new Set([secret]);
  try {
    forms.add(encodeURIComponent(secret));
  } catch {
    // A lone surrogate cannot be URL-encoded; no URL can hold it either.
  }
  try {
    forms.add(new URLSearchParams({ v: secret }).toString().slice(2));
  } catch {
    // As above.
  }
  forms.add(JSON.stringify(secret).slice(1, -1));
  return [...forms];
}

/** One regex for every known secret: longest first, short ones only as whole words. */
function secretMatcher(secrets: Iterable<string>): RegExp | null {
  const long: string[] = [];
  const short: string[] = [];
  for (const secret of secrets) {
    for (const form of spellings(secret)) {
      if (charCount(form) >= SHORT_SECRET_LENGTH) long.push(form);
      else if (hasLetterOrDigit.test(form)) short.push(form);
    }
  }
  const byLength = (a: string, b: string) => b.length - a.length;
  const alternatives = [
    ...[...new Set(long)].sort(byLength).map(literal),
    ...(short.length > 0
      ? [
          `(?<![${WORD_CHAR}])(?:${[...new Set(short)].sort(byLength).map(literal).join('|')})(?![${WORD_CHAR}])`,
        ]
      : []),
  ];
  return alternatives.length === 0 ? null : new RegExp(alternatives.join('|'), 'gu');
}

export interface RedactedError {
  type: string;
  message: string;
  stack?: string;
  code?: string | number;
  reason?: string;
  cause?: RedactedError | string;
}

/** JSON fields whose whole value is a credential, in `Redactor.value`. */
const secretKey = new RegExp(`^(?:${secretKeyName}|(?:proxy-)?authorization|(?:set-)?cookie)$`, 'i');

/**
 * One redactor for every path out of Ferry. Built at start from Ferry's own credentials and the
 * secret values of every plan's `${VAR}`s (`ferryCredentials`, `planSecrets`); `text` for strings,
 * `value` for JSON and log objects, `error` for a thrown value.
 */
export class Redactor {
  readonly #secrets = new Set<string>();
  #matcher: RegExp | null = null;

  constructor(secrets: Iterable<string | undefined | null> = []) {
    this.add(secrets);
  }

  /** Adds secrets known by value; empty ones are ignored. */
  add(secrets: Iterable<string | undefined | null>): this {
    let changed = false;
    for (const secret of secrets) {
      if (typeof secret !== 'string' || secret === '' || this.#secrets.has(secret)) continue;
      this.#secrets.add(secret);
      changed = true;
    }
    if (changed) this.#matcher = secretMatcher(this.#secrets);
    return this;
  }

  /** How many secrets it knows by value. */
  get size(): number {
    return this.#secrets.size;
  }

  #cutKnown(text: string): string {
    return this.#matcher ? text.replace(this.#matcher, MASK) : text;
  }

  text(text: string): string {
    // NUL bytes (from a system's odd answer) are refused by Postgres text and jsonb.
    let out = redactShapes(this.#cutKnown(text.replaceAll('\u0000', '')));
    // Cutting can join what was around a secret into another one ("x***" around "xx***"): repeat
    // until nothing changes. Each pass of a long secret shortens the text, so this ends.
    for (let pass = 0; pass < 16; pass++) {
      const next = this.#cutKnown(out);
      if (next === out) break;
      out = next;
    }
    return out;
  }

  /**
   * A redacted deep copy: every string through `text`, the whole value of a field named like a
   * credential (`password`, `token`, `authorization`...) cut, errors as `RedactedError`. Keys are
   * kept: they are the code's names, not data.
   */
  value<T>(value: T): T {
    return this.#value(value, undefined, new WeakSet(), 0) as T;
  }

  /**
   * A string under a JSON key: cut whole when the key names a credential (`password`, `api_key`,
   * `authorization`, `cookie`...; an Authorization value keeps its scheme: "Bearer ***"), else `text`.
   */
  field(key: string, value: string): string {
    if (!secretKey.test(key)) return this.text(value);
    const scheme = /^(?:proxy-)?authorization$/i.test(key) ? /^[A-Za-z][\w.-]*(?=\s+\S)/.exec(value) : null;
    return scheme ? `${scheme[0]} ${MASK}` : MASK;
  }

  #value(value: unknown, key: string | undefined, seen: WeakSet<object>, depth: number): unknown {
    if (typeof value === 'string') return key === undefined ? this.text(value) : this.field(key, value);
    if (typeof value !== 'object' || value === null) return value;
    if (value instanceof Error) return this.error(value, depth);
    if (value instanceof Date || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value;
    if (seen.has(value)) return '[Circular]';
    if (depth > 32) return '[Too deep]';
    seen.add(value);
    try {
      if (Array.isArray(value)) return value.map((v) => this.#value(v, undefined, seen, depth + 1));
      if (value instanceof Map) {
        return new Map([...value].map(([k, v]) => [k, this.#value(v, String(k), seen, depth + 1)]));
      }
      if (value instanceof Set)
        return new Set([...value].map((v) => this.#value(v, undefined, seen, depth + 1)));
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.#value(v, k, seen, depth + 1);
      return out;
    } finally {
      seen.delete(value);
    }
  }

  /**
   * A thrown value fit for a log line: its type, code, message, stack and cause, redacted. Other
   * properties are dropped: clients hang the request on their errors (ioredis its command's
   * arguments, which hold the password; HTTP clients their headers).
   */
  error(error: unknown, depth = 0): RedactedError {
    if (!(error instanceof Error)) {
      return {
        type: typeof error,
        message: this.text(typeof error === 'string' ? error : safeString(error)),
      };
    }
    const code = (error as { code?: unknown }).code;
    const reason = (error as { reason?: unknown }).reason;
    const out: RedactedError = { type: error.name, message: this.text(error.message) };
    if (error.stack) out.stack = this.text(error.stack);
    if (typeof code === 'string' || typeof code === 'number')
      out.code = typeof code === 'string' ? this.text(code) : code;
    if (typeof reason === 'string') out.reason = this.text(reason);
    if (error.cause !== undefined && depth < 8) {
      out.cause =
        error.cause instanceof Error
          ? this.error(error.cause, depth + 1)
          : this.text(safeString(error.cause));
    }
    return out;
  }
}

function safeString(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Removes credentials from free text, with `secrets` cut as `Redactor` cuts them. */
export function redactText(text: string, secrets: readonly string[] = []): string {
  return new Redactor(secrets).text(text);
}

// ---------------------------------------------------------------------------------------------------
// Which values are secret

const secretName =
  /TOKEN|SECRET|PASSWORD|PASSWD|PASS|PWD|API_?KEY|PRIVATE|CREDENTIAL|AUTH|SIGNING|WEBHOOK|DSN|COOKIE|_KEY$/i;
const tokenLike = /^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9._~+/=-]{16,}$/;

/**
 * The credentials inside a URL-shaped value: the userinfo's password (as written and decoded), the
 * values of sensitive query and fragment parameters, and, for a credential path (a Slack webhook,
 * `/webhook/…/<token>`), the whole URL and the path after the hook.
 */
function urlCredentials(value: string): string[] {
  const found: string[] = [];
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(value);
  if (!scheme) return found;
  const rest = value.slice(scheme[0].length);
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const authority = userinfo.split(/[/?#]/, 1)[0]!;
    if (userinfo === authority || /[:@]/.test(authority)) {
      const colon = userinfo.indexOf(':');
      if (colon >= 0) found.push(...decoded(userinfo.slice(colon + 1)));
    }
  }
  for (const m of value.matchAll(sensitiveParam)) found.push(...decoded(m[2]!));
  for (const pattern of credentialPaths) {
    for (const m of value.matchAll(new RegExp(pattern.source, 'gi'))) {
      found.push(value, ...decoded(m[0].slice(m[1]!.length)));
    }
  }
  return found.filter((s) => s !== '');
}

function decoded(raw: string): string[] {
  try {
    const plain = decodeURIComponent(raw);
    return plain === raw ? [raw] : [raw, plain];
  } catch {
    return [raw];
  }
}

/**
 * The values of `${VAR}`s that must never appear in a message: those named like secrets (a URL
 * among them is cut whole), any value shaped like a token, and the credentials inside URL values
 * (a password, a `?token=`, a webhook's path). Ordinary values (an app name, a region) stay
 * readable, and a URL named plainly keeps its host.
 */
export function secretValues(
  names: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  return names.flatMap((name) => {
    const value = env[name];
    if (!value) return [];
    const inUrl = urlCredentials(value);
    if (secretName.test(name)) return [value, ...inUrl];
    if (inUrl.length > 0) return inUrl;
    if (!URL.canParse(value) && tokenLike.test(value)) return [value];
    return [];
  });
}

/**
 * Every secret value the plans' steps can reach, and the names of the variables that hold one
 * shorter than `SHORT_SECRET_LENGTH` characters (cut only as whole words: worth a warning).
 */
export function planSecrets(
  plans: readonly { plan: unknown }[],
  env: Readonly<Record<string, string | undefined>>,
): { values: string[]; shortNames: string[] } {
  const names = [...new Set(plans.flatMap((p) => findVarRefs(p.plan)))].sort();
  const values = secretValues(names, env);
  const shortNames = names.filter((name) =>
    secretValues([name], env).some((v) => charCount(v) < SHORT_SECRET_LENGTH),
  );
  return { values, shortNames };
}

/**
 * Ferry's own credentials: the Slack tokens and signing secret, the Heroku token, the sandbox
 * console's and /metrics' tokens, the password of DATABASE_URL, and the AWS keys the SDK reads from
 * the environment.
 */
export function ferryCredentials(config: {
  slack: { botToken?: string | undefined; signingSecret?: string | undefined; appToken?: string | undefined };
  heroku: { token?: string | undefined };
  consoleToken?: string | undefined;
  metricsToken?: string | undefined;
  databaseUrl?: string | undefined;
  planEnv: Readonly<Record<string, string | undefined>>;
}): string[] {
  return [
    config.slack.botToken,
    config.slack.signingSecret,
    config.slack.appToken,
    config.heroku.token,
    config.consoleToken,
    config.metricsToken,
    ...(config.databaseUrl ? urlCredentials(config.databaseUrl) : []),
    config.planEnv.AWS_SECRET_ACCESS_KEY,
    config.planEnv.AWS_SESSION_TOKEN,
  ].filter((s): s is string => typeof s === 'string' && s !== '');
}

// ---------------------------------------------------------------------------------------------------
// Showing that two values differ without showing either

/**
 * `24 chars, sha256 3f2a9c1e`: the value's length and the first 8 hex digits of its SHA-256, so two
 * values can be told apart, and a person holding a value can check it (`printf %s "$VALUE" |
 * sha256sum | cut -c1-8`), without any character of it being shown.
 */
export function fingerprint(value: string): string {
  const hash = createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 8);
  return `${charCount(value)} chars, sha256 ${hash}`;
}
