import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { RunService } from '../runs/service.ts';
import type { ScheduledStart } from '../store/scheduled-starts.ts';

/**
 * Starts scheduled runs (`/migrate start … --at`) when they come due. The schedule lives in Postgres,
 * so a restart loses none; the tick only looks for what is due.
 */
export class Scheduler {
  private task: ScheduledTask | undefined;
  private readonly runs: RunService;
  private readonly log: Logger;
  private readonly onFailure: (scheduled: ScheduledStart, message: string) => Promise<void>;
  private readonly expression: string;

  constructor(deps: {
    runs: RunService;
    log: Logger;
    /** Tells the channel a scheduled start could not start, and why. */
    onFailure: (scheduled: ScheduledStart, message: string) => Promise<void>;
    /** node-cron expression; seconds first. Default: every 5 seconds. */
    expression?: string;
  }) {
    this.runs = deps.runs;
    this.log = deps.log;
    this.onFailure = deps.onFailure;
    this.expression = deps.expression ?? '*/5 * * * * *';
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
    try {
      for (const { scheduled, message } of await this.runs.startDue()) {
        this.log.warn({ scheduled: scheduled.id, reason: message }, 'scheduled start failed');
        await this.onFailure(scheduled, message).catch((error: unknown) =>
          this.log.error({ err: error, scheduled: scheduled.id }, 'could not tell the channel'),
        );
      }
    } catch (error) {
      this.log.error({ err: error }, 'looking for scheduled starts failed; will look again');
    }
  }
}
