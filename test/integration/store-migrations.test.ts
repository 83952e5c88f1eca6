import { readdir } from 'node:fs/promises';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/store/db.ts';
import { migrate } from '../../src/store/migrate.ts';
import { dropSchema, openTestDatabase, randomSchemaName, TEST_DATABASE_URL } from '../support/db.ts';

// Migrations against the real Postgres: each test uses fresh schemas of its own, kept when it fails.

const migrationFiles = async () =>
  (await readdir(new URL('../../src/store/migrations/', import.meta.url)))
    .filter((f) => /^\d+_.*\.sql$/.test(f))
    .sort();

const open = (schema: string): Promise<Database> => openTestDatabase(schema);

describe('migrations', () => {
  const schemas: string[] = [];
  const opened: Database[] = [];
  const fresh = () => {
    const schema = randomSchemaName('migrate');
    schemas.push(schema);
    return schema;
  };

  afterEach(async ({ task }) => {
    await Promise.all(opened.splice(0).map((db) => db.close()));
    const created = schemas.splice(0);
    if (task.result?.state === 'fail') {
      console.warn(`kept schemas ${created.join(', ')} for inspection`);
      return;
    }
    for (const schema of created) await dropSchema(schema);
  });

  it('applies every migration once on a fresh schema, in order, and records it', async () => {
    const schema = fresh();
    const db = await open(schema);
    opened.push(db);
    const { rows } = await db.pool.query<{ name: string }>(
      `select name from schema_migrations order by name`,
    );
    expect(rows.map((r) => r.name)).toEqual(await migrationFiles());
    const tables = await db.pool.query<{ table_name: string }>(
      `select table_name from information_schema.tables where table_schema = $1 order by table_name`,
      [schema],
    );
    // Later migrations add tables; these are the ones the first one must have made.
    expect(tables.rows.map((r) => r.table_name)).toEqual(
      expect.arrayContaining([
        'approvals',
        'publisher_leases',
        'runs',
        'schema_migrations',
        'slack_deliveries',
        'slack_messages',
        'step_attempts',
        'step_progress',
        'steps',
        'timeline_events',
      ]),
    );
  });

  it('applies nothing the second time and keeps the data', async () => {
    const schema = fresh();
    const db = await open(schema);
    opened.push(db);
    await db.pool.query(`insert into slack_deliveries (key) values ('kept')`);
    expect(await migrate(db.pool, schema)).toEqual([]);
    const again = await open(schema);
    opened.push(again);
    const { rows } = await again.pool.query(`select key from slack_deliveries`);
    expect(rows).toEqual([{ key: 'kept' }]);
    const applied = await again.pool.query(`select count(*)::int as n from schema_migrations`);
    expect(applied.rows[0].n).toBe((await migrationFiles()).length);
  });

  it('lets several replicas race to open the same fresh schema: all succeed, each migration applies once', async () => {
    const schema = fresh();
    for (let round = 0; round < 3; round++) {
      const target = round === 0 ? schema : fresh();
      const results = await Promise.allSettled(Array.from({ length: 4 }, () => open(target)));
      for (const r of results) if (r.status === 'fulfilled') opened.push(r.value);
      expect(results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'ok'))).toEqual([
        'ok',
        'ok',
        'ok',
        'ok',
      ]);
      const db = opened.at(-1)!;
      const { rows } = await db.pool.query<{ name: string; n: number }>(
        `select name, count(*)::int as n from schema_migrations group by name order by name`,
      );
      expect(rows).toEqual((await migrationFiles()).map((name) => ({ name, n: 1 })));
    }
  });

  it('returns which migrations it applied, and nothing to a replica that came second', async () => {
    const schema = fresh();
    const pool = new pg.Pool({
      connectionString: TEST_DATABASE_URL,
      options: `-c search_path=${schema}`,
      max: 4,
    });
    try {
      const [a, b] = await Promise.all([migrate(pool, schema), migrate(pool, schema)]);
      expect([...a, ...b].sort()).toEqual(await migrationFiles());
    } finally {
      await pool.end();
    }
  });
});
