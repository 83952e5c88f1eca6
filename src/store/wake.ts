import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Database } from './db.ts';

export type WakeTopic = 'work' | 'publish';

/**
 * Wakes the executor and the Slack publisher the moment a decision commits, rather than on a
 * polling interval. In-process wake-ups are immediate; on Postgres a LISTEN connection carries
 * NOTIFYs from other replicas. Embedded PGlite has one process, so in-process is all there is.
 */
export class Waker {
  /** What the LISTEN connection calls itself in pg_stat_activity: one per process. */
  readonly applicationName = `ferry-listen-${randomUUID().slice(0, 8)}`;
  private readonly events = new EventEmitter();
  private listener: pg.Client | undefined;
  private closed = false;
  /** A wake-up that came while nobody waited is kept, so work done meanwhile is never slept over. */
  private readonly pending = new Set<WakeTopic>();

  constructor() {
    this.events.setMaxListeners(0);
  }

  async listen(url: string | undefined, log: Logger, attempt = 0): Promise<void> {
    if (!url || this.closed) return;
    const client = new pg.Client({
      connectionString: url,
      connectionTimeoutMillis: 5_000,
      application_name: this.applicationName,
    });
    client.on('notification', (msg) => {
      // This process's own announcements woke its waiters already, as they were sent.
      if (msg.payload === this.applicationName) return;
      if (msg.channel === 'ferry_work' || msg.channel === 'ferry_publish') {
        this.notify(msg.channel === 'ferry_work' ? 'work' : 'publish');
      }
    });
    let lost = false;
    const reconnect = (error?: Error) => {
      if (lost || this.closed) return;
      lost = true;
      const delay = Math.min(1_000 * 2 ** attempt, 30_000);
      log.warn({ err: error, retryInMs: delay }, 'LISTEN connection lost; polling until it is back');
      client.end().catch(() => undefined);
      // Work committed while nobody listened is found by the next claim.
      this.notify('work');
      this.notify('publish');
      setTimeout(() => void this.listen(url, log, attempt + 1).catch(() => reconnect()), delay).unref();
    };
    client.on('error', reconnect);
    client.on('end', () => reconnect());
    try {
      await client.connect();
      await client.query('listen ferry_work');
      await client.query('listen ferry_publish');
    } catch (error) {
      if (attempt === 0) throw error;
      reconnect(error as Error);
      return;
    }
    this.listener = client;
    attempt = 0;
  }

  /**
   * After a commit: tells every replica (NOTIFY, heard by their LISTEN connections) and this process
   * that there is work or something to publish. Sent after the commit, never inside it: a replica
   * woken early would find nothing yet.
   */
  async announce(db: Database, ...topics: WakeTopic[]): Promise<void> {
    for (const topic of topics) this.notify(topic);
    if (db.listenUrl)
      await db.pool.query(`select ${topics.map((t) => `pg_notify('ferry_${t}', $1)`).join(', ')}`, [
        this.applicationName,
      ]);
  }

  /** Wakes local waiters; other replicas hear the NOTIFY sent once the deciding transaction has committed. */
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
    this.closed = true;
    await this.listener?.end().catch(() => undefined);
  }
}
