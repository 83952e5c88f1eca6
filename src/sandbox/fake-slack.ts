import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { APP_TOKEN_METHODS, METHODS, UNAUTHENTICATED_METHODS, publicFile } from './fake-slack/methods.ts';
import { RateLimiter, type RateLimitOptions } from './fake-slack/rate-limit.ts';
import {
  applyResponse,
  DEFAULT_RESPONSE_URL_LIMITS,
  ResponseUrlBook,
  type ResponsePayload,
  type ResponseTarget,
  type ResponseUrlLimits,
} from './fake-slack/response-urls.ts';
import { SocketModeServer } from './fake-slack/socket-mode.ts';
import { SlackStore, type BotInfo, type TeamInfo } from './fake-slack/store.ts';
import { TriggerBook } from './fake-slack/triggers.ts';
import type {
  ApiArgs,
  ApiResponse,
  Clock,
  EphemeralMessage,
  FakeSlackChange,
  FakeSlackEvent,
  RecordedCall,
  SlackChannel,
  SlackFile,
  SlackMessage,
  SlackUser,
  SlackView,
} from './fake-slack/types.ts';
import {
  BodyTooLargeError,
  parseApiArgs,
  readBody,
  sendJson,
  sendText,
  takeToken,
} from './fake-slack/wire.ts';

// Ferry's Slack stand-in: a local HTTP server that speaks the Slack Web API wire protocol to the
// real @slack/web-api WebClient (`slackApiUrl`), answers Bolt's response_url posts and WebClient's
// file uploads, serves Socket Mode's WebSocket to Bolt's SocketModeClient, and keeps a workspace
// that tests and the sandbox console can read and watch. Every instance is independent; nothing is
// global.

export type * from './fake-slack/types.ts';
export type { BotInfo, TeamInfo } from './fake-slack/store.ts';
export type { RateLimitOptions, RateLimitPolicy } from './fake-slack/rate-limit.ts';
export type { ResponseTarget, ResponseUrlLimits } from './fake-slack/response-urls.ts';
export type {
  DeliverOptions,
  Delivery,
  DisconnectReason,
  Envelope,
  EnvelopeAck,
  EnvelopeType,
} from './fake-slack/socket-mode.ts';
export { SocketModeServer } from './fake-slack/socket-mode.ts';
export { SlackStore } from './fake-slack/store.ts';
export { validateBlocks } from './fake-slack/blocks.ts';
export { DEFAULT_RATE_LIMITS, SLACK_TIERS } from './fake-slack/rate-limit.ts';

export interface FakeSlackOptions {
  /**
   * Which bot tokens are valid: an exact token or a pattern. Default: any `xoxb-` token.
   * No token gives `not_authed`; a wrong one `invalid_auth`.
   */
  token?: string | RegExp;
  /**
   * Which app-level tokens `apps.connections.open` takes (Socket Mode): an exact token or a
   * pattern. Default: any `xapp-` token. A bot token there gets `not_allowed_token_type`.
   */
  appToken?: string | RegExp;
  team?: Partial<TeamInfo>;
  bot?: Partial<BotInfo>;
  /** The people in the workspace (users.info, views.publish). */
  users?: SlackUser[];
  /** User groups and their members, e.g. `{ S0PLATFORM: ['U02BOB'] }`. */
  usergroups?: Record<string, string[]>;
  channels?: SlackChannel[];
  /** Only `channels` exist; any other id gets `channel_not_found`. Default false: ids are created on first use. */
  strictChannels?: boolean;
  /**
   * Slack's rate limits. Default on (true). `false` turns them off; a number scales every sustained
   * rate (10 = ten times more lenient); an object also replaces per-method policies.
   */
  rateLimits?: boolean | number | RateLimitOptions;
  /** Time source for message ts, rate limits, trigger and response_url expiry. Default `Date.now`. */
  clock?: Clock;
  /** The URL this fake is reachable at when mounted in another server via `handle`, e.g. "http://127.0.0.1:3000". */
  baseUrl?: string;
  /** Mount point for all routes (default ''): `${pathPrefix}/api/<method>`, `${pathPrefix}/response-url/<id>`… */
  pathPrefix?: string;
  /** Largest request body accepted (default 20 MiB). */
  maxBodyBytes?: number;
  /** response_url reuse limits (default 5 uses within 30 minutes, as Slack). */
  responseUrlLimits?: ResponseUrlLimits;
}

/** A fault to answer the next call of a method with, instead of running it. */
export interface InjectedFailure {
  /** Slack error code for the body; default `ratelimited` for 429, else `internal_error`. */
  error?: string;
  /** HTTP status; default 429 when `retryAfter` is set, else 200. */
  status?: number;
  /** Seconds for `Retry-After`; implies status 429 unless `status` says otherwise. */
  retryAfter?: number;
  /**
   * The call takes effect first and only its answer fails, as when Slack posted a message and the
   * answer was lost on the way back (a proxy's 5xx, a timeout). Web API methods only.
   */
  afterEffect?: boolean;
  /** Closes the connection instead of answering: the client sees a network error, not a status. */
  dropConnection?: boolean;
}

export interface WaitOptions {
  /** Default 5000 ms. */
  timeoutMs?: number;
  /** Names what was awaited in the timeout error. */
  description?: string;
}

export interface ListeningFakeSlack {
  /** e.g. "http://127.0.0.1:54321" (no trailing slash). */
  url: string;
  /** The WebClient `slackApiUrl`, e.g. "http://127.0.0.1:54321/api/". */
  apiUrl: string;
  close(): Promise<void>;
}

interface FakeSlackEvents {
  change: [FakeSlackEvent];
  call: [RecordedCall];
}

const DEFAULT_TOKEN = /^xoxb-/;
const DEFAULT_APP_TOKEN = /^xapp-/;

export class FakeSlack extends EventEmitter<FakeSlackEvents> {
  /** The workspace state; the console reads it directly. */
  readonly store: SlackStore;
  /** Socket Mode: the links `apps.connections.open` hands out, and the envelopes sent on them. */
  readonly socketMode: SocketModeServer;
  readonly #clock: Clock;
  readonly #token: string | RegExp;
  readonly #appToken: string | RegExp;
  readonly #limiter: RateLimiter | undefined;
  readonly #triggers: TriggerBook;
  readonly #responseUrls: ResponseUrlBook;
  readonly #prefix: string;
  readonly #maxBodyBytes: number;
  readonly #calls: RecordedCall[] = [];
  readonly #changes: FakeSlackEvent[] = [];
  readonly #failures = new Map<string, InjectedFailure[]>();
  readonly #waiters = new Set<() => void>();
  #baseUrl: string | undefined;
  #seq = 0;

  constructor(options: FakeSlackOptions = {}) {
    super();
    // The console opens one listener per live page; many are expected.
    this.setMaxListeners(1000);
    this.#clock = options.clock ?? Date.now;
    this.#token = options.token ?? DEFAULT_TOKEN;
    this.#appToken = options.appToken ?? DEFAULT_APP_TOKEN;
    this.#prefix = (options.pathPrefix ?? '').replace(/\/+$/, '');
    this.#maxBodyBytes = options.maxBodyBytes ?? 20 * 1024 * 1024;
    this.#baseUrl = options.baseUrl?.replace(/\/+$/, '');
    const limits = options.rateLimits ?? true;
    this.#limiter =
      limits === false
        ? undefined
        : new RateLimiter(
            this.#clock,
            typeof limits === 'number' ? { scale: limits } : limits === true ? {} : limits,
          );
    this.#triggers = new TriggerBook(this.#clock);
    this.#responseUrls = new ResponseUrlBook(
      this.#clock,
      options.responseUrlLimits ?? DEFAULT_RESPONSE_URL_LIMITS,
    );
    this.store = new SlackStore({
      clock: this.#clock,
      team: { id: 'T0FERRY', name: 'Ferry Sandbox', domain: 'ferry-sandbox', ...options.team },
      bot: { userId: 'U0FERRYBOT', botId: 'B0FERRYBOT', appId: 'A0FERRYAPP', name: 'ferry', ...options.bot },
      users: options.users ?? [],
      usergroups: options.usergroups ?? {},
      channels: options.channels ?? [],
      strictChannels: options.strictChannels ?? false,
      onChange: (change) => this.#onChange(change),
    });
    this.socketMode = new SocketModeServer({
      clock: this.#clock,
      store: this.store,
      appId: this.store.bot.appId,
      pathPrefix: this.#prefix,
      record: (method, args, status = 200) =>
        this.#record({ method, args, token: undefined, status, response: { ok: status < 400 } }),
    });
  }

  // ---- observation -------------------------------------------------------------------------------

  /** Every call in arrival order (Web API methods, `response_url` posts, `file_upload`s). */
  get calls(): readonly RecordedCall[] {
    return this.#calls;
  }

  /** The calls of one method, in order. */
  callsTo(method: string): RecordedCall[] {
    return this.#calls.filter((c) => c.method === method);
  }

  /** Every change so far, or those after `seq` (to resume a stream). */
  changes(sinceSeq = 0): FakeSlackEvent[] {
    return this.#changes.filter((c) => c.seq > sinceSeq);
  }

  /** What the channel shows: top-level messages and broadcast replies, oldest first. */
  messages(channel: string): SlackMessage[] {
    return this.store.messages(channel);
  }

  /** A thread, parent first. */
  thread(channel: string, ts: string): SlackMessage[] {
    return this.store.thread(channel, ts);
  }

  message(channel: string, ts: string): SlackMessage | undefined {
    return this.store.message(channel, ts);
  }

  /** Ephemeral messages still showing to `user` (in `channel` if given). */
  ephemerals(user: string, channel?: string): EphemeralMessage[] {
    return this.store.ephemerals(channel === undefined ? { user } : { user, channel });
  }

  channels(): SlackChannel[] {
    return this.store.channels();
  }

  views(): SlackView[] {
    return this.store.views();
  }

  files(): SlackFile[] {
    return this.store.files();
  }

  /**
   * Resolves with the (synchronous) predicate's first truthy value, checked now and after every
   * recorded call and change. Rejects after `timeoutMs` with the last calls, so a failing test says what did happen.
   */
  waitFor<T>(
    predicate: (fake: FakeSlack) => T | undefined | null | false | '' | 0,
    options: WaitOptions = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? 5000;
    return new Promise<T>((resolve, reject) => {
      const done = (): void => {
        this.#waiters.delete(check);
        clearTimeout(timer);
      };
      const check = (): void => {
        let value: T | undefined | null | false | '' | 0;
        try {
          value = predicate(this);
        } catch (error) {
          done();
          reject(error instanceof Error ? error : new Error(String(error)));
          return;
        }
        if (value) {
          done();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        done();
        const recent = this.#calls
          .slice(-8)
          .map(
            (c) => `${c.method} -> ${c.status} ${c.response.ok === true ? 'ok' : String(c.response.error)}`,
          );
        const what = options.description ? ` for ${options.description}` : '';
        reject(
          new Error(
            `FakeSlack.waitFor timed out after ${timeoutMs} ms${what}; last calls: ${recent.join(', ') || 'none'}`,
          ),
        );
      }, timeoutMs);
      this.#waiters.add(check);
      check();
    });
  }

  /** The first recorded call of `method` (after seq `since`, if given) that `match` accepts. */
  waitForCall(
    method: string,
    match: (call: RecordedCall) => boolean = () => true,
    options: WaitOptions & { since?: number } = {},
  ): Promise<RecordedCall> {
    const since = options.since ?? 0;
    return this.waitFor(() => this.#calls.find((c) => c.seq > since && c.method === method && match(c)), {
      description: `a ${method} call`,
      ...options,
    });
  }

  /** The first message in `channel` (thread replies included) that `match` accepts. */
  waitForMessage(
    channel: string,
    match: (message: SlackMessage) => boolean = () => true,
    options: WaitOptions = {},
  ): Promise<SlackMessage> {
    return this.waitFor(() => this.store.allMessages(channel).find(match), {
      description: `a message in ${channel}`,
      ...options,
    });
  }

  // ---- test controls -----------------------------------------------------------------------------

  /**
   * Answers the next call of `method` with a fault instead of running it. Calls stack: two
   * `failNext` fail the next two calls. `method` may also be `response_url` or `file_upload`.
   */
  failNext(method: string, failure: InjectedFailure = {}): void {
    const queue = this.#failures.get(method) ?? [];
    queue.push(failure);
    this.#failures.set(method, queue);
  }

  /** A response_url for a command or action payload; responses land in `channel` for `user`. */
  responseUrlFor(target: ResponseTarget): string {
    return `${this.#requireBaseUrl()}${this.#prefix}/response-url/${this.#responseUrls.mint(target)}`;
  }

  /** A trigger_id for a payload: views.open accepts it once, within 3 seconds. */
  mintTriggerId(user?: string): string {
    return this.#triggers.mint(user);
  }

  /** Where this fake is reachable (set by `listen`, the `baseUrl` option or `setBaseUrl`). */
  get url(): string | undefined {
    return this.#baseUrl;
  }

  /** The WebClient `slackApiUrl` for this fake, once its URL is known. */
  get apiUrl(): string | undefined {
    return this.#baseUrl === undefined ? undefined : `${this.#baseUrl}${this.#prefix}/api/`;
  }

  setBaseUrl(url: string): void {
    this.#baseUrl = url.replace(/\/+$/, '');
  }

  // ---- HTTP --------------------------------------------------------------------------------------

  /**
   * Serves `POST ${pathPrefix}/api/<method>`, `POST ${pathPrefix}/response-url/<id>` and
   * `POST ${pathPrefix}/upload/v1/<fileId>`. Returns false, touching nothing, for any other path,
   * so a host server can mount the fake next to its own routes.
   */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://fake-slack.invalid');
    const path = url.pathname;
    if (this.#prefix && !path.startsWith(`${this.#prefix}/`)) return false;
    const route = path.slice(this.#prefix.length);
    const [, kind, id] = /^\/(api|response-url|upload\/v1)\/([^/]+)$/.exec(route) ?? [];
    if (kind === undefined || id === undefined) return false;
    // Slack method names always have a dot ("chat.postMessage"): leave `/api/runs` to the host.
    if (kind === 'api' && !/^[A-Za-z]+(\.[A-Za-z0-9_]+)+$/.test(id)) return false;
    if (this.#baseUrl === undefined && typeof req.headers.host === 'string') {
      this.#baseUrl = `http://${req.headers.host}`;
    }
    try {
      if (req.method !== 'POST' && !(kind === 'api' && req.method === 'GET')) {
        sendJson(res, 405, { ok: false, error: 'method_not_allowed' }, { allow: 'POST' });
        return true;
      }
      const body = await readBody(req, this.#maxBodyBytes);
      if (kind === 'api') await this.#serveApi(id, url, req, body, res);
      else if (kind === 'response-url') this.#serveResponseUrl(id, req, body, res);
      else await this.#serveUpload(id, req, body, res);
    } catch (error) {
      if (res.headersSent) {
        res.destroy(error instanceof Error ? error : undefined);
      } else if (error instanceof BodyTooLargeError) {
        sendJson(res, 413, { ok: false, error: 'request_too_large' });
      } else {
        sendJson(res, 500, {
          ok: false,
          error: 'fatal_error',
          detail: error instanceof Error ? error.message : '',
        });
      }
    }
    return true;
  }

  /**
   * Takes over an HTTP upgrade to Socket Mode's `{pathPrefix}/link/` (the URL `apps.connections.open`
   * handed out); returns false, touching nothing, for any other path.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    if (this.#baseUrl === undefined && typeof req.headers.host === 'string') {
      this.#baseUrl = `http://${req.headers.host}`;
    }
    return this.socketMode.handleUpgrade(req, socket, head);
  }

  /** Serves the fake on its own HTTP server (127.0.0.1, a free port by default). */
  async listen(port = 0, host = '127.0.0.1'): Promise<ListeningFakeSlack> {
    const server = createServer((req, res) => {
      this.handle(req, res).then(
        (handled) => {
          if (!handled) sendJson(res, 404, { ok: false, error: 'not_found' });
        },
        (error: unknown) => {
          if (!res.headersSent)
            sendJson(res, 500, { ok: false, error: 'fatal_error', detail: String(error) });
        },
      );
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (!this.handleUpgrade(req, socket, head)) socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${hostPart}:${address.port}`;
    this.setBaseUrl(url);
    return {
      url,
      apiUrl: `${url}${this.#prefix}/api/`,
      close: async () => {
        await this.socketMode.close();
        await new Promise<void>((resolve, reject) => {
          server.close((error) => (error ? reject(error) : resolve()));
          server.closeAllConnections();
        });
      },
    };
  }

  async #serveApi(
    method: string,
    url: URL,
    req: IncomingMessage,
    body: Buffer,
    res: ServerResponse,
  ): Promise<void> {
    const parsed = await parseApiArgs(req.headers['content-type'], body, url.searchParams);
    const args: ApiArgs = parsed.ok ? parsed.args : {};
    const token = takeToken(req, args);
    const answer = (status: number, response: ApiResponse, retryAfter?: number): void => {
      this.#record({
        method,
        args,
        token,
        status,
        response,
        ...(retryAfter !== undefined ? { retryAfter } : {}),
      });
      sendJson(res, status, response, retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {});
    };

    const handler = METHODS[method];
    if (!handler) return answer(200, { ok: false, error: 'unknown_method', req_method: method });
    if (!parsed.ok) return answer(200, { ok: false, error: parsed.error });
    if (!UNAUTHENTICATED_METHODS.has(method)) {
      if (token === undefined || token === '') return answer(200, { ok: false, error: 'not_authed' });
      if (APP_TOKEN_METHODS.has(method)) {
        if (this.#tokenIsValid(token)) return answer(200, { ok: false, error: 'not_allowed_token_type' });
        if (!matches(this.#appToken, token)) return answer(200, { ok: false, error: 'invalid_auth' });
      } else if (!this.#tokenIsValid(token)) return answer(200, { ok: false, error: 'invalid_auth' });
    }
    const run = () =>
      handler({
        args,
        store: this.store,
        triggers: this.#triggers,
        uploadUrlFor: (fileId) => `${this.#requireBaseUrl()}${this.#prefix}/upload/v1/${fileId}`,
        socketUrl: () => this.socketMode.openUrl(this.#requireBaseUrl()),
      });
    const injected = this.#takeFailure(method);
    if (injected) {
      if (injected.afterEffect) run();
      if (injected.dropConnection) {
        this.#record({ method, args, token, status: 0, response: injected.response });
        res.destroy();
        return;
      }
      return answer(injected.status, injected.response, injected.retryAfter);
    }
    const decision = this.#limiter?.take(method, args);
    if (decision && !decision.ok)
      return answer(429, { ok: false, error: 'ratelimited' }, decision.retryAfter);
    answer(200, run());
  }

  #serveResponseUrl(id: string, req: IncomingMessage, body: Buffer, res: ServerResponse): void {
    let payload: ResponsePayload = {};
    let parseError: string | undefined;
    try {
      const parsed: unknown = JSON.parse(body.toString('utf8') || '{}');
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) payload = parsed;
      else parseError = 'invalid_payload';
    } catch {
      parseError = 'invalid_payload';
    }
    const args: ApiArgs = { ...payload, response_url_id: id };
    const answer = (status: number, response: ApiResponse, retryAfter?: number): void => {
      this.#record({
        method: 'response_url',
        args,
        token: undefined,
        status,
        response,
        ...(retryAfter !== undefined ? { retryAfter } : {}),
      });
      sendJson(res, status, response, retryAfter !== undefined ? { 'retry-after': String(retryAfter) } : {});
    };
    const injected = this.#takeFailure('response_url');
    if (injected) return answer(injected.status, injected.response, injected.retryAfter);
    if (parseError) return answer(400, { ok: false, error: parseError });
    const target = this.#responseUrls.use(id);
    if (!target.ok) return answer(404, { ok: false, error: target.error });
    const response = applyResponse(this.store, target.target, payload);
    answer(response.ok ? 200 : 400, response);
  }

  async #serveUpload(fileId: string, req: IncomingMessage, body: Buffer, res: ServerResponse): Promise<void> {
    const contentType = req.headers['content-type'] ?? '';
    let content = body;
    if (contentType.toLowerCase().startsWith('multipart/form-data')) {
      const parsed = await parseApiArgs(contentType, body, new URLSearchParams());
      const first = parsed.ok ? [...parsed.files.values()][0] : undefined;
      if (first) content = first;
    }
    const record = (status: number, response: Record<string, unknown>): void =>
      this.#record({
        method: 'file_upload',
        args: { file_id: fileId, size: content.length },
        token: undefined,
        status,
        response,
      });
    const injected = this.#takeFailure('file_upload');
    if (injected) {
      record(injected.status, injected.response);
      sendJson(res, injected.status, injected.response);
      return;
    }
    const stored = this.store.storeFileContent(fileId, content);
    if (!stored.ok) {
      record(404, { ok: false, error: stored.error });
      sendText(res, 404, 'Not Found');
      return;
    }
    record(200, { ok: true, file: publicFile(stored.value) });
    sendText(res, 200, `OK - ${content.length}`);
  }

  #tokenIsValid(token: string): boolean {
    return matches(this.#token, token);
  }

  #takeFailure(method: string):
    | {
        status: number;
        response: ApiResponse;
        retryAfter?: number;
        afterEffect: boolean;
        dropConnection: boolean;
      }
    | undefined {
    const queue = this.#failures.get(method);
    const failure = queue?.shift();
    if (!failure) return undefined;
    const retryAfter =
      failure.retryAfter !== undefined ? Math.max(1, Math.ceil(failure.retryAfter)) : undefined;
    const status = failure.status ?? (retryAfter !== undefined ? 429 : 200);
    const error = failure.error ?? (status === 429 ? 'ratelimited' : 'internal_error');
    const withRetry = retryAfter ?? (status === 429 ? 1 : undefined);
    return {
      status,
      response: { ok: false, error },
      ...(withRetry !== undefined ? { retryAfter: withRetry } : {}),
      afterEffect: failure.afterEffect === true,
      dropConnection: failure.dropConnection === true,
    };
  }

  #requireBaseUrl(): string {
    if (this.#baseUrl === undefined) {
      throw new Error(
        'FakeSlack does not know its URL yet: call listen(), pass `baseUrl`, or call setBaseUrl()',
      );
    }
    return this.#baseUrl;
  }

  #record(call: Omit<RecordedCall, 'seq' | 'at'>): void {
    this.#seq += 1;
    const recorded: RecordedCall = { seq: this.#seq, at: this.#clock(), ...call };
    this.#calls.push(recorded);
    this.emit('call', recorded);
    this.#notify();
  }

  #onChange(change: FakeSlackChange): void {
    this.#seq += 1;
    const event: FakeSlackEvent = { ...change, seq: this.#seq, at: this.#clock() };
    this.#changes.push(event);
    this.emit('change', event);
    this.#notify();
  }

  #notify(): void {
    for (const check of [...this.#waiters]) check();
  }
}

function matches(expected: string | RegExp, token: string): boolean {
  return typeof expected === 'string' ? token === expected : expected.test(token);
}
