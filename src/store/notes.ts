import type { Database, Queryable } from './db.ts';

// Notes taken from Slack messages, one per message (the table's unique key), and which run a
// message in Slack belongs to.

export interface NoteRecord {
  runId: string;
  /** The message the note quotes; null for a note typed in (the modal). */
  sourceChannel: string | null;
  sourceTs: string | null;
  author: string;
  writtenAt: Date;
  link: string | null;
  addedBy: string;
  addedAt: Date;
}

/**
 * Records a note inside the run's decision transaction; false when its message is already a note
 * (pinned or shortcut before, by anyone, on any run), and then nothing is recorded.
 */
export async function insertNote(client: Queryable, note: NoteRecord): Promise<boolean> {
  const { rowCount } = await client.query(
    `insert into notes (run_id, source_channel, source_ts, author, written_at, link, added_by, added_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (source_channel, source_ts) do nothing`,
    [
      note.runId,
      note.sourceChannel,
      note.sourceTs,
      note.author,
      note.writtenAt,
      note.link,
      note.addedBy,
      note.addedAt,
    ],
  );
  return rowCount === 1;
}

/** The note a message already is, if any. */
export async function noteOfMessage(db: Database, channel: string, ts: string): Promise<NoteRecord | null> {
  const { rows } = await db.pool.query(`select * from notes where source_channel = $1 and source_ts = $2`, [
    channel,
    ts,
  ]);
  const r = rows[0] as Record<string, unknown> | undefined;
  return r
    ? {
        runId: r.run_id as string,
        sourceChannel: r.source_channel as string,
        sourceTs: r.source_ts as string,
        author: r.author as string,
        writtenAt: r.written_at as Date,
        link: (r.link as string | null) ?? null,
        addedBy: r.added_by as string,
        addedAt: r.added_at as Date,
      }
    : null;
}

/** The run whose status message starts the thread `threadTs` in `channel`, if it is one of Ferry's. */
export async function runOfThread(db: Database, channel: string, threadTs: string): Promise<string | null> {
  const { rows } = await db.pool.query<{ run_id: string }>(
    `select run_id from slack_messages where kind = 'status' and key = '' and channel = $1 and ts = $2`,
    [channel, threadTs],
  );
  return rows[0]?.run_id ?? null;
}
