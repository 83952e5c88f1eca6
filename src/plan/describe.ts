import { formatDuration } from '../duration.ts';
import { redactUrl } from '../redact.ts';
import type { Check, StepSpec } from './schema.ts';

/**
 * One line per step from the plan alone (no I/O), for the status message. The dry run
 * (`/migrate plan`) replaces it with what the adapters read from the live systems.
 */
export function stepTitle(step: StepSpec): string {
  switch (step.kind) {
    case 'maintenance':
    case 'flag': {
      const p = step.provider;
      const target =
        p.type === 'http' ? redactUrl(p.url) : p.type === 'redis' ? `${p.key} in Redis` : `Heroku ${p.app}`;
      return `${step.kind} ${step.action}: ${target}`;
    }
    case 'crons': {
      const p = step.provider;
      const what =
        p.type === 'sidekiq-cron'
          ? `sidekiq-cron ${p.jobs === 'all' ? 'jobs' : p.jobs.join(', ')}`
          : p.type === 'kubernetes'
            ? `CronJobs in ${p.namespace}`
            : `${p.app} ${p.process_types.join(', ')}`;
      return `${step.action} ${what}`;
    }
    case 'jobs': {
      const p = step.provider;
      return `${step.action} ${p.type === 'sidekiq' ? 'Sidekiq processes' : `${p.app} ${p.process_types.join(', ')}`}`;
    }
    case 'dns':
      return `${step.provider.record} ${step.provider.record_type} -> ${step.provider.value} (TTL ${step.provider.ttl})`;
    case 'drain':
      return `drain Sidekiq queues (${step.provider.queues === 'all' ? 'all' : step.provider.queues.join(', ')})`;
    case 'check':
      return step.checks.map(checkTitle).join('; ');
    case 'env-diff':
      return `compare config: Heroku ${step.source.app} vs ${step.target.type === 'file' ? step.target.path : 'Qovery'}`;
    case 'manual':
      return step.instructions;
    case 'watch': {
      const what = [
        ...(step.checks ?? []).map(checkTitle),
        ...(step.prometheus?.queries ?? []).map((q) => `${q.name} from Prometheus`),
      ];
      return `watch for ${formatDuration(step.for)}, every ${formatDuration(step.every)}: ${what.join('; ')}`;
    }
  }
}

function checkTitle(check: Check): string {
  if ('http' in check) return `GET ${redactUrl(check.http.url)} expects ${check.http.expect_status}`;
  const [kind, spec] = 'postgres' in check ? ['postgres', check.postgres] : ['redis', check.redis];
  return `${kind} latency over ${spec.samples} samples${spec.max_p95_ms ? `, p95 ≤ ${spec.max_p95_ms} ms` : ''}`;
}

const opposite: Record<string, string> = { off: 'on', enable: 'disable', resume: 'pause' };

/**
 * The earlier step a closing step answers: maintenance off after maintenance on, enable crons after
 * disable crons, resume jobs after pause. A dry run cannot read what the closing step will find
 * (the opening step has not run yet), so it says what it pairs with instead.
 */
export function openingStep(steps: readonly StepSpec[], index: number): StepSpec | undefined {
  const step = steps[index];
  if (!step || !('action' in step)) return undefined;
  const opens = opposite[step.action];
  if (!opens) return undefined;
  return steps
    .slice(0, index)
    .reverse()
    .find(
      (s) =>
        s.kind === step.kind &&
        'action' in s &&
        s.action === opens &&
        'provider' in s &&
        'provider' in step &&
        JSON.stringify(s.provider) === JSON.stringify(step.provider),
    );
}
