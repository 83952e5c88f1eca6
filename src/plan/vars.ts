import { FerryError } from '../errors.ts';
import type { Plan } from './schema.ts';

// Plans name secrets as `${NAME}` and Ferry reads them from its own environment when a step runs,
// so a plan file never holds one. `$${` writes a literal `${`.

/** `$${` (escape), `${NAME}` (reference), or a `${` that is neither (malformed). */
const token = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$\{/g;

export type Env = Readonly<Record<string, string | undefined>>;

function replaceRefs(text: string, onRef: (name: string) => string): string {
  return text.replace(token, (match: string, name: string | undefined) => {
    if (match === '$${') return '${';
    return name === undefined ? match : onRef(name);
  });
}

/** Every string inside `value`, walking arrays and plain objects (not their keys). */
function mapStrings(value: unknown, fn: (text: string) => string): unknown {
  if (typeof value === 'string') return fn(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, fn));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mapStrings(item, fn)]));
  }
  return value;
}

function isSet(env: Env, name: string): boolean {
  const value = env[name];
  return value !== undefined && value !== '';
}

/** The variable names `${NAME}` referenced anywhere in `value`, each once, in order of appearance. */
export function findVarRefs(value: unknown): string[] {
  const names = new Set<string>();
  mapStrings(value, (text) =>
    replaceRefs(text, (name) => {
      names.add(name);
      return '';
    }),
  );
  return [...names];
}

/**
 * Each `${` in `text` that neither references a variable nor is escaped, with what follows it:
 * `${db-url}` or `${ NAME }` or an unclosed `${NAME`. The loader reports these as problems.
 */
export function findMalformedVarRefs(text: string): string[] {
  const found: string[] = [];
  for (const match of text.matchAll(token)) {
    if (match[0] !== '${') continue;
    const rest = text.slice(match.index);
    const close = rest.indexOf('}');
    found.push(close === -1 || close > 40 ? `${rest.slice(0, 20)}...` : rest.slice(0, close + 1));
  }
  return found;
}

/** What unset variables need, said the one way Ferry says it: "`A`, `B` set in Ferry's environment". */
export function unsetVariables(missing: readonly string[]): string {
  return `${missing.map((m) => `\`${m}\``).join(', ')} set in Ferry's environment`;
}

/** Names referenced in `value` that `env` leaves unset or empty, in order of appearance. */
export function missingVars(value: unknown, env: Env): string[] {
  return findVarRefs(value).filter((name) => !isSet(env, name));
}

/**
 * A copy of `value` with every `${NAME}` replaced by its value from `env` and every `$${`
 * by `${`. Throws `env_missing` naming every unset (or empty) variable at once.
 */
export function resolveVars<T>(value: T, env: Env): T {
  const missing = missingVars(value, env);
  if (missing.length > 0) {
    throw new FerryError('env_missing', `This step needs ${unsetVariables(missing)}; then try again.`);
  }
  return mapStrings(value, (text) => replaceRefs(text, (name) => env[name] ?? '')) as T;
}

/**
 * The variables an environment's steps need that `env` does not set. A run does not start while
 * this is non-empty.
 */
export function checkEnvironmentVars(plan: Plan, envName: string, env: Env): string[] {
  const environment = plan.environments[envName];
  if (!environment) {
    throw new FerryError('plan_not_found', `The plan for ${plan.service} has no environment "${envName}".`);
  }
  return missingVars(environment.steps, env);
}
