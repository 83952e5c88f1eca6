import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ZONE_ID, recordName } from './world.ts';

// Plans for the benchmark's runs. Every step talks to BenchWorld: maintenance and flags through the
// `http` protocol (answered at once), cutovers through Route 53. Alice starts, Bob approves.

export const ALICE = 'U01ALICE';
export const BOB = 'U02BOB';

export type StepSpec =
  | { kind: 'maintenance' | 'flag'; id: string; action: 'on' | 'off'; approval?: boolean }
  | { kind: 'dns'; id: string; approval?: boolean };

/** A plan whose environments each run `steps` on targets of their own. */
export function planYaml(service: string, environments: Record<string, readonly StepSpec[]>): string {
  const step = (env: string, s: StepSpec) => {
    const approval = s.approval ? ' approval: required,' : '';
    if (s.kind === 'dns')
      return `      - { id: ${s.id}, kind: dns,${approval} provider: { type: route53, hosted_zone_id: ${ZONE_ID}, record: ${recordName(service, env)}, record_type: CNAME, value: ${service}-${env}.new.example.net., ttl: 60 } }`;
    const app = `${service}-${env}-${s.kind === 'flag' ? s.id : 'maintenance'}`;
    return `      - { id: ${s.id}, kind: ${s.kind}, action: ${s.action},${approval} provider: { type: http, url: "\${BENCH_MAINTENANCE_URL}/${app}", token: "\${BENCH_MAINTENANCE_TOKEN}" } }`;
  };
  return [
    `service: ${service}`,
    `approvers: { users: [${BOB}] }`,
    'environments:',
    ...Object.entries(environments).flatMap(([env, steps]) => [
      `  ${env}:`,
      '    steps:',
      ...steps.map((s) => step(env, s)),
    ]),
    '',
  ].join('\n');
}

/** Writes plans (name -> YAML) into a fresh folder for FERRY_PLANS. */
export async function writePlans(plans: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bench-plans-'));
  for (const [name, yaml] of Object.entries(plans)) await writeFile(path.join(dir, `${name}.yml`), yaml);
  return dir;
}
