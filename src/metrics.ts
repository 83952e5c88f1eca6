import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

/** What Socket Mode's link reports (slack/socket-mode.ts), read at each scrape. */
export interface SlackSocketReadings {
  connected: boolean;
  /** When Slack last sent an envelope, or the hello that opened the connection (ms since the epoch). */
  lastEnvelopeAt: number | undefined;
  /** Connections opened after the first. */
  reconnects: number;
}

/** What operators graph and alert on, served at GET /metrics. */
export class FerryMetrics {
  readonly registry = new Registry();
  readonly stepAttempts = new Counter({
    name: 'ferry_step_attempts_total',
    help: 'Step attempts finished, by kind, direction (do or undo) and outcome (succeeded, retrying, failed, cancelled by an abort, handed_back at shutdown).',
    labelNames: ['kind', 'direction', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly stepSeconds = new Counter({
    name: 'ferry_step_seconds_total',
    help: 'Seconds spent in step attempts, by kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly activeRuns: Gauge;

  constructor(countActiveRuns: () => Promise<number>) {
    collectDefaultMetrics({ register: this.registry });
    this.activeRuns = new Gauge({
      name: 'ferry_active_runs',
      help: 'Runs not yet succeeded, rolled back or aborted.',
      registers: [this.registry],
      async collect() {
        this.set(await countActiveRuns());
      },
    });
  }

  /**
   * Socket Mode only: is the bot listening? Whether the link to Slack is up, how long since Slack
   * last sent anything on it, and how often it was opened again.
   */
  watchSlackSocket(read: () => SlackSocketReadings, now: () => number): void {
    new Gauge({
      name: 'ferry_slack_socket_connected',
      help: 'Socket Mode: 1 while the WebSocket to Slack is open (Slack said hello), else 0.',
      registers: [this.registry],
      collect() {
        this.set(read().connected ? 1 : 0);
      },
    });
    new Gauge({
      name: 'ferry_slack_socket_last_envelope_age_seconds',
      help: 'Socket Mode: seconds since Slack last sent an envelope (a command, a click, an event) or the hello that opens a connection. Slack refreshes connections every few hours, so on a healthy link it stays below that even when nobody uses Ferry.',
      registers: [this.registry],
      collect() {
        const at = read().lastEnvelopeAt;
        this.set(at === undefined ? Number.NaN : Math.max(0, (now() - at) / 1000));
      },
    });
    let counted = 0;
    new Counter({
      name: 'ferry_slack_socket_reconnects_total',
      help: "Socket Mode: connections to Slack opened again after one ended (Slack's refreshes included).",
      registers: [this.registry],
      collect() {
        const { reconnects } = read();
        if (reconnects > counted) this.inc(reconnects - counted);
        counted = Math.max(counted, reconnects);
      },
    });
  }
}
