import type { Database } from './db.ts';

// References to the messages Ferry posted, so that a restart resumes from what Postgres says was
// posted, and publisher leases so that two replicas never post the same event.

export type MessageKind = 'status' | 'approval' | 'progress' | 'event';

export interface MessageRef {
  runId: string;
  kind: MessageKind;
  key: string;
  channel: string;
  ts: string;
  renderedVersion: number;
  renderedAt: Date;
}

export async function runsToPublish(db: Database, limit = 20): Promise<string[]> {
  const { rows } = await db.pool.query(
    `select r.id from runs r
     left join slack_messages m on m.run_id = r.id and m.kind = 'status' and m.key = ''
     where m.ts is null or m.rendered_version < r.version
     order by r.created_at limit $1`,
    [limit],
  );
  return rows.map((r: { id: string }) => r.id);
}

/**
 * Takes the run's publisher lease when it is free, lapsed, or already ours (a renewal). When another
 * publisher holds it, says until when, so the caller can come back the moment it lapses.
 */
export async function takePublisherLease(
  db: Database,
  runId: string,
  owner: string,
  leaseMs: number,
): Promise<{ taken: true } | { taken: false; until: Date }> {
  const { rows } = await db.pool.query<{ owner: string; lease_until: Date }>(
    `with taken as (
       insert into publisher_leases (run_id, owner, lease_until)
       values ($1, $2, clock_timestamp() + ($3 || ' milliseconds')::interval)
       on conflict (run_id) do update set owner = excluded.owner, lease_until = excluded.lease_until
       where publisher_leases.lease_until < clock_timestamp() or publisher_leases.owner = excluded.owner
       returning owner, lease_until)
     select owner, lease_until from taken
     union all
     select owner, lease_until from publisher_leases where run_id = $1 and not exists (select 1 from taken)`,
    [runId, owner, String(leaseMs)],
  );
  const row = rows[0];
  // No row seen: another publisher took the lease in the same instant; look again shortly.
  if (!row) return { taken: false, until: new Date(Date.now() + 100) };
  return row.owner === owner ? { taken: true } : { taken: false, until: row.lease_until };
}

/** Keeps this publisher's leases on `runIds` alive while it works on them (a heartbeat). */
export async function renewPublisherLeases(
  db: Database,
  owner: string,
  runIds: readonly string[],
  leaseMs: number,
): Promise<void> {
  if (runIds.length === 0) return;
  await db.pool.query(
    `update publisher_leases set lease_until = clock_timestamp() + ($3 || ' milliseconds')::interval
     where owner = $1 and run_id = any($2)`,
    [owner, runIds, String(leaseMs)],
  );
}

/** Gives up this publisher's leases (a graceful stop), so the next process publishes at once. */
export async function releasePublisherLeases(db: Database, owner: string): Promise<void> {
  await db.pool.query(`delete from publisher_leases where owner = $1`, [owner]);
}

export async function messagesOf(db: Database, runId: string): Promise<MessageRef[]> {
  const { rows } = await db.pool.query(`select * from slack_messages where run_id = $1`, [runId]);
  return rows.map((r: Record<string, unknown>) => ({
    runId: r.run_id as string,
    kind: r.kind as MessageKind,
    key: r.key as string,
    channel: r.channel as string,
    ts: r.ts as string,
    renderedVersion: r.rendered_version as number,
    renderedAt: r.rendered_at as Date,
  }));
}

export async function saveMessage(db: Database, ref: Omit<MessageRef, 'renderedAt'>): Promise<void> {
  await db.pool.query(
    `insert into slack_messages (run_id, kind, key, channel, ts, rendered_version) values ($1, $2, $3, $4, $5, $6)
     on conflict (run_id, kind, key) do update set ts = excluded.ts, channel = excluded.channel,
       rendered_version = excluded.rendered_version, rendered_at = now()`,
    [ref.runId, ref.kind, ref.key, ref.channel, ref.ts, ref.renderedVersion],
  );
}

export async function markRendered(
  db: Database,
  runId: string,
  kind: MessageKind,
  key: string,
  version: number,
): Promise<void> {
  await db.pool.query(
    `update slack_messages set rendered_version = $4, rendered_at = now() where run_id = $1 and kind = $2 and key = $3`,
    [runId, kind, key, version],
  );
}

export async function progressOf(
  db: Database,
  runId: string,
): Promise<Array<{ stepId: string; text: string; fraction: number | null; version: number }>> {
  const { rows } = await db.pool.query(
    `select step_id, text, fraction, version from step_progress where run_id = $1`,
    [runId],
  );
  return rows.map((r: { step_id: string; text: string; fraction: number | null; version: number }) => ({
    stepId: r.step_id,
    text: r.text,
    fraction: r.fraction,
    version: r.version,
  }));
}

export async function runVersion(db: Database, runId: string): Promise<number> {
  const { rows } = await db.pool.query(`select version from runs where id = $1`, [runId]);
  return (rows[0] as { version: number } | undefined)?.version ?? 0;
}
