import { createHash } from 'node:crypto';
import { redactText, secretValues } from '../redact.ts';
import type { StepSpec } from './schema.ts';
import { findVarRefs, resolveVars, type Env } from './vars.ts';

// What a step will do, as a person approves it: the step with its `${VAR}`s filled in and secret
// values cut, flattened to `path: value` lines, and a digest of those lines. An approval records the
// digest; if the step as it would run no longer has it (a variable changed under a restarted Ferry),
// the approval no longer counts and the step asks again, showing the lines that changed.

export interface StepContent {
  /** The first 12 hex characters of the SHA-256 of `fields`, in key order. */
  digest: string;
  /** `provider.value` -> `new.example.net`: every setting of the step, secrets cut. */
  fields: Record<string, string>;
}

export function stepContent(spec: StepSpec, env: Env): StepContent {
  const secrets = secretValues(findVarRefs(spec), env);
  let resolved: unknown;
  try {
    resolved = resolveVars(spec, env);
  } catch {
    // A variable unset: the step cannot run as it is; what it names is what there is to approve.
    resolved = spec;
  }
  const fields: Record<string, string> = {};
  flatten(resolved, '', (path, value) => (fields[path] = redactText(value, secrets)));
  const sorted = Object.keys(fields).sort();
  const digest = createHash('sha256')
    .update(JSON.stringify(sorted.map((k) => [k, fields[k]])))
    .digest('hex')
    .slice(0, 12);
  return { digest, fields: Object.fromEntries(sorted.map((k) => [k, fields[k]!])) };
}

function flatten(value: unknown, path: string, put: (path: string, value: string) => void): void {
  if (Array.isArray(value)) value.forEach((item, i) => flatten(item, `${path}[${i}]`, put));
  else if (value !== null && typeof value === 'object')
    for (const [key, item] of Object.entries(value)) flatten(item, path ? `${path}.${key}` : key, put);
  else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
    put(path, String(value));
}
