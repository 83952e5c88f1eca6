import { readdir, readFile } from 'node:fs/promises';
import type { Pool } from 'pg';

const migrationsDir = new URL('./migrations/', import.meta.url);
// Any constant works; it only has to be the same for every replica.
const MIGRATION_LOCK = 7_403_112;

/**
 * Applies the numbered .sql migrations not yet applied, each in its own transaction. A transaction
 * advisory lock makes two replicas starting at once take turns; the second sees the work done.
 */
export async function migrate(pool: Pool, schema: string): Promise<string[]> {
  const files = (await readdir(migrationsDir)).filter((f) => /^\d+_.*\.sql$/.test(f)).sort();
  const applied: string[] = [];
  const client = await pool.connect();
  // A lost connection fails the query under way; without a listener it would also be uncaught.
  let broken: Error | undefined;
  const onError = (error: Error) => (broken = error);
  client.on('error', onError);
  try {
    // `create ... if not exists` is not safe against a concurrent create (it fails on the catalog's
    // unique index), so replicas take the lock for this too.
    await client.query('begin');
    try {
      await client.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query(`create schema if not exists ${schema}`);
      await client.query(
        `create table if not exists ${schema}.schema_migrations (name text primary key, applied_at timestamptz not null default now())`,
      );
      await client.query('commit');
    } catch (error) {
      await client.query('rollback');
      throw new Error(`creating schema ${schema} failed: ${(error as Error).message}`, { cause: error });
    }
    for (const file of files) {
      await client.query('begin');
      try {
        await client.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        const done = await client.query(`select 1 from ${schema}.schema_migrations where name = $1`, [file]);
        if (done.rowCount === 0) {
          await client.query(`set local search_path to ${schema}`);
          await client.query(await readFile(new URL(file, migrationsDir), 'utf8'));
          await client.query(`insert into ${schema}.schema_migrations (name) values ($1)`, [file]);
          applied.push(file);
        }
        await client.query('commit');
      } catch (error) {
        await client.query('rollback');
        throw new Error(`migration ${file} failed: ${(error as Error).message}`, { cause: error });
      }
    }
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
  return applied;
}
