import cron, { type ScheduledTask } from 'node-cron';
import type { FerryError } from '../errors.ts';
import type { ScheduledStart } from '../store/scheduled-starts.ts';
import type { Words } from '../words.ts';
import type { RunsDeps } from './deps.ts';
import { remindDue, remindLocks } from './reminders.ts';
import { startDue } from './schedules.ts';

/**
 * The clock's work: starts scheduled runs (`/migrate start … --at`) when they come due, and reminds
 * people of approvals, Done waits and locks left standing. All of it lives in Postgres, so a restart
 * loses none; the tick only looks for what is due. Every replica ticks; each start and reminder is
 * claimed in a transaction, so it happens once.
 */
export class Scheduler {
  private task: ScheduledTask | undefined;
  private readonly deps: RunsDeps;
  private readonly onFailure: (scheduled: ScheduledStart, error: FerryError) => Promise<void>;
  private readonly tell: (channel: string, message: Words) => Promise<void>;
  private readonly expression: string;

  constructor(options: {
    runs: RunsDeps;
    /** Tells the channel a scheduled start could not start, and why. */
    onFailure: (scheduled: ScheduledStart, error: FerryError) => Promise<void>;
    /** Posts a message to a channel (a lock's reminder). */
    tell: (channel: string, message: Words) => Promise<void>;
    /** node-cron expression; seconds first. Default: every 5 seconds. */
    expression?: string;
  }) {
    this.deps = options.runs;
    this.onFailure = options.onFailure;
    this.tell = options.tell;
    this.expression = options.expression ?? '*/5 * * * * *';
  }

  start(): void {
    this.task ??= cron.schedule(this.expression, () => this.tick(), {
      noOverlap: true,
      name: 'ferry-scheduled-starts',
    });
  }

  async stop(): Promise<void> {
    await this.task?.destroy();
    this.task = undefined;
  }

  /** One look for what is due; exported for tests, which should not wait for the clock. */
  async tick(): Promise<void> {
    const log = this.deps.log.child({ component: 'scheduler' });
    try {
      for (const { scheduled, error } of await startDue(this.deps)) {
        log.warn({ scheduled: scheduled.id, reason: error.message }, 'scheduled start failed');
        await this.onFailure(scheduled, error).catch((failure: unknown) =>
          log.error({ err: failure, scheduled: scheduled.id }, 'could not tell the channel'),
        );
      }
    } catch (error) {
      log.error({ err: error }, 'looking for scheduled starts failed; will look again');
    }
    // Each on its own: a failure of one leaves the others to do their work.
    await remindDue(this.deps).catch((error: unknown) =>
      log.error({ err: error }, 'reminding of approvals failed; will try again'),
    );
    await remindLocks(this.deps, this.tell).catch((error: unknown) =>
      log.error({ err: error }, 'reminding of locks failed; will try again'),
    );
  }
}
