import type { Database } from './db.ts';
import { toLock, type Lock } from './locks-and-incidents.ts';
import { readRun, readTimeline, type RunRecord, type TimelineEvent } from './runs.ts';
import { pendingScheduledStarts, type ScheduledStart } from './scheduled-starts.ts';

// The campaign across services and environments (App Home and `/migrate list`), and who opened the
// App Home tab recently, with what they were last shown.

export interface CampaignRun {
  record: RunRecord;
  /** The run's status message, whose thread holds its timeline; null until it is posted. */
  statusMessage: { channel: string; ts: string } | null;
  /** Its timeline, for the downtime as the report counts it. */
  timeline: TimelineEvent[];
}

export interface Campaign {
  /** The latest runbook run of every service and environment that has had one. */
  latest: CampaignRun[];
  /** Ad hoc toggles still active (they run beside a service's runbook). */
  adhoc: CampaignRun[];
  locks: Lock[];
  scheduled: ScheduledStart[];
}

export async function readCampaign(db: Database): Promise<Campaign> {
  const latest = await db.pool.query<{ id: string }>(
    `select distinct on (service, environment) id from runs where purpose = 'runbook'
     order by service, environment, created_at desc`,
  );
  const adhoc = await db.pool.query<{ id: string }>(
    `select id from runs where purpose = 'adhoc' and run_is_active(status) order by created_at`,
  );
  const ids = [...latest.rows, ...adhoc.rows].map((r) => r.id);
  const messages = await db.pool.query<{ run_id: string; channel: string; ts: string }>(
    `select run_id, channel, ts from slack_messages where kind = 'status' and key = '' and run_id = any($1)`,
    [ids],
  );
  const load = async (id: string): Promise<CampaignRun[]> => {
    const record = await readRun(db, id);
    if (!record) return [];
    const message = messages.rows.find((m) => m.run_id === id);
    return [
      {
        record,
        statusMessage: message ? { channel: message.channel, ts: message.ts } : null,
        timeline: await readTimeline(db, id),
      },
    ];
  };
  const locks = await db.pool.query<Record<string, unknown>>(
    `select * from locks order by service, environment`,
  );
  return {
    latest: (await Promise.all(latest.rows.map((r) => load(r.id)))).flat(),
    adhoc: (await Promise.all(adhoc.rows.map((r) => load(r.id)))).flat(),
    locks: locks.rows.map(toLock),
    scheduled: await pendingScheduledStarts(db),
  };
}

/** Someone opened the App Home tab: they are shown the campaign again when it changes. */
export async function recordHomeOpened(db: Database, user: string, at: Date): Promise<void> {
  await db.pool.query(
    `insert into home_viewers (user_id, opened_at) values ($1, $2)
     on conflict (user_id) do update set opened_at = excluded.opened_at`,
    [user, at],
  );
}

/** Who opened the App Home tab since `since`, most recent first. */
export async function recentHomeViewers(db: Database, since: Date, limit: number): Promise<string[]> {
  const { rows } = await db.pool.query<{ user_id: string }>(
    `select user_id from home_viewers where opened_at >= $1 order by opened_at desc limit $2`,
    [since, limit],
  );
  return rows.map((r) => r.user_id);
}

/**
 * Claims publishing `digest` to a viewer: true when they were last shown something else. Replicas
 * race on the same row, so each version of the campaign is published to a person once.
 */
export async function claimHomePublish(
  db: Database,
  user: string,
  digest: string,
  at: Date,
): Promise<boolean> {
  const { rowCount } = await db.pool.query(
    `update home_viewers set published_digest = $2, published_at = $3
     where user_id = $1 and published_digest is distinct from $2`,
    [user, digest, at],
  );
  return rowCount === 1;
}

/** A publish that did not reach Slack: the next refresh tries again. */
export async function releaseHomePublish(db: Database, user: string, digest: string): Promise<void> {
  await db.pool.query(
    `update home_viewers set published_digest = null where user_id = $1 and published_digest = $2`,
    [user, digest],
  );
}
