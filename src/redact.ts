// Nothing secret reaches Slack, the logs or the timeline (DESIGN.md, "Guarantees").

/**
 * `rediss://user:pass@host:6380/0` -> `rediss://***@host:6380/0`; non-URLs are returned as they are.
 * The userinfo runs to the last `@` before the path, as URL parsers read it, so a password with a
 * raw `@` in it (`u:p@ss@host`) is removed whole rather than leaving its tail behind.
 */
export function redactUrl(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)([^/?#\s]+)@/gi, '$1***@');
}

/** Keeps the first and last two characters of a long value so people can tell two values apart. */
export function maskValue(value: string): string {
  if (value.length <= 8) return '*'.repeat(Math.max(value.length, 3));
  return `${value.slice(0, 2)}${'*'.repeat(Math.min(value.length - 4, 12))}${value.slice(-2)}`;
}

const tokenPatterns = [
  /\bxox[abposr]-[A-Za-z0-9-]+/g,
  /\bxapp-[A-Za-z0-9-]+/g,
  /\bBearer\s+[A-Za-z0-9._~+/=-]+/gi,
  // "Token <credential>" (some APIs' scheme), but not English: "invalid token provided" keeps its words.
  /\bToken\s+(?=[A-Za-z._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}/gi,
  /\bAKIA[0-9A-Z]{16}\b/g,
];

/** `?token=…`, `&api_key=…`, `sig=…` in URLs quoted inside messages. */
const sensitiveParam =
  /([?&;][a-z0-9_.-]*(?:token|key|secret|password|passwd|signature|sig|auth|credential)[a-z0-9_.-]*=)[^&#\s"'<>]+/gi;

/** Removes credentials from free text (error messages from external systems, logs). */
export function redactText(text: string, secrets: readonly string[] = []): string {
  // NUL bytes (from a system's odd answer) are refused by Postgres text and jsonb.
  let out = redactUrl(text.replaceAll('\u0000', '')).replace(sensitiveParam, '$1***');
  for (const pattern of tokenPatterns) out = out.replace(pattern, (m) => m.replace(/[^\s]+$/, '***'));
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('***');
  return out;
}

const secretName = /TOKEN|SECRET|PASSWORD|PASSWD|PASS|API_?KEY|PRIVATE|CREDENTIAL|AUTH|SIGNING|_KEY$/i;
const tokenLike = /^(?=.*\d)(?=.*[A-Za-z])[A-Za-z0-9._~+/=-]{16,}$/;

/**
 * The values of a plan's `${VAR}`s that must never appear in a message: those named like secrets,
 * and any value shaped like a token. Ordinary values (an app name, a region) stay readable, and URLs
 * lose their credentials through `redactUrl` instead of disappearing whole.
 */
export function secretValues(
  names: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): string[] {
  return names.flatMap((name) => {
    const value = env[name];
    if (!value) return [];
    if (secretName.test(name)) return [value];
    if (!URL.canParse(value) && tokenLike.test(value)) return [value];
    return [];
  });
}
