import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from 'pino';

export type WakeTopic = 'work' | 'publish';

/**
 * Wakes the executor and the Slack publisher the moment a decision commits (DESIGN.md: not on a
 * polling interval). In-process wake-ups are immediate; on Postgres a LISTEN connection carries
 * NOTIFYs from other replicas. Embedded PGlite has one process, so in-process is all there is.
 */
export class Waker {
  private readonly events = new EventEmitter();
  private listener: pg.Client | undefined;
  /** A wake-up that came while nobody waited is kept, so work done meanwhile is never slept over. */
  private readonly pending = new Set<WakeTopic>();

  constructor() {
    this.events.setMaxListeners(0);
  }

  async listen(url: string | undefined, log: Logger): Promise<void> {
    if (!url) return;
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
    client.on('notification', (msg) => {
      if (msg.channel === 'ferry_work' || msg.channel === 'ferry_publish') {
        this.notify(msg.channel === 'ferry_work' ? 'work' : 'publish');
      }
    });
    client.on('error', (error) =>
      log.warn({ err: error }, 'LISTEN connection lost; falling back to polling'),
    );
    await client.connect();
    await client.query('listen ferry_work');
    await client.query('listen ferry_publish');
    this.listener = client;
  }

  /** Wakes local waiters; other replicas hear it through the NOTIFY sent in the deciding transaction. */
  notify(topic: WakeTopic): void {
    if (this.events.listenerCount(topic) === 0) this.pending.add(topic);
    this.events.emit(topic);
  }

  /** Resolves on the next wake-up of `topic`, after `ms`, or when `signal` aborts. */
  wait(topic: WakeTopic, ms: number, signal: AbortSignal): Promise<void> {
    if (this.pending.delete(topic)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.events.off(topic, done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      this.events.once(topic, done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async close(): Promise<void> {
    await this.listener?.end().catch(() => undefined);
  }
}
