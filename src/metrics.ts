import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';

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
}
