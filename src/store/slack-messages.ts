import type { Database } from './db.ts';

// References to the messages Ferry posted, so that a restart resumes from what Postgres says was
// posted; the intents recorded before each post, so that a post whose ts was never stored is found
// in Slack rather than posted twice; and publisher leases so that two replicas never post the same
// event.

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

/** A run Slack is behind on; `posts`: it has something to post, not only messages to edit. */
export interface RunToPublish {
  id: string;
  /** Where its messages go: posts to one channel share that channel's rate. */
  channel: string;
  posts: boolean;
  /** Its first unposted event someone waits on (an approval request, an incident), if any. */
  urgentSeq: number | null;
}

/**
 * Runs whose Slack messages are behind, those with something to post first. Of those, the runs with
 * an unposted event of an `urgent` type come first: a person waits on it, and a run waiting for an
 * approval keeps its service in maintenance meanwhile. Then the one waiting longest (its oldest
 * unposted event, interrupted post or progress message): a channel takes about one post a second,
 * and that post goes to the run whose reader has waited longest. Runs that only wait for edits,
 * which Slack's edit budget paces, never hold back the thread of another run.
 */
export async function runsToPublish(
  db: Database,
  limit: number,
  urgent: readonly string[],
): Promise<RunToPublish[]> {
  const { rows } = await db.pool.query<RunToPublish>(
    `select id, channel, waiting_since is not null as posts, urgent_seq as "urgentSeq" from (
       select r.id, r.channel, r.created_at, unposted.urgent_seq,
              least(
                case when m.ts is null then r.created_at end,
                (select min(i.created_at) from slack_post_intents i where i.run_id = r.id),
                unposted.since,
                (select min(p.updated_at) from step_progress p where p.run_id = r.id and not exists (
                   select 1 from slack_messages s where s.run_id = r.id and s.kind = 'progress' and s.key = p.step_id))
              ) as waiting_since
         from runs r
         left join slack_messages m on m.run_id = r.id and m.kind = 'status' and m.key = ''
         -- One pass over the run's unposted events: the oldest, and the first someone waits on.
         cross join lateral (
           select min(e.at) as since, min(e.seq) filter (where e.type = any($2)) as urgent_seq
             from timeline_events e
            where e.run_id = r.id and not exists (
              select 1 from slack_messages s where s.run_id = r.id and s.kind = 'event' and s.key = e.seq::text)
         ) unposted
        where m.ts is null or m.rendered_version < r.version
           or exists (select 1 from slack_post_intents i where i.run_id = r.id)) behind
     order by urgent_seq is null, waiting_since is null, waiting_since, created_at limit $1`,
    [limit, urgent],
  );
  return rows;
}

/**
 * Keeps a run due whose turn ended with posts still waiting: its status message counts as behind
 * the version read, so the run is published again (a status message rendered at that version would
 * otherwise hide the waiting posts from `runsToPublish`).
 */
export async function keepDue(db: Database, runId: string, version: number): Promise<void> {
  await db.pool.query(
    `update slack_messages set rendered_version = least(rendered_version, $2 - 1)
      where run_id = $1 and kind = 'status' and key = ''`,
    [runId, version],
  );
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

/** What one post stands for: the `slack_messages` row it becomes once Slack has given its ts. */
export interface PostRef {
  kind: MessageKind;
  key: string;
  renderedVersion: number;
}

/** A post about to be made (or made, its ts not yet stored): see migration 010. */
export interface PostIntent {
  runId: string;
  /** Names the message, and travels in its Slack metadata: `status`, `event:12`, `approval:cutover:7`, `progress:drain`. */
  key: string;
  channel: string;
  /** The thread it is a reply in; null for the status message. */
  threadTs: string | null;
  refs: PostRef[];
  createdAt: Date;
}

/** Records that a post is about to be made, before the Slack call, so no outcome of the call is lost. */
export async function recordIntent(db: Database, intent: Omit<PostIntent, 'createdAt'>): Promise<void> {
  await db.pool.query(
    `insert into slack_post_intents (run_id, key, channel, thread_ts, refs) values ($1, $2, $3, $4, $5)`,
    [
      intent.runId,
      intent.key,
      intent.channel,
      intent.threadTs,
      JSON.stringify(
        intent.refs.map((r) => ({ kind: r.kind, key: r.key, rendered_version: r.renderedVersion })),
      ),
    ],
  );
}

/** The run's posts whose outcome is unknown (no ts stored), oldest first. */
export async function intentsOf(db: Database, runId: string): Promise<PostIntent[]> {
  const { rows } = await db.pool.query<{
    run_id: string;
    key: string;
    channel: string;
    thread_ts: string | null;
    refs: Array<{ kind: MessageKind; key: string; rendered_version: number }>;
    created_at: Date;
  }>(`select * from slack_post_intents where run_id = $1 order by created_at, key`, [runId]);
  return rows.map((r) => ({
    runId: r.run_id,
    key: r.key,
    channel: r.channel,
    threadTs: r.thread_ts,
    refs: r.refs.map((ref) => ({ kind: ref.kind, key: ref.key, renderedVersion: ref.rendered_version })),
    createdAt: r.created_at,
  }));
}

/**
 * Stores the ts Slack gave the intended post and clears the intent, in one statement: either both
 * happen or neither, so a failure here leaves the intent for the next pass to resolve. Returns how
 * many message rows were stored: 0 when the intent was no longer there.
 */
export async function completeIntent(
  db: Database,
  runId: string,
  key: string,
  ts: string,
  channel: string,
): Promise<number> {
  const { rowCount } = await db.pool.query(
    `with done as (
       delete from slack_post_intents where run_id = $1 and key = $2 returning run_id, refs)
     insert into slack_messages (run_id, kind, key, channel, ts, rendered_version)
     select done.run_id, m.kind, m.key, $4, $3, m.rendered_version
     from done cross join jsonb_to_recordset(done.refs) as m(kind text, key text, rendered_version integer)
     on conflict (run_id, kind, key) do update set ts = excluded.ts, channel = excluded.channel,
       rendered_version = excluded.rendered_version, rendered_at = now()`,
    [runId, key, ts, channel],
  );
  return rowCount ?? 0;
}

/** Forgets an intent whose post is known not to be in Slack (refused, or not found there). */
export async function dropIntent(db: Database, runId: string, key: string): Promise<void> {
  await db.pool.query(`delete from slack_post_intents where run_id = $1 and key = $2`, [runId, key]);
}
