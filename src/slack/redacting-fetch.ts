import type { FetchFunction } from '@slack/web-api';
import type { Redactor } from '../redact.ts';

// Every request Ferry sends to Slack leaves through this fetch: the WebClient's Web API calls
// (form-encoded, with Block Kit as JSON strings inside), the file bytes of files.uploadV2 (multipart,
// posted to the upload URL through the same client), and Bolt's respond() to a response_url (JSON),
// since Bolt hands clientOptions.fetch to respond() too. The body is redacted before it leaves;
// headers and the URL are not touched (the Authorization header carries Ferry's own bot token to
// Slack, which is where it belongs).

/** Form fields that are Slack's identifiers or Ferry's own token, never text: sent as they are. */
const identifierFields = new Set([
  'token',
  'channel',
  'channel_id',
  'ts',
  'thread_ts',
  'user',
  'users',
  'usergroup',
  'team_id',
  'file',
  'file_id',
  'cursor',
  'limit',
  'length',
]);

/** Inside Block Kit and metadata: ids that must round-trip unchanged (a button's value is `r12:step`). */
const identifierKeys = new Set([
  'action_id',
  'block_id',
  'value',
  'id',
  'channel',
  'ts',
  'thread_ts',
  'user',
]);

/** Block Kit and other JSON: strings redacted, Slack's ids kept (`keepIds`: not in uploaded files). */
function redactJson(redactor: Redactor, value: unknown, keepIds: boolean, key?: string): unknown {
  if (typeof value === 'string') {
    if (key === undefined) return redactor.text(value);
    return keepIds && identifierKeys.has(key) ? value : redactor.field(key, value);
  }
  if (Array.isArray(value)) return value.map((v) => redactJson(redactor, v, keepIds));
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = redactJson(redactor, v, keepIds, k);
  return out;
}

/** A string that may be JSON (a `blocks` field, a report file): redacted as JSON when it parses. */
function redactMaybeJson(redactor: Redactor, text: string, keepIds: boolean, indent?: number): string {
  const trimmed = text.trim();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(trimmed);
      const out = JSON.stringify(redactJson(redactor, parsed, keepIds), null, indent);
      return text.endsWith('\n') ? `${out}\n` : out;
    } catch {
      // Not JSON after all: redacted as text below.
    }
  }
  return redactor.text(text);
}

function redactForm(redactor: Redactor, body: string): string {
  const params = new URLSearchParams(body);
  const out = new URLSearchParams();
  for (const [key, value] of params) {
    out.append(key, identifierFields.has(key) ? value : redactMaybeJson(redactor, value, true));
  }
  return out.toString();
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A file's bytes, redacted when they are text. The upload's length was announced to
 * files.getUploadURLExternal before the bytes were sent, so a shorter result is padded with spaces
 * (trailing space changes neither Markdown nor JSON) to keep that length true.
 */
async function redactBlob(redactor: Redactor, blob: Blob): Promise<Blob> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return blob; // binary: Ferry uploads only text, and bytes are not searched for secrets
  }
  const indent = /^\{\n( +)"/.exec(text)?.[1]?.length;
  const redacted = redactMaybeJson(redactor, text, false, indent);
  if (redacted === text) return blob;
  let encoded = new TextEncoder().encode(redacted);
  if (encoded.length < bytes.length) {
    const padded = new Uint8Array(bytes.length).fill(0x20);
    padded.set(encoded);
    encoded = padded;
  }
  return new Blob([encoded], { type: blob.type });
}

async function redactFormData(redactor: Redactor, form: FormData): Promise<FormData> {
  const out = new FormData();
  for (const [key, value] of form) {
    if (typeof value === 'string') {
      out.append(key, identifierFields.has(key) ? value : redactMaybeJson(redactor, value, true));
    } else {
      out.append(key, await redactBlob(redactor, value), value.name);
    }
  }
  return out;
}

function contentType(headers: Record<string, string> | undefined): string {
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (name.toLowerCase() === 'content-type') return value.toLowerCase();
  }
  return '';
}

/**
 * How long a request with no deadline of its own may take. The WebClient sets one (its `timeout`);
 * Bolt's respond() to a response_url sets none, and a reply Slack never answered would hold one of
 * the few places that work after an ack for good, and shutdown with it.
 */
export const SLACK_FETCH_TIMEOUT_MS = 10_000;

/** The fetch for the WebClient (and so for Bolt's respond()): redacts every body before it leaves. */
export function redactingFetch(
  redactor: Redactor,
  inner: FetchFunction = globalThis.fetch,
  timeoutMs = SLACK_FETCH_TIMEOUT_MS,
): FetchFunction {
  return async (url, given) => {
    const init = given?.signal ? given : { ...given, signal: AbortSignal.timeout(timeoutMs) };
    if (!init.body) return inner(url, init);
    const body = init.body;
    let redacted: string | FormData;
    if (typeof body !== 'string') redacted = await redactFormData(redactor, body);
    else if (contentType(init.headers).includes('application/json'))
      redacted = redactMaybeJson(redactor, body, true);
    else if (contentType(init.headers).includes('application/x-www-form-urlencoded'))
      redacted = redactForm(redactor, body);
    else redacted = redactor.text(body);
    return inner(url, { ...init, body: redacted });
  };
}
