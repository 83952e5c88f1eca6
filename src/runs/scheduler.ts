import cron, { type ScheduledTask } from 'node-cron';
import type { FerryError } from '../errors.ts';
import type { ScheduledStart } from '../store/scheduled-starts.ts';
import type { RunsDeps } from './deps.ts';
import { startDue } from './schedules.ts';

/**
 * Starts scheduled runs (`/migrate start … --at`) when they come due. The schedule lives in Postgres,
 * so a restart loses none; the tick only looks for what is due. Every replica ticks; the transaction
 * that creates the run marks the start 'started', so each starts once.
 */
export class Scheduler {
  private task: ScheduledTask | undefined;
  private readonly deps: RunsDeps;
  private readonly onFailure: (scheduled: ScheduledStart, error: FerryError) => Promise<void>;
  private readonly expression: string;

  constructor(options: {
    runs: RunsDeps;
    /** Tells the channel a scheduled start could not start, and why. */
    onFailure: (scheduled: ScheduledStart, error: FerryError) => Promise<void>;
    /** node-cron expression; seconds first. Default: every 5 seconds. */
    expression?: string;
  }) {
    this.deps = options.runs;
    this.onFailure = options.onFailure;
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

  /** One look for due starts; exported for tests, which should not wait for the clock. */
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
  }
}
