import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { newTarget, ZONE_ID } from './world.ts';

// Plans for drill runs, each on its own service so runs in parallel change different things. Every
// step that changes something is reversible and talks to a fake in DrillWorld; the cutover waits
// for Bob's approval.

export type PlanShape =
  /** Maintenance on, crons off, DNS cutover (approved), a health check, crons on, maintenance off. */
  | 'full'
  /** Maintenance on, crons off, DNS cutover (approved), then a manual step: where a drill rolls back. */
  | 'until-manual'
  /** Maintenance on, then off: two quick reversible steps. */
  | 'toggle'
  /** Maintenance on, an approved maintenance flag, maintenance off. */
  | 'approved-toggle';

export function planYaml(service: string, shape: PlanShape): string {
  const maintenance = (id: string, action: 'on' | 'off', app = service) =>
    `      - { id: ${id}, kind: maintenance, action: ${action}, provider: { type: http, url: "\${DRILL_MAINTENANCE_URL}/${app}", token: "\${DRILL_MAINTENANCE_TOKEN}" } }`;
  const crons = (id: string, action: 'disable' | 'enable') =>
    `      - { id: ${id}, kind: crons, action: ${action}, provider: { type: heroku-formation, app: ${service}, process_types: [clock] } }`;
  const cutover = `      - { id: cutover, kind: dns, approval: required, provider: { type: route53, hosted_zone_id: ${ZONE_ID}, record: ${service}.drill.example.com., record_type: CNAME, value: ${newTarget(service)}, ttl: 60 } }`;
  const smoke = `      - { id: smoke, kind: check, checks: [ { http: { url: "\${DRILL_HEALTH_URL}/${service}" } } ] }`;
  const manual = `      - { id: verify, kind: manual, instructions: "Compare the dashboards, then press Done." }`;
  const steps: Record<PlanShape, string[]> = {
    full: [
      maintenance('maintenance-on', 'on'),
      crons('crons-disable', 'disable'),
      cutover,
      smoke,
      crons('crons-enable', 'enable'),
      maintenance('maintenance-off', 'off'),
    ],
    'until-manual': [maintenance('maintenance-on', 'on'), crons('crons-disable', 'disable'), cutover, manual],
    toggle: [maintenance('maintenance-on', 'on'), maintenance('maintenance-off', 'off')],
    'approved-toggle': [
      maintenance('maintenance-on', 'on'),
      `      - { id: flag-on, kind: flag, action: on, approval: required, provider: { type: http, url: "\${DRILL_MAINTENANCE_URL}/${service}-flag", token: "\${DRILL_MAINTENANCE_TOKEN}" } }`,
      maintenance('maintenance-off', 'off'),
    ],
  };
  return [
    `service: ${service}`,
    'approvers: { users: [U02BOB] }',
    'environments:',
    '  staging:',
    '    steps:',
    ...steps[shape],
    '',
  ].join('\n');
}

/** Writes plans into a fresh temporary folder (FERRY_PLANS) and returns it. */
export async function writePlans(plans: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-drill-plans-'));
  for (const [name, yaml] of Object.entries(plans)) await writeFile(path.join(dir, `${name}.yml`), yaml);
  return dir;
}

/** What every drill's Ferry shares: Slack mode on Postgres, short leases, no pacing of edits. */
export function baseFerryEnv(options: {
  pgUrl: string;
  schema: string;
  plansDir: string;
  /** Attempt (and publisher) leases; null leaves Ferry's default. Default 5 s. */
  leaseSeconds?: number | null;
}): Record<string, string> {
  const lease = options.leaseSeconds === undefined ? 5 : options.leaseSeconds;
  return {
    DATABASE_URL: options.pgUrl,
    FERRY_DB_SCHEMA: options.schema,
    FERRY_PLANS: options.plansDir,
    ...(lease === null ? {} : { FERRY_LEASE_SECONDS: String(lease) }),
    FERRY_SHUTDOWN_GRACE_SECONDS: '0',
    FERRY_POLL_INTERVAL_MS: '50',
    FERRY_HTTP_TIMEOUT_MS: '5000',
    FERRY_SLACK_MIN_EDIT_INTERVAL_MS: '0',
    FERRY_SLACK_EDITS_PER_MINUTE: '100000',
    PORT: '0',
    FERRY_HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
  };
}
