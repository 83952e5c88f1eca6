import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { decide } from '../../src/engine/decide.ts';
import type { Effect, Policy, RunState } from '../../src/engine/types.ts';
import type { StepSpec } from '../../src/plan/schema.ts';
import { stepContent } from '../../src/plan/content.ts';
import type { Redactor } from '../../src/redact.ts';
import { openDatabase, type Database } from '../../src/store/db.ts';
import { createRun } from '../../src/store/runs.ts';

// Each test file (or test) gets its own Postgres schema, migrated by the real `openDatabase`, so
// files run in parallel. Like pg-boss, a schema whose tests failed is kept so its rows can be read
// afterwards (`psql -h 127.0.0.1 -U root test`, `set search_path to store_...`).

export const TEST_DATABASE_URL = 'postgres://root@127.0.0.1:5432/test';

export const silentLog: Logger = pino({ level: 'silent' });

export interface TestSchema {
  db: Database;
  schema: string;
  /** Keep the schema on dispose (a test failed). */
  keep(): void;
  /** Closes the pool and drops the schema, unless `keep()` was called. */
  dispose(): Promise<void>;
}

export function randomSchemaName(prefix = 'store'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/**
 * A pool on `schema` of the test database, migrations applied: a test's own, or a second replica's
 * on a schema another pool opened.
 */
export function openTestDatabase(
  schema: string,
  options: { log?: Logger; redactor?: Redactor } = {},
): Promise<Database> {
  return openDatabase({
    databaseUrl: TEST_DATABASE_URL,
    schema,
    dataDir: '.ferry-test-unused',
    log: options.log ?? silentLog,
    ...(options.redactor ? { redactor: options.redactor } : {}),
  });
}

/** Opens a fresh schema (migrations applied) on the test database. */
export async function createTestSchema(
  options: { schema?: string; prefix?: string; log?: Logger; redactor?: Redactor } = {},
): Promise<TestSchema> {
  const schema = options.schema ?? randomSchemaName(options.prefix);
  const db = await openTestDatabase(schema, options);
  let kept = false;
  let disposed = false;
  return {
    db,
    schema,
    keep: () => {
      kept = true;
    },
    dispose: async () => {
      if (disposed) return;
      disposed = true;
      // A test may have closed the pool itself (to see Ferry meet a dead database).
      if (!db.pool.ending && !db.pool.ended) await db.close();
      if (kept) {
        console.warn(`kept schema ${schema} in ${TEST_DATABASE_URL} for inspection (a test failed)`);
        return;
      }
      await dropSchema(schema);
    },
  };
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await client.end();
  }
}

/**
 * One schema for the whole test file: created before the first test, dropped after the last one
 * unless any test failed. Read `.db` inside tests and hooks.
 */
export function useTestSchema(options: { prefix?: string } = {}): {
  readonly db: Database;
  readonly schema: string;
} {
  let current: TestSchema | undefined;
  beforeAll(async () => {
    current = await createTestSchema(options);
  });
  afterEach(({ task }) => {
    if (task.result?.state === 'fail') current?.keep();
  });
  afterAll(async () => {
    await current?.dispose();
  });
  return {
    get db() {
      if (!current) throw new Error('the test schema is not open yet (use it inside tests or hooks)');
      return current.db;
    },
    get schema() {
      if (!current) throw new Error('the test schema is not open yet');
      return current.schema;
    },
  };
}

export interface TestRunOptions {
  service?: string;
  environment?: string;
  /** Plan steps; `stepSpec(kind, id)` from engine-fixtures builds valid ones. */
  steps: ReadonlyArray<StepSpec>;
  policy?: Partial<Policy>;
  startedBy?: string;
  channel?: string;
  now?: number;
  /** The variables the steps resolve against, to record what each step will do (its content). */
  env?: Record<string, string>;
}

/** Creates a run through the store and lets the engine's `start` decide its first moves. */
export async function startTestRun(
  db: Database,
  options: TestRunOptions,
): Promise<{ state: RunState; effects: Effect[] }> {
  const now = options.now ?? Date.now();
  return createRun(
    db,
    {
      service: options.service ?? 'billing',
      environment: options.environment ?? 'staging',
      startedBy: options.startedBy ?? 'U01ALICE',
      channel: options.channel ?? 'C0MIGRATIONS',
      planFile: 'plans/billing.yml',
      policy: {
        starters: [],
        approverUsers: [],
        approverGroups: [],
        fourEyes: false,
        approvalExpiresMs: 30 * 60_000,
        approvalReminderMs: 10 * 60_000,
        lockAfterRollback: true,
        ...options.policy,
      },
      steps: options.steps.map((spec) => ({
        spec,
        title: `${spec.kind} ${spec.id}`,
        // What an approval is of, as a start computes it from the environment Ferry runs with.
        ...(options.env ? { content: stepContent(spec, options.env) } : {}),
      })),
      now,
    },
    (initial) => decide(initial, { type: 'start' }, now),
  );
}
