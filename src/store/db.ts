import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import { Redactor } from '../redact.ts';
import { migrate } from './migrate.ts';
import { clusterExists, createCluster, PGLITE_SETTINGS } from './pglite-cluster.ts';

// timestamptz as Date, bigint ids as numbers (ours stay far below 2^53).
pg.types.setTypeParser(20, (v) => Number(v));

/**
 * Whether an error means the database could not be reached (down, restarting, the connection lost)
 * rather than that it refused what was asked: the first is worth trying again, the second is not.
 */
export function isUnavailable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    // 08: connection exception; 57P01-57P03: shut down, crashed, or not accepting connections yet.
    if (code.startsWith('08') || /^57P0[1-3]$/.test(code)) return true;
    if (['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH'].includes(code))
      return true;
  }
  return (
    typeof message === 'string' &&
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(
      message,
    )
  );
}

/** Whether the database answers a trivial query now (readiness). */
export async function answers(db: Database): Promise<boolean> {
  return (await db.pool.query('select 1')).rowCount === 1;
}

/** A pool or a client inside a transaction: what a named query needs. */
export type Queryable = Pick<pg.PoolClient, 'query'>;

export interface Database {
  pool: pg.Pool;
  schema: string;
  kind: 'postgres' | 'pglite';
  /** Postgres' connection string for a dedicated LISTEN client, when LISTEN/NOTIFY is available. */
  listenUrl: string | undefined;
  /**
   * Every text a decision stores (timeline details, step titles, summaries and errors) goes through
   * it: the timeline is a path out too, to reports, files and whoever reads the table.
   */
  redactor: Redactor;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl: string | undefined;
  schema: string;
  dataDir: string;
  log: Logger;
  /** Ferry's one redactor; without it, only credential-shaped text is cut. */
  redactor?: Redactor;
}

/** Opens Postgres (or embedded PGlite when no URL is given) and applies the migrations. */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const redactor = options.redactor ?? new Redactor();
  const db = options.databaseUrl
    ? openPostgres(options.databaseUrl, options.schema, redactor)
    : await openPglite(options.dataDir, options.schema, options.log, redactor);
  try {
    const applied = await migrate(db.pool, db.schema);
    if (applied.length > 0) options.log.info({ applied }, 'database migrated');
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

/** Every connection starts in Ferry's schema (a startup parameter, so no query races it). */
const searchPath = (schema: string) => `-c search_path=${schema}`;

function openPostgres(url: string, schema: string, redactor: Redactor): Database {
  const pool = new pg.Pool({
    connectionString: url,
    options: searchPath(schema),
    max: 10,
    connectionTimeoutMillis: 5_000,
    statement_timeout: 15_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', () => undefined); // an idle client's error surfaces on its next use
  return { pool, schema, kind: 'postgres', listenUrl: url, redactor, close: () => pool.end() };
}

async function openPglite(
  dataDir: string,
  schema: string,
  log: Logger,
  redactor: Redactor,
): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const dir = path.resolve(dataDir, 'pglite');
  await mkdir(dir, { recursive: true });
  if (!clusterExists(dir)) {
    log.info({ dir }, 'creating the embedded database (once; this takes a while)');
    await createCluster(dir);
  }
  const lite = await PGlite.create(dir, {
    startParams: [...PGlite.defaultStartParams, ...PGLITE_SETTINGS.flatMap((setting) => ['-c', setting])],
  });
  // PGlite ignores startup parameters; it is one backend session, so set the schema on it directly.
  await lite.exec(`create schema if not exists ${schema}; set search_path to ${schema}`);
  // pg reaches a Unix socket at `${host}/.s.PGSQL.${port}`. The data directory belongs to one
  // process (PGlite cannot be shared), so a socket left by a killed process is stale.
  const socketDir = path.resolve(dataDir);
  await rm(path.join(socketDir, '.s.PGSQL.5432'), { force: true });
  const server = new PGLiteSocketServer({ db: lite, path: path.join(socketDir, '.s.PGSQL.5432') });
  await server.start();
  // PGlite serves one connection at a time: a pool of one, and no transaction held across I/O.
  const pool = new pg.Pool({
    host: socketDir,
    port: 5432,
    user: 'postgres',
    database: 'postgres',
    max: 1,
    connectionTimeoutMillis: 30_000,
  });
  pool.on('error', () => undefined);
  log.debug({ dir }, 'embedded PGlite started');
  return {
    pool,
    schema,
    kind: 'pglite',
    listenUrl: undefined,
    redactor,
    close: async () => {
      await pool.end();
      await server.stop();
      await lite.close();
    },
  };
}
