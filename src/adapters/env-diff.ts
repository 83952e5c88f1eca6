import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { StepError } from '../errors.ts';
import type { StepSpec } from '../plan/schema.ts';
import { fingerprint } from '../redact.ts';
import { herokuClientFor } from './heroku.ts';
import type { HerokuClient } from './heroku.ts';
import { httpCall } from './http-client.ts';
import type { HttpContext, RetryPolicy } from './http-client.ts';
import { parseRedisUrl } from './redis-url.ts';
import type { RedisTarget } from './redis-url.ts';
import type { AdapterEnv, StepHandler, StepResult } from './types.ts';

// The `env-diff` kind: the Heroku app's config vars against what the new platform will run with (a
// dotenv or JSON file, or a Qovery application). Values are secrets: no character of a value is
// shown, only its length and a fingerprint, and Redis URLs are compared by what matters (host, port,
// TLS, db), not by password.

export type EnvDiffStep = Extract<StepSpec, { kind: 'env-diff' }>;

export interface DiffRules {
  /** Source key -> the name it is expected under in the target. */
  rename?: Readonly<Record<string, string>>;
  /**
   * Keys to leave out, on either side; `*` matches any run of characters (`HEROKU_*`). A renamed key
   * is left out only by its new name or by its exact old name.
   */
  ignore?: readonly string[];
}

export interface MissingKey {
  /** The name expected in the target. */
  key: string;
  /** The name in the source, when a rename applies. */
  sourceKey: string;
}

export interface ChangedKey extends MissingKey {
  /**
   * What differs, without any character of either value: "host differs, db 0 vs 1", or each value's
   * length and SHA-256 fingerprint ("24 chars, sha256 3f2a9c1e vs 31 chars, sha256 0b7d44a2").
   */
  detail: string;
}

export interface EnvDiff {
  missing: MissingKey[];
  extra: string[];
  changed: ChangedKey[];
  same: string[];
  /** Present in the target with a value Ferry cannot read (Qovery secrets). */
  unverified: string[];
  ignored: string[];
}

/** A target value of null means "present, value not readable". */
export type ConfigMap = Readonly<Record<string, string | null>>;

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

function redisParts(value: string): RedisTarget | undefined {
  if (!/^rediss?:\/\//i.test(value.trim())) return undefined;
  try {
    return parseRedisUrl(value);
  } catch {
    return undefined;
  }
}

/** How two values differ, in words that reveal no value; undefined when they are equivalent. */
function compareValues(source: string, target: string): string | undefined {
  const a = redisParts(source);
  const b = redisParts(target);
  if (a && b) {
    const parts: string[] = [];
    if (a.host.toLowerCase() !== b.host.toLowerCase()) parts.push('host differs');
    if (a.port !== b.port) parts.push(`port ${a.port} vs ${b.port}`);
    if (a.tls !== b.tls) parts.push(`tls ${a.tls ? 'on' : 'off'} vs ${b.tls ? 'on' : 'off'}`);
    if (a.db !== b.db) parts.push(`db ${a.db} vs ${b.db}`);
    return parts.length === 0 ? undefined : parts.join(', ');
  }
  if (source === target) return undefined;
  return `${fingerprint(source)} vs ${fingerprint(target)}`;
}

/** Pure: compares source config with target config under rename and ignore rules. */
export function diffConfig(source: ConfigMap, target: ConfigMap, rules: DiffRules = {}): EnvDiff {
  const ignore = (rules.ignore ?? []).map(globToRegExp);
  const ignored = (key: string) => ignore.some((re) => re.test(key));
  const rename = rules.rename ?? {};
  const diff: EnvDiff = { missing: [], extra: [], changed: [], same: [], unverified: [], ignored: [] };
  const expected = new Set<string>();
  const has = (map: object, key: string) => Object.hasOwn(map, key);
  const renamedTo = (key: string) => (has(rename, key) ? (rename[key] as string) : key);
  // A source key that another source key is renamed onto is superseded by that rename.
  const supersededBy = new Set(
    Object.keys(rename)
      .filter((from) => has(source, from))
      .map(renamedTo),
  );

  for (const sourceKey of Object.keys(source).sort()) {
    const key = renamedTo(sourceKey);
    const renamed = has(rename, sourceKey);
    // A rename is explicit, so a glob such as HEROKU_* does not hide the key it renames.
    const skip = renamed ? ignored(key) || (rules.ignore ?? []).includes(sourceKey) : ignored(sourceKey);
    if (skip || (!renamed && supersededBy.has(sourceKey))) {
      diff.ignored.push(sourceKey);
      expected.add(key);
      continue;
    }
    expected.add(key);
    const sourceValue = source[sourceKey];
    if (!has(target, key)) {
      diff.missing.push({ key, sourceKey });
      continue;
    }
    const targetValue = target[key];
    if (
      targetValue === null ||
      targetValue === undefined ||
      sourceValue === null ||
      sourceValue === undefined
    ) {
      diff.unverified.push(key);
      continue;
    }
    const detail = compareValues(sourceValue, targetValue);
    if (detail === undefined) diff.same.push(key);
    else diff.changed.push({ key, sourceKey, detail });
  }
  for (const key of Object.keys(target).sort()) {
    if (expected.has(key)) continue;
    if (ignored(key)) diff.ignored.push(key);
    else diff.extra.push(key);
  }
  return diff;
}

function named(entry: MissingKey): string {
  return entry.key === entry.sourceKey ? entry.key : `${entry.key} (${entry.sourceKey} in the source)`;
}

/** Lines for the timeline: counts first, then the keys. No value appears, only fingerprints. */
export function formatDiff(diff: EnvDiff, sourceLabel: string, targetLabel: string): string {
  const head =
    `${sourceLabel} vs ${targetLabel}: ${diff.missing.length} missing, ${diff.extra.length} extra, ` +
    `${diff.changed.length} different, ${diff.same.length} the same` +
    (diff.unverified.length > 0 ? `, ${diff.unverified.length} present but unreadable` : '') +
    (diff.ignored.length > 0 ? `, ${diff.ignored.length} ignored` : '');
  const lines = [head];
  if (diff.missing.length > 0) lines.push(`missing in the target: ${diff.missing.map(named).join(', ')}`);
  if (diff.changed.length > 0)
    lines.push(`different: ${diff.changed.map((c) => `${c.key}: ${c.detail}`).join('; ')}`);
  if (diff.extra.length > 0) lines.push(`only in the target: ${diff.extra.join(', ')}`);
  if (diff.unverified.length > 0) lines.push(`present, value not readable: ${diff.unverified.join(', ')}`);
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------
// Reading targets

export class DotenvSyntaxError extends Error {
  readonly line: number;
  constructor(line: number, problem: string) {
    super(`line ${line}: ${problem}`);
    this.name = 'DotenvSyntaxError';
    this.line = line;
  }
}

const escapes: Record<string, string> = { n: '\n', r: '\r', t: '\t', '"': '"', '\\': '\\', $: '$' };

/**
 * A dotenv file: `KEY=value`, `export KEY=value`, `# comments`, inline ` # comments` after unquoted
 * values, 'single' (literal) and "double" quotes (\n, \t, \" escapes; may span lines). Later keys win.
 * Values are not expanded (`${OTHER}` stays as written). Errors name the line, never a value.
 */
export function parseDotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const src = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  let i = 0;
  let line = 1;
  const n = src.length;
  while (i < n) {
    // Start of a line: skip horizontal space.
    while (i < n && (src[i] === ' ' || src[i] === '\t')) i++;
    if (i >= n) break;
    if (src[i] === '\n') {
      i++;
      line++;
      continue;
    }
    if (src[i] === '#') {
      while (i < n && src[i] !== '\n') i++;
      continue;
    }
    const startLine = line;
    const lineEnd = src.indexOf('\n', i) === -1 ? n : src.indexOf('\n', i);
    const keyMatch = /^(?:export[ \t]+)?([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=[ \t]*/.exec(src.slice(i, lineEnd));
    if (!keyMatch) throw new DotenvSyntaxError(startLine, 'expected KEY=value');
    const key = keyMatch[1] as string;
    i += keyMatch[0].length;
    const quote = src[i];
    let value = '';
    if (quote === '"' || quote === "'" || quote === '`') {
      i++;
      let closed = false;
      while (i < n) {
        const ch = src[i] as string;
        if (ch === quote) {
          closed = true;
          i++;
          break;
        }
        if (ch === '\n') line++;
        if (ch === '\\' && quote === '"' && i + 1 < n) {
          const next = src[i + 1] as string;
          value += escapes[next] ?? `\\${next}`;
          i += 2;
          continue;
        }
        value += ch;
        i++;
      }
      if (!closed)
        throw new DotenvSyntaxError(
          startLine,
          `the value of ${key} opens a ${quote} quote that never closes`,
        );
      // After the closing quote only space and a comment may follow.
      while (i < n && (src[i] === ' ' || src[i] === '\t')) i++;
      if (i < n && src[i] === '#') while (i < n && src[i] !== '\n') i++;
      if (i < n && src[i] !== '\n')
        throw new DotenvSyntaxError(line, `unexpected text after the quoted value of ${key}`);
    } else {
      const end = src.indexOf('\n', i) === -1 ? n : src.indexOf('\n', i);
      const raw = src.slice(i, end);
      const comment = /(^|[ \t])#/.exec(raw);
      value = (comment ? raw.slice(0, comment.index) : raw).trim();
      i = end;
    }
    out[key] = value;
  }
  return out;
}

/** A JSON object of strings (numbers and booleans are taken as written; null means unset). */
export function parseJsonConfig(text: string): Record<string, string> {
  const parsed = JSON.parse(text) as unknown;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error('expected a JSON object of KEY: "value"');
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (value === null) continue;
    if (typeof value === 'string') out[key] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') out[key] = String(value);
    else throw new Error(`${key} is not a string, number or boolean`);
  }
  return out;
}

export async function readConfigFile(path: string, cwd = process.cwd()): Promise<Record<string, string>> {
  const full = resolve(cwd, path);
  let text: string;
  try {
    text = await readFile(full, 'utf8');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    throw new StepError(
      code === 'ENOENT'
        ? `The env-diff target file ${path} does not exist (looked at ${full}): fix target.path in the plan`
        : `The env-diff target file ${path} could not be read (${String(code ?? error)})`,
      { retryable: false, reason: typeof code === 'string' ? code : 'read_failed', cause: error },
    );
  }
  const isJson = path.toLowerCase().endsWith('.json') || text.trimStart().startsWith('{');
  try {
    return isJson ? parseJsonConfig(text) : parseDotenv(text);
  } catch (error) {
    // JSON.parse quotes the text around the error, which may be a secret value: keep only the position.
    const detail =
      error instanceof DotenvSyntaxError
        ? error.message
        : error instanceof SyntaxError
          ? 'not valid JSON'
          : error instanceof Error
            ? error.message
            : 'unreadable';
    throw new StepError(
      `The env-diff target file ${path} is not a valid ${isJson ? 'JSON' : 'dotenv'} file (${detail})`,
      {
        retryable: false,
        reason: 'parse_failed',
      },
    );
  }
}

export interface QoveryTarget {
  application_id: string;
  token: string;
  url?: string | undefined;
}

/**
 * Qovery application variables: `GET /application/{id}/environmentVariable` (key and value) plus
 * `GET /application/{id}/secret` (keys only: Qovery never returns secret values, so they are null).
 */
export async function readQoveryVariables(
  target: QoveryTarget,
  options: { fetch: typeof fetch; timeoutMs: number; retry?: Partial<RetryPolicy> },
  ctx: HttpContext,
): Promise<Record<string, string | null>> {
  const base = (target.url ?? 'https://api.qovery.com').replace(/\/+$/, '');
  const id = encodeURIComponent(target.application_id);
  const get = async (what: 'environmentVariable' | 'secret') => {
    const res = await httpCall(
      options.fetch,
      `${base}/application/${id}/${what}`,
      {
        headers: { Authorization: `Token ${target.token}`, Accept: 'application/json' },
        timeoutMs: options.timeoutMs,
        system: 'Qovery',
        secrets: [target.token],
        retry: options.retry,
        describeFailure: (f) => {
          if (f.status === 401 || f.status === 403) {
            return new StepError(
              `Qovery refused the API token (${f.status}: ${f.words}): check target.token in the plan (a Qovery API token, sent as "Token <token>") and its access to application ${target.application_id}`,
              { retryable: false, reason: f.reason ?? String(f.status) },
            );
          }
          if (f.status === 404) {
            return new StepError(
              `Qovery says application ${target.application_id} was not found (404: ${f.words}): check target.application_id in the plan`,
              { retryable: false, reason: 'not_found' },
            );
          }
          return undefined;
        },
      },
      ctx,
    );
    const results = (res.body as { results?: unknown } | undefined)?.results;
    if (!Array.isArray(results)) {
      throw new StepError(
        `Qovery answered ${what} for application ${target.application_id} without a results list`,
        {
          retryable: false,
          reason: 'bad_response',
        },
      );
    }
    return results as Array<{ key?: unknown; value?: unknown }>;
  };
  const out: Record<string, string | null> = {};
  for (const item of await get('secret')) if (typeof item.key === 'string') out[item.key] = null;
  for (const item of await get('environmentVariable')) {
    if (typeof item.key !== 'string') continue;
    out[item.key] = typeof item.value === 'string' ? item.value : null;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The step

export interface EnvDiffOptions {
  heroku?: HerokuClient;
  retry?: Partial<RetryPolicy>;
  /** Where relative target paths are read from. Default: the process's working directory. */
  cwd?: string;
}

export class EnvDiffFailedError extends StepError {
  readonly diff: EnvDiff;
  readonly figures: Record<string, number>;
  constructor(message: string, diff: EnvDiff, figures: Record<string, number>) {
    super(message, { retryable: false, reason: 'env_missing_keys' });
    this.name = 'EnvDiffFailedError';
    this.diff = diff;
    this.figures = figures;
  }
}

function targetLabel(step: EnvDiffStep): string {
  return step.target.type === 'file'
    ? `file ${step.target.path}`
    : `Qovery application ${step.target.application_id}`;
}

export function envDiffHandler(
  env: AdapterEnv,
  options: EnvDiffOptions = {},
): StepHandler<EnvDiffStep, null> {
  const heroku = () => options.heroku ?? herokuClientFor(env);
  return {
    describe(step) {
      const renames = Object.keys(step.rename ?? {}).length;
      const ignores = (step.ignore ?? []).length;
      const rules = [renames > 0 ? `${renames} renamed` : '', ignores > 0 ? `${ignores} ignored` : ''].filter(
        Boolean,
      );
      return Promise.resolve(
        `compare Heroku ${step.source.app} config vars with ${targetLabel(step)}${rules.length > 0 ? ` (${rules.join(', ')})` : ''}` +
          (step.fail_on_missing ? '; fails if any key is missing' : ''),
      );
    },
    capture() {
      return Promise.resolve(null);
    },
    async run(step, _captured, ctx): Promise<StepResult> {
      const source = await heroku().readConfigVars(step.source.app, ctx);
      const target =
        step.target.type === 'file'
          ? await readConfigFile(step.target.path, options.cwd)
          : await readQoveryVariables(
              step.target,
              { fetch: env.fetch, timeoutMs: env.httpTimeoutMs, retry: options.retry },
              ctx,
            );
      const diff = diffConfig(source, target, { rename: step.rename, ignore: step.ignore });
      const figures = {
        'env.missing': diff.missing.length,
        'env.extra': diff.extra.length,
        'env.changed': diff.changed.length,
        'env.same': diff.same.length,
        'env.unverified': diff.unverified.length,
      };
      const summary = formatDiff(diff, `Heroku ${step.source.app}`, targetLabel(step));
      if (step.fail_on_missing && diff.missing.length > 0) {
        throw new EnvDiffFailedError(
          `${diff.missing.length} config key${diff.missing.length === 1 ? ' is' : 's are'} missing from the target: ${summary}\nAdd them to the target, or list them under ignore: in the plan`,
          diff,
          figures,
        );
      }
      return { summary, figures };
    },
  };
}
