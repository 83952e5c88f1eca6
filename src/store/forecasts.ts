import type { StepKind } from '../plan/schema.ts';
import type { PastRun } from '../report/forecast.ts';
import type { Database } from './db.ts';

// The earlier runs a forecast is made from: runbook runs that succeeded with the same step kinds in
// the same order, nearest first: the same service and environment, then the service's other
// environments (staging, sandbox rehearsals), then other services; the latest first within each.

export async function pastRunTimings(
  db: Database,
  target: { service: string; environment: string; shape: readonly StepKind[]; limit: number },
): Promise<PastRun[]> {
  const { rows: runs } = await db.pool.query<{
    id: string;
    service: string;
    environment: string;
    started_at: Date;
    finished_at: Date;
  }>(
    `select r.id, r.service, r.environment, r.started_at, r.finished_at
     from runs r
     where r.status = 'succeeded' and r.purpose = 'runbook' and r.finished_at is not null
       and (select array_agg(s.kind order by s.position) from steps s where s.run_id = r.id) = $3::text[]
     order by case when r.service = $1 and r.environment = $2 then 0 when r.service = $1 then 1 else 2 end,
       r.started_at desc
     limit $4`,
    [target.service, target.environment, target.shape, target.limit],
  );
  if (runs.length === 0) return [];
  const { rows: steps } = await db.pool.query<{
    run_id: string;
    kind: StepKind;
    action: string | null;
    finished_at: Date | null;
  }>(
    `select run_id, kind, case when kind = 'maintenance' then spec->>'action' end as action, finished_at
     from steps where run_id = any($1::text[]) order by run_id, position`,
    [runs.map((r) => r.id)],
  );
  return runs.map((run) => ({
    id: run.id,
    service: run.service,
    environment: run.environment,
    startedAt: run.started_at.getTime(),
    finishedAt: run.finished_at.getTime(),
    steps: steps
      .filter((s) => s.run_id === run.id)
      .map((s) => ({ kind: s.kind, action: s.action, finishedAt: s.finished_at?.getTime() ?? null })),
  }));
}
