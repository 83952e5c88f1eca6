import { randomBytes } from 'node:crypto';
import pg from 'pg';

// What a drill reads back from Ferry's Postgres schema to judge a run: its status, its timeline,
// which events reached Slack (the publisher's message references) and its step attempts. Drills
// only read; Ferry alone writes.

export interface TimelineRow {
  seq: number;
  /** When Ferry recorded it (epoch ms). */
  at: number;
  type: string;
  stepId: string | null;
  actor: string | null;
  detail: string | null;
}

export interface MessageRow {
  kind: string;
  key: string;
  ts: string;
}

export interface AttemptRow {
  stepId: string;
  direction: string;
  attempt: number;
  status: string;
  claimedBy: string | null;
  claims: number | null;
}

/** A schema name of its own for one drill: letters, digits and underscores, as FERRY_DB_SCHEMA wants. */
export function drillSchema(prefix: string): string {
  return `drill_${prefix.replace(/[^a-z0-9_]/g, '_')}_${randomBytes(3).toString('hex')}`;
}

export class FerryDb {
  readonly schema: string;
  readonly #pool: pg.Pool;

  constructor(pgUrl: string, schema: string) {
    this.schema = schema;
    this.#pool = new pg.Pool({ connectionString: pgUrl, max: 2, options: `-c search_path=${schema}` });
    // A Postgres restart must not crash the drill: the next query reconnects.
    this.#pool.on('error', () => undefined);
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }

  async drop(): Promise<void> {
    await this.#pool.query(`drop schema if exists ${this.schema} cascade`);
  }

  /** False until Ferry has migrated the schema. */
  async ready(): Promise<boolean> {
    const { rows } = await this.#pool.query<{ found: string | null }>(
      `select to_regclass('runs')::text as found`,
    );
    return rows[0]?.found != null;
  }

  async runStatus(runId: string): Promise<string | undefined> {
    if (!(await this.ready())) return undefined;
    const { rows } = await this.#pool.query<{ status: string }>(`select status from runs where id = $1`, [
      runId,
    ]);
    return rows[0]?.status;
  }

  async runIds(): Promise<string[]> {
    if (!(await this.ready())) return [];
    const { rows } = await this.#pool.query<{ id: string }>(`select id from runs order by created_at, id`);
    return rows.map((r) => r.id);
  }

  async runsByService(): Promise<Map<string, { id: string; status: string }>> {
    if (!(await this.ready())) return new Map();
    const { rows } = await this.#pool.query<{ id: string; service: string; status: string }>(
      `select id, service, status from runs order by created_at, id`,
    );
    return new Map(rows.map((r) => [r.service, { id: r.id, status: r.status }]));
  }

  async timeline(runId: string): Promise<TimelineRow[]> {
    const { rows } = await this.#pool.query<{
      seq: number;
      at: Date;
      type: string;
      step_id: string | null;
      actor: string | null;
      detail: string | null;
    }>(`select seq, at, type, step_id, actor, detail from timeline_events where run_id = $1 order by seq`, [
      runId,
    ]);
    return rows.map((r) => ({
      seq: r.seq,
      at: r.at.getTime(),
      type: r.type,
      stepId: r.step_id,
      actor: r.actor,
      detail: r.detail,
    }));
  }

  async messages(runId: string): Promise<MessageRow[]> {
    const { rows } = await this.#pool.query<MessageRow>(
      `select kind, key, ts from slack_messages where run_id = $1`,
      [runId],
    );
    return rows;
  }

  /** Timeline events of the run with no message reference yet: Slack has not been told. */
  async unpostedEvents(runId: string): Promise<number> {
    if (!(await this.ready())) return 0;
    const { rows } = await this.#pool.query<{ n: string }>(
      `select count(*) as n from timeline_events t
       where t.run_id = $1 and not exists (
         select 1 from slack_messages m where m.run_id = t.run_id and m.kind = 'event' and m.key = t.seq::text)`,
      [runId],
    );
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Slack shows everything about a finished run: every event posted, the status message rendered at
   * the run's last version, every approval request closed.
   */
  async caughtUp(runId: string): Promise<boolean> {
    if ((await this.unpostedEvents(runId)) > 0) return false;
    const { rows } = await this.#pool.query<{ behind: boolean }>(
      `select coalesce((select m.rendered_version < r.version from slack_messages m
                         where m.run_id = r.id and m.kind = 'status'), true)
              or exists (select 1 from slack_messages m
                         where m.run_id = r.id and m.kind = 'approval' and m.rendered_version = 0) as behind
       from runs r where r.id = $1`,
      [runId],
    );
    return rows[0]?.behind === false;
  }

  async attempts(runId?: string): Promise<AttemptRow[]> {
    const { rows } = await this.#pool.query<Record<string, unknown>>(
      `select * from step_attempts ${runId ? 'where run_id = $1' : ''} order by id`,
      runId ? [runId] : [],
    );
    return rows.map((r) => ({
      stepId: r.step_id as string,
      direction: r.direction as string,
      attempt: r.attempt as number,
      status: r.status as string,
      claimedBy: (r.claimed_by as string | null) ?? null,
      claims: typeof r.claims === 'number' ? r.claims : null,
    }));
  }

  /** Approval decisions recorded for one step. */
  async approvals(runId: string, stepId: string): Promise<Array<{ decision: string; by: string }>> {
    const { rows } = await this.#pool.query<{ decision: string; decided_by: string }>(
      `select decision, decided_by from approvals where run_id = $1 and step_id = $2 order by id`,
      [runId, stepId],
    );
    return rows.map((r) => ({ decision: r.decision, by: r.decided_by }));
  }
}
