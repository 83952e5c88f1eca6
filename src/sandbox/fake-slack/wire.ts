import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiArgs } from './types.ts';

// Slack's Web API wire format (reference/slack.md §6): POST with
// `application/x-www-form-urlencoded` fields where nested values (blocks, view, metadata…) are
// JSON strings, or a JSON body; multipart when a client sends bytes; the token as
// `Authorization: Bearer …` or a `token` field. Arguments may also come in the query string.

/** Fields that clients JSON-encode inside form bodies. */
const JSON_FIELDS = new Set([
  'blocks',
  'attachments',
  'metadata',
  'view',
  'files',
  'user_auth_blocks',
  'unfurls',
  'file_uploads',
]);

export class BodyTooLargeError extends Error {
  constructor(limit: number) {
    super(`request body over ${limit} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += buf.length;
    if (size > maxBytes) throw new BodyTooLargeError(maxBytes);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

export type ParsedArgs =
  { ok: true; args: ApiArgs; files: Map<string, Buffer> } | { ok: false; error: string };

function decodeJsonField(key: string, value: string): unknown {
  if (!JSON_FIELDS.has(key)) return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    // Left as the raw string; the method answers `invalid_blocks_format` / `invalid_arguments`.
    return value;
  }
}

/** Parses a Web API request's arguments the way Slack accepts them. */
export async function parseApiArgs(
  contentType: string | undefined,
  body: Buffer,
  query: URLSearchParams,
): Promise<ParsedArgs> {
  const args: ApiArgs = {};
  const files = new Map<string, Buffer>();
  for (const [key, value] of query) args[key] = decodeJsonField(key, value);
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (body.length === 0) return { ok: true, args, files };

  if (type === 'application/json') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return { ok: false, error: 'invalid_json' };
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      return { ok: false, error: 'invalid_json' };
    Object.assign(args, parsed);
    return { ok: true, args, files };
  }

  if (type === 'multipart/form-data') {
    let form: FormData;
    try {
      form = await new Response(new Uint8Array(body), {
        headers: { 'content-type': contentType ?? '' },
      }).formData();
    } catch {
      return { ok: false, error: 'invalid_form_data' };
    }
    for (const [key, value] of form) {
      if (typeof value === 'string') args[key] = decodeJsonField(key, value);
      else files.set(key, Buffer.from(await value.arrayBuffer()));
    }
    return { ok: true, args, files };
  }

  // application/x-www-form-urlencoded, and Slack's leniency for a missing or odd content type.
  for (const [key, value] of new URLSearchParams(body.toString('utf8')))
    args[key] = decodeJsonField(key, value);
  return { ok: true, args, files };
}

/** The token from `Authorization: Bearer …`, else from the `token` argument (removed from args). */
export function takeToken(req: IncomingMessage, args: ApiArgs): string | undefined {
  const fromArgs = typeof args.token === 'string' ? args.token : undefined;
  delete args.token;
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (match?.[1]) return match[1];
  }
  return fromArgs;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

// ---- argument readers: form values arrive as strings, JSON bodies as typed values ----------------

export function argString(args: ApiArgs, key: string): string | undefined {
  const v = args[key];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

export function argBool(args: ApiArgs, key: string): boolean {
  const v = args[key];
  return v === true || v === 1 || v === 'true' || v === '1';
}

export function argInt(args: ApiArgs, key: string): number | undefined {
  const v = args[key];
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? Math.trunc(n) : undefined;
}
