import type { SocketModeReceiver } from '@slack/bolt';
import type { Logger } from 'pino';

// Is the bot listening? In Socket Mode Slack reaches Ferry only through one WebSocket, which can
// die without a sound (a load balancer dropping it, a host that stops answering). This keeps the
// link open and says how it is: Bolt's client is told not to reconnect by itself (a reconnect that
// fails there ends as an unhandled rejection, which stops the process), so this reconnects it, with
// backoff, and counts; /readyz turns not ready once the link has been down too long, and /metrics
// shows how long since Slack last sent anything and how often the link was opened again.

type SocketModeClient = SocketModeReceiver['client'];

/** What the link reports, read at each scrape and readiness probe. */
export interface SocketModeReadings {
  /** Slack said hello on the current connection and it is still open. */
  connected: boolean;
  /** Since when the link is down (ms since the epoch); undefined while connected. */
  downSince: number | undefined;
  /** When Slack last sent an envelope, or the hello that opened the connection. */
  lastEnvelopeAt: number | undefined;
  /** Connections opened after the first (Slack's regular refreshes included). */
  reconnects: number;
}

export interface SocketReadiness {
  ready: boolean;
  /** For /readyz's body: "connected", or how long it has been down and what happens next. */
  state: string;
}

/** The undici WebSocket's OPEN. */
const OPEN = 1;
/** A connection that ends sooner than this counts as a failed attempt (Slack turning it away). */
const SHORT_LIVED_MS = 10_000;
const MAX_BACKOFF_MS = 30_000;

export class SocketModeLink {
  readonly #client: SocketModeClient;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #watch: NodeJS.Timeout;
  #connected = false;
  #connectedAt: number | undefined;
  #everConnected = false;
  #downSince: number | undefined;
  #lastEnvelopeAt: number | undefined;
  #reconnects = 0;
  /** Attempts that failed, or connections that did not last, in a row: the backoff's exponent. */
  #failures = 0;
  #attempting = false;
  #stopped = false;
  #retry: NodeJS.Timeout | undefined;

  constructor(client: SocketModeClient, options: { log: Logger; now: () => number }) {
    this.#client = client;
    this.#log = options.log;
    this.#now = options.now;
    this.#downSince = this.#now();
    client.on('connected', () => this.#onConnected());
    client.on('slack_event', () => {
      this.#lastEnvelopeAt = this.#now();
    });
    client.on('disconnected', () => this.#onDisconnected());
    // Only `disconnect()` (Ferry stopping, through app.stop()) says this: no reconnecting after it.
    client.on('disconnecting', () => {
      this.#stopped = true;
      clearTimeout(this.#retry);
      clearInterval(this.#watch);
    });
    // The client's own heartbeat closes a link that stopped answering pongs, but then waits for the
    // close handshake (up to 30 s) before it says so: the socket's state tells at once.
    this.#watch = setInterval(() => this.#sample(), 1_000);
    this.#watch.unref();
  }

  readings(): SocketModeReadings {
    this.#sample();
    return {
      connected: this.#downSince === undefined,
      downSince: this.#downSince,
      lastEnvelopeAt: this.#lastEnvelopeAt,
      reconnects: this.#reconnects,
    };
  }

  /** Not ready once the link has been down longer than `limitMs` (FERRY_SOCKET_DOWN_READY_SECONDS). */
  readiness(limitMs: number): SocketReadiness {
    const { downSince } = this.readings();
    if (downSince === undefined) return { ready: true, state: 'connected' };
    const downMs = Math.max(0, this.#now() - downSince);
    const seconds = Math.round(downMs / 1000);
    const limit = Math.round(limitMs / 1000);
    return downMs > limitMs
      ? {
          ready: false,
          state: `down for ${seconds} s, longer than ${limit} s (FERRY_SOCKET_DOWN_READY_SECONDS): Slack cannot reach this process; restart it to open a new connection`,
        }
      : { ready: true, state: `down for ${seconds} s, reconnecting (not ready after ${limit} s)` };
  }

  #sample(): void {
    const open = this.#connected && this.#client.websocket?.readyState === OPEN;
    if (open) this.#downSince = undefined;
    else this.#downSince ??= this.#now();
  }

  #onConnected(): void {
    const now = this.#now();
    if (this.#everConnected) {
      this.#reconnects += 1;
      this.#log.info({ reconnects: this.#reconnects }, 'Socket Mode: connected to Slack again');
    }
    this.#everConnected = true;
    this.#connected = true;
    this.#connectedAt = now;
    this.#lastEnvelopeAt = now;
    this.#downSince = undefined;
  }

  #onDisconnected(): void {
    const now = this.#now();
    const lasted = this.#connected && this.#connectedAt !== undefined ? now - this.#connectedAt : 0;
    this.#connected = false;
    this.#downSince ??= now;
    // Before the first connection the caller of app.start() decides; an attempt in flight says for itself.
    if (this.#stopped || !this.#everConnected || this.#attempting) return;
    this.#failures = lasted >= SHORT_LIVED_MS ? 0 : this.#failures + 1;
    this.#schedule();
  }

  #schedule(): void {
    clearTimeout(this.#retry);
    const delayMs = this.#failures === 0 ? 0 : Math.min(MAX_BACKOFF_MS, 1_000 * 2 ** (this.#failures - 1));
    this.#retry = setTimeout(() => void this.#reconnect(), delayMs);
    this.#retry.unref();
  }

  async #reconnect(): Promise<void> {
    if (this.#stopped) return;
    this.#attempting = true;
    let failed: unknown;
    try {
      await this.#client.start();
    } catch (error) {
      failed = error ?? new Error('the connection closed before Slack said hello');
    } finally {
      this.#attempting = false;
    }
    if (failed === undefined || this.#stopped) return;
    this.#failures += 1;
    this.#log.warn(
      { err: failed, attempt: this.#failures },
      'Socket Mode: reconnecting to Slack failed; trying again',
    );
    this.#schedule();
  }
}
