import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { z } from 'zod';
import { sameSecret, type RequestContext, type Route } from '../http/server.ts';
import type { FakeSlack, FakeSlackEvent, SlackFile, SlackMessage, SlackView } from './fake-slack.ts';
import { isFaultName, type Faults } from './faults.ts';
import {
  buildBlockActionPayload,
  buildEventEnvelope,
  buildViewSubmissionPayload,
  sendBlockAction,
  sendEvent,
  sendInteraction,
  sendSlashCommand,
  type SignedResponse,
} from './signed-request.ts';
import type { RedisStatus } from './workers.ts';
import type { AppSnapshot } from './world.ts';

// The console page and what it calls. A command typed or a button clicked in the page comes here
// as JSON; this module turns it into the request Slack would send (form-encoded, signed with the
// signing secret) and posts it to Ferry's own POST /slack/events, so local mode runs the production
// code path. What Ferry posts back lands in the fake Slack, which streams its changes to the page.
//
//   GET  /                       the page
//   GET  /sandbox/assets/<file>  its scripts and styles (src/sandbox/console/)
//   GET  /sandbox/state          a snapshot: people, channel messages, the user's ephemerals, faults, systems
//   GET  /sandbox/events         server-sent events: Slack changes, faults, systems, Redis status, reset
//   GET  /sandbox/files/<id>     a file shared in Slack (a report's Markdown, JSON or chart)
//   POST /sandbox/command        { user, channel, text: "/migrate ..." }
//   POST /sandbox/message        { user, channel, text, thread_ts? }  a person's chat message
//   POST /sandbox/action         { user, channel, ts, action_id, block_id?, ephemeral? }  a button click
//   POST /sandbox/faults         { name, armed, count? }
//   POST /sandbox/home           { user }  the person opens Ferry's App Home tab (app_home_opened)
//   POST /sandbox/view           { user, view_id, values }  the person submits a modal (view_submission)
//   POST /sandbox/reset          {}  Reset the world: Ferry starts over with fresh fakes (202)

export interface ConsoleUser {
  id: string;
  name: string;
  realName: string;
  /** What this person may do with the example plan, as the user switcher says it. */
  role: string;
}

export interface ConsoleUsergroup {
  id: string;
  handle: string;
  name: string;
  users: string[];
}

export interface ConsoleDeps {
  fakeSlack: FakeSlack;
  /** Where Ferry's Bolt receiver listens: `${ferryUrl}/slack/events`. */
  ferryUrl: string;
  signingSecret: string;
  faults: Faults;
  users: readonly ConsoleUser[];
  usergroups: readonly ConsoleUsergroup[];
  channel: { id: string; name: string };
  world: () => AppSnapshot[];
  redis: () => RedisStatus;
  log: Logger;
  /**
   * What a page must bring when Ferry listens beyond loopback or the peer is another machine: as
   * `?token=` on its first visit, then as the cookie that visit sets.
   */
  token: string;
  /** How often the systems panel is refreshed while a page is open (default 500 ms). */
  worldIntervalMs?: number;
  /** Starts Ferry over with a fresh world (the sandbox's `reset`); unset, the console cannot reset. */
  reset?: () => void;
}

interface Client {
  res: ServerResponse;
  user: string | undefined;
}

const ASSETS = new URL('./console/', import.meta.url);
const ASSET_TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  html: 'text/html; charset=utf-8',
};
const MAX_BODY = 64 * 1024;
/** Slack gives an app 3 seconds to acknowledge a command or a click. */
const SLACK_ACK_TIMEOUT_MS = 3_000;

const userId = z.string().regex(/^[UW][A-Z0-9]+$/, 'expected a user id');
const channelId = z.string().regex(/^[CGD][A-Z0-9]+$/, 'expected a channel id');
const ts = z.string().regex(/^\d{1,12}\.\d{6}$/, 'expected a message ts');
const commandBody = z.object({ user: userId, channel: channelId, text: z.string().trim().min(2).max(4000) });
const messageBody = z.object({
  user: userId,
  channel: channelId,
  text: z.string().trim().min(1).max(40_000),
  thread_ts: ts.optional(),
});
const actionBody = z.object({
  user: userId,
  channel: channelId,
  ts,
  action_id: z.string().min(1).max(255),
  block_id: z.string().max(255).optional(),
  ephemeral: z.boolean().optional(),
});
const homeBody = z.object({ user: userId });
/** A modal's `state.values` as Slack sends them: block_id -> action_id -> the element's value. */
const viewValue = z.union([
  z.object({ type: z.literal('plain_text_input'), value: z.string().max(10_000).nullable() }),
  z.object({
    type: z.literal('static_select'),
    selected_option: z.object({ text: z.unknown(), value: z.string().max(2000) }).nullable(),
  }),
]);
const viewBody = z.object({
  user: userId,
  view_id: z.string().regex(/^V[A-Z0-9]+$/, 'expected a view id'),
  values: z.record(z.string().max(255), z.record(z.string().max(255), viewValue)),
});
const faultBody = z.object({
  name: z.string().refine(isFaultName, 'unknown fault'),
  armed: z.boolean(),
  count: z.number().int().min(1).max(1000).optional(),
});

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export class ConsoleRoutes {
  readonly #deps: ConsoleDeps;
  readonly #clients = new Set<Client>();
  readonly #unsubscribe: Array<() => void> = [];
  #worldTimer: NodeJS.Timeout | undefined;
  #keepAlive: NodeJS.Timeout | undefined;
  #lastWorld = '';
  #lastRedis = '';
  /** Names this world: a page that sees another one after reconnecting knows the world was reset. */
  readonly #session = randomBytes(6).toString('hex');
  #resetting = false;

  constructor(deps: ConsoleDeps) {
    this.#deps = deps;
    const onChange = (event: FakeSlackEvent): void => this.#broadcastSlack(event);
    deps.fakeSlack.on('change', onChange);
    this.#unsubscribe.push(() => deps.fakeSlack.off('change', onChange));
    const onFaults = (): void => this.#broadcast('faults', deps.faults.list());
    deps.faults.on('change', onFaults);
    this.#unsubscribe.push(() => deps.faults.off('change', onFaults));
  }

  /** The route to mount on Ferry's port. */
  readonly route: Route = (req, res, context) => this.#handle(req, res, context);

  /** Ends every open event stream (before the HTTP server closes) and stops the timers. */
  close(): void {
    for (const stop of this.#unsubscribe.splice(0)) stop();
    this.#stopTimers();
    for (const client of this.#clients) client.res.end();
    this.#clients.clear();
  }

  async #handle(req: IncomingMessage, res: ServerResponse, context: RequestContext): Promise<boolean> {
    const url = new URL(req.url ?? '/', 'http://sandbox.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const page = path === '/' || path === '/index.html';
    if (!page && !path.startsWith('/sandbox/')) return false;
    // The console signs requests as anyone: only a page served from this machine may use it. A
    // Host other than a loopback name is DNS rebinding; an Origin other than the page's own is a
    // cross-site request.
    const refusal = foreignRequest(req);
    if (refusal) {
      json(res, 403, { ok: false, error: refusal });
      return true;
    }
    // Headers can be forged; the TCP peer and the address Ferry listens on cannot. Beyond loopback
    // (the Docker image), a page must bring the token Ferry printed at start.
    if (context.boundBeyondLoopback || !context.peerIsLoopback) {
      if (!this.#admitted(req, res, url, page && method === 'GET')) return true;
    }
    try {
      if (method === 'GET' && (path === '/' || path === '/index.html')) await this.#asset(res, 'index.html');
      else if (method === 'GET' && path.startsWith('/sandbox/assets/'))
        await this.#asset(res, path.slice('/sandbox/assets/'.length));
      else if (method === 'GET' && path === '/sandbox/state') this.#state(res, url);
      else if (method === 'GET' && path === '/sandbox/events') this.#events(req, res, url);
      else if (method === 'POST' && path === '/sandbox/command') await this.#command(req, res);
      else if (method === 'POST' && path === '/sandbox/message') await this.#message(req, res);
      else if (method === 'POST' && path === '/sandbox/action') await this.#action(req, res);
      else if (method === 'POST' && path === '/sandbox/faults') await this.#fault(req, res);
      else if (method === 'POST' && path === '/sandbox/home') await this.#home(req, res);
      else if (method === 'POST' && path === '/sandbox/view') await this.#submitView(req, res);
      else if (method === 'POST' && path === '/sandbox/reset') await this.#reset(req, res);
      else if (method === 'GET' && path.startsWith('/sandbox/files/'))
        this.#file(res, path.slice('/sandbox/files/'.length));
      else if (method === 'GET' && path === '/sandbox/faults')
        json(res, 200, { faults: this.#deps.faults.list() });
      else return false;
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 500;
      if (status === 500) this.#deps.log.error({ err: error, path }, 'sandbox console request failed');
      if (!res.headersSent) json(res, status, { ok: false, error: (error as Error).message });
      else res.end();
    }
    return true;
  }

  /**
   * Whether the request brings the console token. A page visit with `?token=` gets it as an
   * HttpOnly, SameSite=Strict cookie and is sent on without it (out of the address bar and history);
   * anything else is answered here with a line that says what to open.
   */
  #admitted(req: IncomingMessage, res: ServerResponse, url: URL, pageVisit: boolean): boolean {
    const { token } = this.#deps;
    const cookieName = consoleCookieName(req);
    const presented = url.searchParams.get('token');
    if (pageVisit && presented !== null) {
      if (!sameSecret(presented, token)) {
        this.#deps.log.warn('sandbox console: a page came with a wrong token');
        refuse(res, 403, true, WRONG_TOKEN);
        return false;
      }
      url.searchParams.delete('token');
      res.writeHead(303, {
        location: `${url.pathname}${url.search}`,
        'set-cookie': `${cookieName}=${token}; Path=/; HttpOnly; SameSite=Strict`,
        'cache-control': 'no-store',
      });
      res.end();
      return false;
    }
    if (sameSecret(readCookie(req, cookieName), token)) return true;
    refuse(res, 401, pageVisit, NO_TOKEN);
    return false;
  }

  async #asset(res: ServerResponse, name: string): Promise<void> {
    const ext = /^[a-z0-9][a-z0-9-]*\.([a-z]+)$/.exec(name)?.[1];
    const type = ext === undefined ? undefined : ASSET_TYPES[ext];
    if (type === undefined) throw new HttpError(404, `no asset ${name}`);
    let body: Buffer;
    try {
      body = await readFile(new URL(name, ASSETS));
    } catch {
      throw new HttpError(404, `no asset ${name}`);
    }
    res.writeHead(200, {
      'content-type': type,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      ...(ext === 'html'
        ? {
            'content-security-policy':
              "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'",
          }
        : {}),
    });
    res.end(body);
  }

  #state(res: ServerResponse, url: URL): void {
    const { fakeSlack, users, usergroups, faults, channel } = this.#deps;
    const user = url.searchParams.get('user') ?? users[0]?.id ?? '';
    const channelParam = url.searchParams.get('channel') ?? channel.id;
    const store = fakeSlack.store;
    const calls = fakeSlack.calls;
    const changes = fakeSlack.changes();
    json(res, 200, {
      session: this.#session,
      canReset: this.#deps.reset !== undefined,
      seq: Math.max(calls.at(-1)?.seq ?? 0, changes.at(-1)?.seq ?? 0),
      team: store.team,
      bot: store.bot,
      users,
      usergroups,
      channels: store.channels().filter((c) => !c.is_im),
      channel: channelParam,
      messages: store.allMessages(channelParam).map(forPage),
      ephemerals: store.ephemerals({ user, channel: channelParam }).map(forPage),
      home: viewForPage(store.homeView(user)),
      faults: faults.list(),
      world: this.#deps.world(),
      redis: this.#deps.redis(),
    });
  }

  #events(req: IncomingMessage, res: ServerResponse, url: URL): void {
    const user = url.searchParams.get('user') ?? undefined;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n\n');
    const client: Client = { res, user };
    this.#clients.add(client);
    req.on('close', () => {
      this.#clients.delete(client);
      if (this.#clients.size === 0) this.#stopTimers();
    });
    const calls = this.#deps.fakeSlack.calls;
    const changes = this.#deps.fakeSlack.changes();
    send(res, 'hello', {
      session: this.#session,
      seq: Math.max(calls.at(-1)?.seq ?? 0, changes.at(-1)?.seq ?? 0),
    });
    this.#startTimers();
  }

  #startTimers(): void {
    this.#worldTimer ??= setInterval(() => this.#checkWorld(), this.#deps.worldIntervalMs ?? 500);
    this.#keepAlive ??= setInterval(() => {
      for (const client of this.#clients) client.res.write(': keep-alive\n\n');
    }, 15_000);
  }

  #stopTimers(): void {
    if (this.#worldTimer) clearInterval(this.#worldTimer);
    if (this.#keepAlive) clearInterval(this.#keepAlive);
    this.#worldTimer = undefined;
    this.#keepAlive = undefined;
  }

  #checkWorld(): void {
    const world = JSON.stringify(this.#deps.world());
    if (world !== this.#lastWorld) {
      this.#lastWorld = world;
      this.#broadcastRaw('world', world);
    }
    const redis = JSON.stringify(this.#deps.redis());
    if (redis !== this.#lastRedis) {
      this.#lastRedis = redis;
      this.#broadcastRaw('redis', redis);
    }
  }

  #broadcast(event: string, data: unknown): void {
    this.#broadcastRaw(event, JSON.stringify(data));
  }

  #broadcastRaw(event: string, data: string): void {
    for (const client of this.#clients) client.res.write(`event: ${event}\ndata: ${data}\n\n`);
  }

  #broadcastSlack(event: FakeSlackEvent): void {
    if (this.#clients.size === 0) return;
    const store = this.#deps.fakeSlack.store;
    let data: Record<string, unknown> | undefined;
    let onlyFor: string | undefined;
    switch (event.type) {
      case 'message_posted':
      case 'message_updated':
        data = { seq: event.seq, type: event.type, channel: event.channel, message: forPage(event.message) };
        break;
      case 'message_deleted':
        data = { seq: event.seq, type: event.type, channel: event.channel, ts: event.ts };
        break;
      case 'ephemeral_posted':
      case 'ephemeral_updated':
      case 'ephemeral_deleted':
        onlyFor = event.user;
        data = { seq: event.seq, type: event.type, channel: event.channel, message: forPage(event.message) };
        break;
      case 'reaction_added':
      case 'reaction_removed':
      case 'pin_added':
      case 'pin_removed': {
        const message = store.message(event.channel, event.ts);
        if (message)
          data = {
            seq: event.seq,
            type: 'message_updated',
            channel: event.channel,
            message: forPage(message),
          };
        break;
      }
      case 'channel_created':
        if (!event.channel.is_im) data = { seq: event.seq, type: event.type, channel: event.channel };
        break;
      case 'view_opened':
      case 'view_updated':
      case 'view_published':
        // A modal or a Home tab is seen by one person only, as in Slack.
        if (!event.view.user) break;
        onlyFor = event.view.user;
        data = {
          seq: event.seq,
          type: event.view.type === 'home' ? 'home_published' : event.type,
          view: viewForPage(event.view),
        };
        break;
      case 'file_uploaded':
        break;
    }
    if (!data) return;
    const text = `id: ${event.seq}\nevent: slack\ndata: ${JSON.stringify(data)}\n\n`;
    for (const client of this.#clients) {
      // Ephemeral messages go only to the page of the person they are for, as in Slack.
      if (onlyFor === undefined || client.user === onlyFor) client.res.write(text);
    }
  }

  #person(id: string): ConsoleUser {
    const person = this.#deps.users.find((u) => u.id === id);
    if (!person) throw new HttpError(400, `unknown user ${id}`);
    return person;
  }

  #ensureChannel(id: string): { id: string; name: string } {
    const found = this.#deps.fakeSlack.store.resolveChannel(id);
    if (!found.ok) throw new HttpError(404, `no channel ${id}`);
    return { id: found.value.id, name: found.value.name };
  }

  #ephemeral(
    channel: string,
    user: string,
    text: string,
    extra: { blocks?: unknown[]; thread_ts?: string } = {},
  ): void {
    this.#deps.fakeSlack.store.postEphemeral({ channel, user, text, ...extra });
  }

  async #command(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parse(commandBody, await readJson(req));
    const person = this.#person(body.user);
    const channel = this.#ensureChannel(body.channel);
    const match = /^(\/\S+)\s*([\s\S]*)$/.exec(body.text);
    if (!match?.[1]) throw new HttpError(400, 'a command starts with a slash, such as /migrate help');
    const [command, text = ''] = [match[1], match[2]];
    if (command !== '/migrate') {
      this.#ephemeral(
        channel.id,
        person.id,
        `\`${command}\` is not a valid command. In this sandbox, the one installed app answers \`/migrate\`: try \`/migrate help\`.`,
      );
      json(res, 200, { ok: true, status: null });
      return;
    }
    const { fakeSlack, ferryUrl, signingSecret } = this.#deps;
    const team = fakeSlack.store.team;
    const sent = await this.#deliver(() =>
      sendSlashCommand(
        ferryUrl,
        signingSecret,
        {
          command,
          text: text.trim(),
          user_id: person.id,
          user_name: person.name,
          channel_id: channel.id,
          channel_name: channel.name,
          team_id: team.id,
          team_domain: team.domain,
          response_url: fakeSlack.responseUrlFor({ channel: channel.id, user: person.id }),
          trigger_id: fakeSlack.mintTriggerId(person.id),
          api_app_id: fakeSlack.store.bot.appId,
        },
        { timeoutMs: SLACK_ACK_TIMEOUT_MS },
      ),
    );
    if (!sent.ok) {
      this.#ephemeral(channel.id, person.id, `\`${command}\` failed with the error "${sent.error}"`);
      json(res, 200, { ok: false, status: sent.status, error: sent.error });
      return;
    }
    this.#showAck(sent.response, channel.id, person.id);
    json(res, 200, { ok: true, status: sent.response.status });
  }

  /** Slack shows a command's immediate answer (the ack body) to the person, or in the channel. */
  #showAck(response: SignedResponse, channel: string, user: string): void {
    const body = response.json;
    if (typeof body === 'object' && body !== null) {
      const reply = body as { text?: unknown; blocks?: unknown; response_type?: unknown };
      const text = typeof reply.text === 'string' ? reply.text : '';
      const blocks = Array.isArray(reply.blocks) ? (reply.blocks as unknown[]) : undefined;
      if (text === '' && !blocks) return;
      if (reply.response_type === 'in_channel') {
        this.#deps.fakeSlack.store.postMessage({ channel, text, ...(blocks ? { blocks } : {}) });
      } else {
        this.#ephemeral(channel, user, text, blocks ? { blocks } : {});
      }
      return;
    }
    if (response.text.trim() !== '') this.#ephemeral(channel, user, response.text.trim());
  }

  async #message(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parse(messageBody, await readJson(req));
    const person = this.#person(body.user);
    const channel = this.#ensureChannel(body.channel);
    const posted = this.#deps.fakeSlack.store.addUserMessage(
      channel.id,
      person.id,
      body.text,
      body.thread_ts ? { thread_ts: body.thread_ts } : {},
    );
    if (!posted.ok) throw new HttpError(400, posted.error);
    json(res, 200, { ok: true, ts: posted.value.ts });
  }

  async #action(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parse(actionBody, await readJson(req));
    const person = this.#person(body.user);
    const channel = this.#ensureChannel(body.channel);
    const { fakeSlack, ferryUrl, signingSecret } = this.#deps;
    const store = fakeSlack.store;
    const message: Pick<SlackMessage, 'ts' | 'text' | 'blocks' | 'thread_ts'> | undefined = body.ephemeral
      ? store.ephemeral(channel.id, body.ts)
      : store.message(channel.id, body.ts);
    if (!message) throw new HttpError(404, 'that message is gone');
    if (body.ephemeral && store.ephemeral(channel.id, body.ts)?.visible_to !== person.id) {
      throw new HttpError(403, 'that message is visible to someone else');
    }
    if (!hasElement(message.blocks, body.action_id, body.block_id)) {
      throw new HttpError(409, 'that button is no longer on the message');
    }
    const team = store.team;
    const payload = buildBlockActionPayload({
      user: { id: person.id, username: person.name, name: person.name, team_id: team.id },
      channel,
      message: {
        ts: message.ts,
        text: message.text,
        ...(message.blocks ? { blocks: message.blocks } : {}),
        ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}),
      },
      action: {
        action_id: body.action_id,
        ...(body.block_id !== undefined ? { block_id: body.block_id } : {}),
      },
      response_url: fakeSlack.responseUrlFor({ channel: channel.id, user: person.id, messageTs: message.ts }),
      trigger_id: fakeSlack.mintTriggerId(person.id),
      team: { id: team.id, domain: team.domain },
      api_app_id: store.bot.appId,
      is_ephemeral: body.ephemeral === true,
    });
    const sent = await this.#deliver(() =>
      sendBlockAction(ferryUrl, signingSecret, payload, { timeoutMs: SLACK_ACK_TIMEOUT_MS }),
    );
    if (!sent.ok) {
      this.#ephemeral(channel.id, person.id, `⚠️ Ferry did not acknowledge that click: ${sent.error}`, {
        ...(message.thread_ts ? { thread_ts: message.thread_ts } : {}),
      });
      json(res, 200, { ok: false, status: sent.status, error: sent.error });
      return;
    }
    json(res, 200, { ok: true, status: sent.response.status });
  }

  async #fault(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parse(faultBody, await readJson(req));
    const name = body.name;
    if (!isFaultName(name)) throw new HttpError(400, 'unknown fault');
    if (body.armed) this.#deps.faults.arm(name, body.count);
    else this.#deps.faults.disarm(name);
    this.#deps.log.info(
      { fault: name, armed: body.armed, count: body.count },
      `sandbox fault ${body.armed ? 'armed' : 'disarmed'}`,
    );
    json(res, 200, { ok: true, faults: this.#deps.faults.list() });
  }

  /**
   * The person opens Ferry's App Home tab: Slack sends `app_home_opened`, and Ferry answers by
   * publishing the tab (views.publish), which reaches the page as a `home_published` event.
   */
  async #home(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parse(homeBody, await readJson(req));
    const person = this.#person(body.user);
    const { fakeSlack, ferryUrl, signingSecret } = this.#deps;
    const store = fakeSlack.store;
    const envelope = buildEventEnvelope({
      team_id: store.team.id,
      api_app_id: store.bot.appId,
      event: {
        type: 'app_home_opened',
        user: person.id,
        channel: `D0${person.id.slice(1)}`,
        tab: 'home',
        event_ts: `${(Date.now() / 1000).toFixed(6)}`,
      },
    });
    const sent = await this.#deliver(() =>
      sendEvent(ferryUrl, signingSecret, envelope, { timeoutMs: SLACK_ACK_TIMEOUT_MS }),
    );
    json(res, 200, sent.ok ? { ok: true } : { ok: false, error: sent.error });
  }

  /**
   * The person submits a modal: Slack sends `view_submission` with the inputs' values, and Ferry's
   * answer decides what the page does (Slack's `response_action`): close it, show errors under the
   * inputs, or show the view it sends instead.
   */
  async #submitView(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = parse(viewBody, await readJson(req));
    const person = this.#person(body.user);
    const { fakeSlack, ferryUrl, signingSecret } = this.#deps;
    const store = fakeSlack.store;
    const view = store.view(body.view_id);
    if (!view || view.type !== 'modal') throw new HttpError(404, 'that modal is gone');
    if (view.user !== person.id) throw new HttpError(403, 'that modal was opened for someone else');
    const payload = buildViewSubmissionPayload({
      user: { id: person.id, username: person.name, name: person.name, team_id: store.team.id },
      view: {
        id: view.id,
        callback_id: view.callback_id,
        private_metadata: view.private_metadata,
        values: body.values,
        blocks: view.blocks,
        hash: view.hash,
      },
      trigger_id: fakeSlack.mintTriggerId(person.id),
      team: { id: store.team.id, domain: store.team.domain },
      api_app_id: store.bot.appId,
    });
    const sent = await this.#deliver(() =>
      sendInteraction(ferryUrl, signingSecret, payload, { timeoutMs: SLACK_ACK_TIMEOUT_MS }),
    );
    if (!sent.ok) {
      // Slack keeps the modal open and says it could not reach the app.
      json(res, 200, { ok: false, error: `We had some trouble connecting (${sent.error}). Try again?` });
      return;
    }
    const answer = sent.response.json as {
      response_action?: unknown;
      errors?: unknown;
      view?: unknown;
    } | null;
    const action = typeof answer === 'object' && answer !== null ? answer.response_action : undefined;
    if (action === 'errors' && typeof answer?.errors === 'object' && answer.errors !== null) {
      json(res, 200, { ok: true, action: 'errors', errors: answer.errors });
    } else if ((action === 'update' || action === 'push') && typeof answer?.view === 'object') {
      const updated = store.updateView(view.id, answer.view as Record<string, unknown>);
      json(res, 200, {
        ok: true,
        action: 'update',
        view: updated.ok ? viewForPage(updated.value) : undefined,
      });
    } else {
      json(res, 200, { ok: true, action: 'close' });
    }
  }

  /**
   * Reset the world: every page hears it first (and shows that the world is starting over), then,
   * once this answer is on its way, Ferry stops and starts again, closing every page's stream.
   */
  async #reset(req: IncomingMessage, res: ServerResponse): Promise<void> {
    await readJson(req);
    const reset = this.#deps.reset;
    if (!reset) {
      throw new HttpError(
        501,
        'This sandbox runs without Ferry, so there is nothing to start over: restart the process instead.',
      );
    }
    if (this.#resetting) {
      json(res, 409, {
        ok: false,
        error: 'The world is already being reset: the page reloads when it is back.',
      });
      return;
    }
    this.#resetting = true;
    this.#deps.log.info('sandbox console: Reset the world');
    this.#broadcast('reset', { session: this.#session });
    res.once('finish', () => reset());
    json(res, 202, { ok: true });
  }

  /** A file shared in the fake Slack, as its own page would show it: images inline, text as text. */
  #file(res: ServerResponse, id: string): void {
    const file = /^F[A-Z0-9]+$/.test(id) ? this.#deps.fakeSlack.store.file(id) : undefined;
    if (!file?.content) throw new HttpError(404, `no file ${id}`);
    const image = /^image\/(png|jpeg|gif)$/.test(file.mimetype);
    const text = /^text\/|^application\/json$/.test(file.mimetype);
    const type = image ? file.mimetype : text ? 'text/plain; charset=utf-8' : 'application/octet-stream';
    const name = file.name.replace(/[^\w.-]+/g, '_');
    res.writeHead(200, {
      'content-type': type,
      'content-disposition': `${image || text ? 'inline' : 'attachment'}; filename="${name}"`,
      'x-content-type-options': 'nosniff',
      // Whatever a file holds, it is never a page that runs scripts on the console's origin.
      'content-security-policy': "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
      'cache-control': 'no-store',
    });
    res.end(file.content);
  }

  /** Sends a signed request to Ferry; an error or a non-200 answer is what Slack would report. */
  async #deliver(
    send: () => Promise<SignedResponse>,
  ): Promise<{ ok: true; response: SignedResponse } | { ok: false; status: number | null; error: string }> {
    try {
      const response = await send();
      if (response.status === 200) return { ok: true, response };
      this.#deps.log.warn(
        { status: response.status, body: response.text.slice(0, 200) },
        'Ferry refused a console request',
      );
      return {
        ok: false,
        status: response.status,
        error: response.status === 401 ? 'invalid_signature' : 'dispatch_failed',
      };
    } catch (error) {
      const timeout =
        error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      this.#deps.log.warn({ err: error }, 'console request to Ferry failed');
      return { ok: false, status: null, error: timeout ? 'operation_timeout' : 'dispatch_failed' };
    }
  }
}

/** A message as the page gets it: files by name and address, without their bytes. */
function forPage<M extends object>(message: M): M | (Omit<M, 'files'> & { files: PageFile[] }) {
  const files = (message as { files?: SlackFile[] }).files;
  if (!files) return message;
  return {
    ...message,
    files: files.map(({ content: _content, ...file }) => ({
      ...file,
      url_private: `/sandbox/files/${file.id}`,
    })),
  };
}

type PageFile = Omit<SlackFile, 'content'> & { url_private: string };

/** A modal or Home tab as the page draws it: what Slack shows, without the bookkeeping. */
function viewForPage(view: SlackView | undefined): Record<string, unknown> | null {
  if (!view) return null;
  const { id, type, title, submit, close, blocks, hash } = view;
  return { id, type, title, submit, close, blocks, hash };
}

function hasElement(blocks: unknown[] | undefined, actionId: string, blockId: string | undefined): boolean {
  for (const block of blocks ?? []) {
    if (typeof block !== 'object' || block === null) continue;
    const b = block as { block_id?: unknown; elements?: unknown; accessory?: unknown };
    if (blockId !== undefined && b.block_id !== blockId) continue;
    const elements = [...(Array.isArray(b.elements) ? (b.elements as unknown[]) : []), b.accessory];
    if (
      elements.some(
        (e) => typeof e === 'object' && e !== null && (e as { action_id?: unknown }).action_id === actionId,
      )
    )
      return true;
  }
  return false;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function send(res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type'] ?? '';
  if (!type.toLowerCase().startsWith('application/json')) throw new HttpError(415, 'send JSON');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'request too large');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'the body is not JSON');
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new HttpError(
      400,
      parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
    );
  }
  return parsed.data;
}

const NO_TOKEN =
  "The sandbox console needs its token here, because Ferry listens beyond this machine's loopback (FERRY_HOST). Open the address Ferry printed at start, the one ending in ?token=…; a restart makes a new token unless FERRY_CONSOLE_TOKEN is set.";
const WRONG_TOKEN =
  "That is not this Ferry's console token. Open the address Ferry printed at its last start (each start makes a new token unless FERRY_CONSOLE_TOKEN is set).";

/** A refusal a person reads: plain text for a page, the console's JSON for its own calls. */
function refuse(res: ServerResponse, status: 401 | 403, page: boolean, line: string): void {
  if (!page) return json(res, status, { ok: false, error: line });
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`${line}\n`);
}

/**
 * One cookie per port as the browser sees it (Host), since cookies ignore ports: two sandboxes on
 * one machine would otherwise overwrite each other's.
 */
export function consoleCookieName(req: IncomingMessage): string {
  const port = /:(\d+)$/.exec(req.headers.host ?? '')?.[1] ?? '80';
  return `ferry_console_${port}`;
}

function readCookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

const loopbackHosts = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Why a request to the console does not come from a page on this machine, or null. */
export function foreignRequest(req: IncomingMessage): string | null {
  const host = req.headers.host ?? '';
  const hostname = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  if (!loopbackHosts.has(hostname)) return `the sandbox console answers only on localhost, not on "${host}"`;
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://${host}`) return `requests from ${origin} are not accepted`;
  return null;
}
