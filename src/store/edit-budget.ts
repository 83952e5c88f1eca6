import type { Database } from './db.ts';

// The workspace's chat.update budget, shared by every replica's publisher (migration 016). One row
// holds the times of the edits made in the last minute; taking an edit is one UPDATE whose condition
// is checked again on the locked row, so two replicas taking the last edit at once get it once.

/** Slack's budget is per workspace, and Ferry serves one: a single row, named after the method. */
const BUDGET = 'chat.update';

export type EditTaken = { taken: true } | { taken: false; retryInMs: number };

/**
 * Spends one edit when fewer than `perMinute` were made in the last minute. When none is left, says
 * how long until the oldest of them leaves the window.
 */
export async function takeSlackEdit(db: Database, perMinute: number): Promise<EditTaken> {
  const { rows } = await db.pool.query<{ taken: boolean; retry_in_ms: number | null }>(
    `with taken as (
       update slack_edit_budget b
          set spent = array(select s from unnest(b.spent) s where s > c.t - interval '1 minute' order by s) || c.t
         from (select clock_timestamp() as t) c
        where b.name = $1
          and (select count(*) from unnest(b.spent) s where s > c.t - interval '1 minute') < $2
       returning 1)
     select exists (select 1 from taken) as taken,
            (select ceil(extract(epoch from (min(s) + interval '1 minute' - clock_timestamp())) * 1000)::int
               from slack_edit_budget, unnest(spent) s
              where name = $1 and s > clock_timestamp() - interval '1 minute') as retry_in_ms`,
    [BUDGET, perMinute],
  );
  const row = rows[0];
  if (row?.taken) return { taken: true };
  return { taken: false, retryInMs: Math.max(10, row?.retry_in_ms ?? 1_000) };
}

/** How many edits were made in the last minute, by every replica. */
export async function editsInLastMinute(db: Database): Promise<number> {
  const { rows } = await db.pool.query<{ n: number }>(
    `select count(*)::int as n from slack_edit_budget, unnest(spent) s
      where name = $1 and s > clock_timestamp() - interval '1 minute'`,
    [BUDGET],
  );
  return rows[0]?.n ?? 0;
}
