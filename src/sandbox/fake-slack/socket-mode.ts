import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { applyResponse, type ResponseTarget } from './response-urls.ts';
import type { SlackStore } from './store.ts';
import type { ApiArgs, Clock } from './types.ts';

// Slack's Socket Mode (reference/slack.md §4): `apps.connections.open`, called with the app-level
// token, hands out a WebSocket URL that works once. On it Slack first says `hello`, then sends each
// payload in an envelope (`envelope_id`, `type`, `payload`, `accepts_response_payload`), expects an
// ack naming the envelope_id (with a response payload where accepted), and asks the client to
// reconnect with a `disconnect` message (`warning` shortly before `refresh_requested`).
// @slack/socket-mode's client, which Bolt uses, is what this has to satisfy.

export type EnvelopeType = 'slash_commands' | 'interactive' | 'events_api';
export type DisconnectReason = 'warning' | 'refresh_requested' | 'link_disabled';

/** One envelope as it goes on the wire. */
export interface Envelope {
  envelope_id: string;
  type: EnvelopeType;
  payload: Record<string, unknown>;
  accepts_response_payload: boolean;
  /** Events only: how many times Slack sent it before, and why. */
  retry_attempt?: number;
  retry_reason?: string;
}

export interface EnvelopeAck {
  envelope_id: string;
  /** What the app answered with (a slash command's ephemeral reply), if anything. */
  payload: Record<string, unknown> | undefined;
  at: number;
}

export interface DeliverOptions {
  /**
   * The ack is lost: when it arrives the fake ignores it and cuts the connection, as if the link
   * died with the ack on the wire. The app acted; Slack never heard.
   */
  loseAck?: boolean;
  /**
   * When the connection closes before the ack, send the envelope again on the next connection
   * (`retry_attempt` + 1, `retry_reason: 'timeout'`). Default: events only, which Slack retries; on
   * for another type, it is the worst case a test may want (the same click arriving twice).
   */
  retryUnacked?: boolean;
  /** Where a response payload in the ack lands (a slash command's channel and person). */
  respondTo?: ResponseTarget;
}

export interface Delivery {
  envelopeId: string;
  /** The ack the fake took (after any redelivery); rejects when the envelope will not be sent again. */
  acked: Promise<EnvelopeAck>;
}

/** What the fake records of the socket, as pseudo-methods in FakeSlack's `calls`. */
export type SocketRecord = (method: string, args: ApiArgs, status?: number) => void;

interface Link {
  id: number;
  ws: WebSocket;
  socket: Duplex;
  openedAt: number;
}

interface Pending {
  envelope: Envelope;
  options: DeliverOptions;
  /** The link it was last sent on; undefined while it waits for a connection. */
  link: number | undefined;
  resolve: (ack: EnvelopeAck) => void;
  reject: (error: Error) => void;
}

interface Held {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
}

export interface SocketModeServerOptions {
  clock: Clock;
  store: SlackStore;
  appId: string;
  /** Mount point of the link route, as FakeSlack's other routes. */
  pathPrefix: string;
  record: SocketRecord;
}

/** How long after a `refresh_requested` or `link_disabled` the fake closes a link the client kept. */
const CLOSE_AFTER_DISCONNECT_MS = 1_000;

export class SocketModeServer {
  readonly #options: SocketModeServerOptions;
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #tickets = new Set<string>();
  readonly #links = new Map<number, Link>();
  readonly #pending = new Map<string, Pending>();
  readonly #acks: EnvelopeAck[] = [];
  #held: Held[] = [];
  #silent = false;
  #nextLink = 1;

  constructor(options: SocketModeServerOptions) {
    this.#options = options;
  }

  /** A single-use link URL, as `apps.connections.open` returns (`baseUrl` is the fake's http URL). */
  openUrl(baseUrl: string): string {
    const ticket = randomBytes(16).toString('hex');
    this.#tickets.add(ticket);
    const ws = baseUrl.replace(/^http/, 'ws');
    return `${ws}${this.#options.pathPrefix}/link/?ticket=${ticket}&app_id=${this.#options.appId}`;
  }

  /** Open connections (the client's, as Slack counts them in `num_connections`). */
  get connections(): number {
    return this.#links.size;
  }

  /** Every ack taken, in order. */
  get acks(): readonly EnvelopeAck[] {
    return this.#acks;
  }

  /** Envelopes sent or waiting to be, without an ack yet. */
  get unacked(): Envelope[] {
    return [...this.#pending.values()].map((p) => p.envelope);
  }

  /**
   * Takes over an HTTP upgrade for `{prefix}/link/`; returns false, touching nothing, for any other
   * path. A ticket that is unknown or used already is refused with 401.
   */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean {
    const url = new URL(req.url ?? '/', 'http://fake-slack.invalid');
    const prefix = this.#options.pathPrefix;
    if (!url.pathname.startsWith(prefix) || !/^\/link\/?$/.test(url.pathname.slice(prefix.length)))
      return false;
    if (this.#silent) {
      // Not answering: the upgrade waits, as one to a host that has stopped responding.
      this.#held.push({ req, socket, head });
      return true;
    }
    const ticket = url.searchParams.get('ticket') ?? '';
    if (!this.#tickets.delete(ticket)) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      this.#options.record('socket_mode_connect', { ticket }, 401);
      return true;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#open(ws, socket));
    return true;
  }

  /** Sends a slash command (the fields Slack would post as a form) in a `slash_commands` envelope. */
  sendSlashCommand(fields: Record<string, string>, options: DeliverOptions = {}): Delivery {
    const respondTo =
      options.respondTo ??
      (fields.channel_id && fields.user_id
        ? { channel: fields.channel_id, user: fields.user_id }
        : undefined);
    return this.deliver('slash_commands', fields, { ...options, ...(respondTo ? { respondTo } : {}) });
  }

  /** Sends an interactive payload (a block action, a view submission) in an `interactive` envelope. */
  sendInteraction(payload: Record<string, unknown>, options: DeliverOptions = {}): Delivery {
    return this.deliver('interactive', payload, options);
  }

  /**
   * Sends `payload` to one open connection (the newest, as Slack picks any one), or to the next that
   * opens when there is none.
   */
  deliver(type: EnvelopeType, payload: Record<string, unknown>, options: DeliverOptions = {}): Delivery {
    const envelope: Envelope = {
      envelope_id: randomUUID(),
      type,
      payload,
      // Slack takes a reply in the ack for commands (and options loads), not for clicks or events.
      accepts_response_payload: type === 'slash_commands',
      ...(type === 'events_api' ? { retry_attempt: 0, retry_reason: '' } : {}),
    };
    let resolve!: (ack: EnvelopeAck) => void;
    let reject!: (error: Error) => void;
    const acked = new Promise<EnvelopeAck>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    // A test that never awaits the ack must not see an unhandled rejection.
    acked.catch(() => undefined);
    const pending: Pending = { envelope, options, link: undefined, resolve, reject };
    this.#pending.set(envelope.envelope_id, pending);
    this.#send(pending);
    return { envelopeId: envelope.envelope_id, acked };
  }

  /**
   * Sends `disconnect` with `reason` on every open connection. For `refresh_requested` and
   * `link_disabled` the fake then closes each connection the client has not closed within 1 s.
   */
  disconnect(reason: DisconnectReason): void {
    for (const link of this.#links.values()) {
      this.#write(link, { type: 'disconnect', reason, debug_info: { host: 'fake-slack' } });
      this.#options.record('socket_mode_disconnect', { link: link.id, reason });
      if (reason !== 'warning') {
        setTimeout(() => {
          if (this.#links.has(link.id)) link.ws.close(1000, reason);
        }, CLOSE_AFTER_DISCONNECT_MS).unref();
      }
    }
  }

  /**
   * Stops answering: open connections read nothing more (no pong, no ack, no reply to a close),
   * upgrades wait unanswered, and envelopes wait. The TCP connections stay open, so only the
   * client's own heartbeat can tell. `resumeAnswering` undoes it.
   */
  stopAnswering(): void {
    this.#silent = true;
    for (const link of this.#links.values()) link.socket.pause();
    this.#options.record('socket_mode_silent', { connections: this.#links.size });
  }

  resumeAnswering(): void {
    if (!this.#silent) return;
    this.#silent = false;
    this.#options.record('socket_mode_answering', { connections: this.#links.size });
    for (const link of this.#links.values()) link.socket.resume();
    const held = this.#held;
    this.#held = [];
    for (const h of held) {
      if (h.socket.destroyed) continue;
      if (!this.handleUpgrade(h.req, h.socket, h.head)) h.socket.destroy();
    }
    for (const pending of this.#pending.values()) if (pending.link === undefined) this.#send(pending);
  }

  /** Closes every connection at once, without a close handshake (a dropped link). */
  dropConnections(): void {
    for (const link of this.#links.values()) link.ws.terminate();
  }

  async close(): Promise<void> {
    for (const h of this.#held) h.socket.destroy();
    this.#held = [];
    for (const link of this.#links.values()) link.ws.terminate();
    for (const pending of this.#pending.values()) pending.reject(new Error('the fake Slack closed'));
    this.#pending.clear();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
  }

  #open(ws: WebSocket, socket: Duplex): void {
    const link: Link = { id: this.#nextLink++, ws, socket, openedAt: this.#options.clock() };
    this.#links.set(link.id, link);
    ws.on('message', (data, isBinary) => this.#onMessage(link, data, isBinary));
    ws.on('close', () => this.#onClose(link));
    ws.on('error', () => ws.terminate());
    this.#options.record('socket_mode_connect', { link: link.id, num_connections: this.#links.size }, 101);
    this.#write(link, {
      type: 'hello',
      num_connections: this.#links.size,
      debug_info: { host: 'fake-slack', build_number: 1, approximate_connection_time: 18_060 },
      connection_info: { app_id: this.#options.appId },
    });
    for (const pending of this.#pending.values()) if (pending.link === undefined) this.#send(pending);
  }

  #send(pending: Pending): void {
    if (this.#silent) return;
    const link = [...this.#links.values()].filter((l) => l.ws.readyState === l.ws.OPEN).at(-1);
    if (!link) return;
    pending.link = link.id;
    this.#write(link, pending.envelope);
    this.#options.record('socket_mode_envelope', {
      link: link.id,
      envelope_id: pending.envelope.envelope_id,
      type: pending.envelope.type,
      ...(pending.envelope.retry_attempt ? { retry_attempt: pending.envelope.retry_attempt } : {}),
    });
  }

  #write(link: Link, message: unknown): void {
    link.ws.send(JSON.stringify(message));
  }

  #onMessage(link: Link, data: RawData, isBinary: boolean): void {
    if (isBinary) return;
    let message: unknown;
    try {
      const text = Array.isArray(data)
        ? Buffer.concat(data).toString('utf8')
        : (Buffer.isBuffer(data) ? data : Buffer.from(new Uint8Array(data))).toString('utf8');
      message = JSON.parse(text);
    } catch {
      this.#options.record('socket_mode_ack', { link: link.id, error: 'invalid_json' }, 400);
      return;
    }
    const { envelope_id: id, payload } = (message ?? {}) as { envelope_id?: unknown; payload?: unknown };
    if (typeof id !== 'string') {
      this.#options.record('socket_mode_ack', { link: link.id, error: 'no_envelope_id' }, 400);
      return;
    }
    const pending = this.#pending.get(id);
    if (!pending) {
      this.#options.record(
        'socket_mode_ack',
        { link: link.id, envelope_id: id, error: 'unknown_envelope' },
        404,
      );
      return;
    }
    if (pending.options.loseAck) {
      // Lost once: the redelivery (if any) is acked as usual.
      pending.options = { ...pending.options, loseAck: false };
      this.#options.record('socket_mode_ack', { link: link.id, envelope_id: id, lost: true }, 0);
      link.ws.terminate();
      return;
    }
    const body =
      typeof payload === 'object' && payload !== null && !Array.isArray(payload)
        ? (payload as Record<string, unknown>)
        : undefined;
    const ack: EnvelopeAck = { envelope_id: id, payload: body, at: this.#options.clock() };
    this.#pending.delete(id);
    this.#acks.push(ack);
    this.#options.record('socket_mode_ack', {
      link: link.id,
      envelope_id: id,
      ...(body && Object.keys(body).length > 0 ? { payload: body } : {}),
    });
    // As Slack does with a reply in the ack: the command's person sees it (ephemeral by default).
    if (body && Object.keys(body).length > 0 && pending.envelope.accepts_response_payload) {
      const target = pending.options.respondTo;
      if (target) applyResponse(this.#options.store, target, body);
    }
    pending.resolve(ack);
  }

  #onClose(link: Link): void {
    this.#links.delete(link.id);
    this.#options.record('socket_mode_close', { link: link.id, num_connections: this.#links.size });
    for (const [id, pending] of this.#pending) {
      if (pending.link !== link.id) continue;
      const retry = pending.options.retryUnacked ?? pending.envelope.type === 'events_api';
      if (!retry) {
        this.#pending.delete(id);
        pending.reject(new Error(`connection closed before envelope ${id} was acknowledged`));
        continue;
      }
      pending.link = undefined;
      pending.envelope = {
        ...pending.envelope,
        retry_attempt: (pending.envelope.retry_attempt ?? 0) + 1,
        retry_reason: 'timeout',
      };
      this.#send(pending);
    }
  }
}
