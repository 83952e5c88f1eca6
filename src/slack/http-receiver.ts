import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseForm } from 'node:querystring';
import {
  HTTPModuleFunctions,
  ReceiverMultipleAckError,
  type App,
  type AckFn,
  type Receiver,
  type ReceiverEvent,
} from '@slack/bolt';
import type { Logger } from 'pino';
import { slackSignature } from './signature.ts';

// Slack's requests over HTTP (POST /slack/events), handed to Bolt's App as its own HTTPReceiver
// would hand them: signature checked, body parsed, ssl_check and url_verification answered, an ack
// that answers the request and a 3 s timer for requests no listener acknowledges. Ferry's HTTP
// server reads the body once and this checks and parses it once: Bolt's receiver reads it again,
// parses it twice and compares signatures with a random-keyed double HMAC (tsscmp), a third of what
// acknowledging a request cost. The comparison here is node's constant-time one on digests of equal
// length, which is what such a comparison needs.

/** Answers a request to Slack's URL whose whole body has been read. */
export type SlackRequestHandler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

/** A request signed further than this from the machine's clock is refused: a replay, or a skew. */
const MAX_SKEW_SECONDS = 5 * 60;
/** Bolt's default: a request no listener acknowledges in this time is answered 404 by its ack. */
const UNHANDLED_AFTER_MS = 3_001;

export interface SlackHttpReceiverOptions {
  signingSecret: string;
  log: Logger;
}

interface Answer {
  ack: AckFn<unknown>;
  /** The response if nothing has answered it yet, handed over to answer it now. */
  take(): ServerResponse | undefined;
}

/** Why a request is not one to process: its status and a line for the log (never for the sender). */
type Refusal = { status: 400 | 401; why: string };

export class SlackHttpReceiver implements Receiver {
  readonly #secret: string;
  readonly #log: Logger;
  #app: App | undefined;

  constructor(options: SlackHttpReceiverOptions) {
    this.#secret = options.signingSecret;
    this.#log = options.log;
  }

  init(app: App): void {
    this.#app = app;
  }

  /** Ferry's HTTP server listens; there is nothing of the receiver's own to start or stop. */
  start(): Promise<void> {
    return Promise.resolve();
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }

  /** Handles one request to the Slack endpoint whose whole body has been read. */
  readonly handle: SlackRequestHandler = (req, res, raw) => {
    const text = raw.toString('utf8');
    const form = req.headers['content-type'] === 'application/x-www-form-urlencoded';
    const fields = form ? parseForm(text) : undefined;
    // Slack's ssl_check comes unsigned: answered without anything of its body reaching the app.
    if (fields?.ssl_check === '1') {
      res.writeHead(200).end();
      return;
    }
    const refusal = this.#unsigned(req.headers, raw);
    if (refusal) return this.#refuse(res, refusal);
    const parsed = parseBody(text, fields);
    if (!parsed.ok) return this.#refuse(res, parsed.refusal);
    if (parsed.body.type === 'url_verification') {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ challenge: parsed.body.challenge }));
      return;
    }
    const retryNum = header(req.headers, 'x-slack-retry-num');
    const retryReason = header(req.headers, 'x-slack-retry-reason');
    void this.#process(this.#answer(res), {
      body: parsed.body,
      ...(retryNum !== undefined ? { retryNum: Number.parseInt(retryNum, 10) } : {}),
      ...(retryReason !== undefined ? { retryReason } : {}),
      customProperties: {},
    });
  };

  async #process(answer: Answer, request: Omit<ReceiverEvent, 'ack'>): Promise<void> {
    try {
      if (!this.#app) throw new Error('the receiver was not given its app');
      await this.#app.processEvent({ ...request, ack: answer.ack });
    } catch (error) {
      // A payload Bolt cannot process (a block action without actions, a view without a view) is
      // the sender's mistake: 400, not a 500 that invites Slack to send it again. Once acknowledged,
      // the answer is gone; the app's error handler has logged the error.
      const res = answer.take();
      if (!res) return;
      this.#log.warn({ err: error }, 'a Slack request could not be processed');
      res.writeHead(400, { 'content-type': 'text/plain' }).end('Ferry could not process this request.');
    }
  }

  /**
   * The request's one answer: its ack, or a 404 when no listener acknowledged it within Bolt's
   * 3 s. The response is let go of once answered: an acknowledged request may wait a while for its
   * turn to work (slack/after-ack.ts), and holds only what its listener reads meanwhile.
   */
  #answer(res: ServerResponse): Answer {
    let open: ServerResponse | undefined = res;
    let answered: 'ack' | 'timeout' | undefined;
    const take = () => {
      const taken = open;
      open = undefined;
      clearTimeout(timer);
      return taken;
    };
    const timer = setTimeout(() => {
      const unanswered = take();
      if (!unanswered) return;
      answered = 'timeout';
      this.#log.error('a Slack request was not acknowledged within 3 s: answered 404');
      unanswered.writeHead(404).end();
    }, UNHANDLED_AFTER_MS);
    const ack: AckFn<unknown> = (response) => {
      const taken = take();
      if (!taken) {
        // As Bolt's own ack: acknowledging twice is a listener's bug; too late, Slack has shown an error.
        if (answered === 'ack') return Promise.reject(new ReceiverMultipleAckError());
        return Promise.reject(new Error('acknowledged after 3 s: Slack was already answered 404'));
      }
      answered = 'ack';
      HTTPModuleFunctions.buildContentResponse(taken, response);
      return Promise.resolve();
    };
    return { ack, take };
  }

  /** Why the signature does not hold, or null: Slack's v0 HMAC over timestamp and raw body. */
  #unsigned(headers: IncomingHttpHeaders, body: Buffer): Refusal | null {
    const timestamp = header(headers, 'x-slack-request-timestamp');
    const signature = header(headers, 'x-slack-signature');
    if (timestamp === undefined || signature === undefined)
      return { status: 401, why: 'the request is not signed' };
    const seconds = Number(timestamp);
    if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - seconds) > MAX_SKEW_SECONDS)
      return { status: 401, why: 'the request was signed more than five minutes from now' };
    const expected = Buffer.from(slackSignature(this.#secret, timestamp, body));
    const presented = Buffer.from(signature);
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected))
      return { status: 401, why: 'the signature does not match' };
    return null;
  }

  #refuse(res: ServerResponse, refusal: Refusal): void {
    this.#log.warn(`a Slack request was refused (${refusal.status}): ${refusal.why}`);
    if (refusal.status === 401) {
      res.writeHead(401).end();
      return;
    }
    res
      .writeHead(400, { 'content-type': 'text/plain' })
      .end('not a Slack request: the body must be a form or a JSON object of a kind Slack sends');
  }
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The body as Bolt's receiver parses it (a form's `payload` field as JSON, else the form's fields;
 * any other type as JSON), if it is an object Bolt can route. Bolt reads `body.ssl_check` on
 * whatever parsing returns, so a `null` or a number would throw inside its handler; and an object
 * it cannot route (no event, command, actions or known type) reaches no listener and would wait
 * 3 s for a 404. Slack sends neither.
 */
function parseBody(
  text: string,
  fields: ReturnType<typeof parseForm> | undefined,
): { ok: true; body: Record<string, unknown> } | { ok: false; refusal: Refusal } {
  let parsed: unknown;
  try {
    parsed =
      fields === undefined
        ? JSON.parse(text)
        : typeof fields.payload === 'string'
          ? JSON.parse(fields.payload)
          : fields;
  } catch {
    return { ok: false, refusal: { status: 400, why: 'the body does not parse' } };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !routes(parsed as Body))
    return { ok: false, refusal: { status: 400, why: 'the body is not a kind of request Slack sends' } };
  return { ok: true, body: parsed as Body };
}

type Body = Record<string, unknown>;

/** Payload types Bolt routes to a kind of listener (mirroring its `getTypeAndConversation`). */
const routedTypes = new Set([
  'url_verification',
  'dialog_submission',
  'block_suggestion',
  'shortcut',
  'message_action',
  'view_submission',
  'view_closed',
]);

/** Whether Bolt can tell what kind of request this is. */
function routes(body: Body): boolean {
  if (typeof body.type === 'string' && routedTypes.has(body.type)) return true;
  return (
    body.event !== undefined ||
    body.command !== undefined ||
    body.actions !== undefined ||
    body.name !== undefined
  );
}
