import type { WatchSample } from '../adapters/types.ts';
import type { Database } from './db.ts';

// A watch's samples, one row each, as the report draws them.

export async function saveWatchSample(
  db: Database,
  attempt: { runId: string; stepId: string; attempt: number },
  sample: WatchSample,
): Promise<void> {
  await db.pool.query(
    `insert into watch_samples (run_id, step_id, attempt, at, figures, breached) values ($1, $2, $3, $4, $5, $6)`,
    [
      attempt.runId,
      attempt.stepId,
      attempt.attempt,
      new Date(sample.at),
      JSON.stringify(sample.values),
      JSON.stringify(sample.breached),
    ],
  );
}

/** Each watch step's samples of its latest attempt that took any, oldest first. */
export async function readWatchSamples(db: Database, runId: string): Promise<Map<string, WatchSample[]>> {
  const { rows } = await db.pool.query(
    `select step_id, at, figures, breached from watch_samples w
     where run_id = $1
       and attempt = (select max(attempt) from watch_samples l where l.run_id = w.run_id and l.step_id = w.step_id)
     order by step_id, at, id`,
    [runId],
  );
  const samples = new Map<string, WatchSample[]>();
  for (const row of rows as Array<{ step_id: string; at: Date; figures: unknown; breached: unknown }>) {
    const list = samples.get(row.step_id) ?? [];
    list.push({
      at: row.at.getTime(),
      values: row.figures as Record<string, number | null>,
      breached: row.breached as string[],
    });
    samples.set(row.step_id, list);
  }
  return samples;
}
