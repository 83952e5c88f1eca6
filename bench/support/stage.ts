import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { FerryProcess } from '../../drills/support/ferry-process.ts';
import type { LoadGenerator, LoadResult } from './load.ts';
import type { BaselineProcess } from './processes.ts';
import { FORM, type BenchSlack } from './slack.ts';

// What a benchmark part works with: the Slack stand-in, the processes under test, the load generator.

export const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
export const CHANNEL = 'C0BENCH';

export function newSecret(): string {
  return randomBytes(16).toString('hex');
}

export function newSchema(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

export interface Stage {
  slack: BenchSlack;
  secret: string;
  load: LoadGenerator;
  ferry: FerryProcess;
  baseline: BaselineProcess;
}

/** Sends `bodies` to a target's Slack endpoint at `concurrency`; every answer must be a 200. */
export async function fire(
  stage: Stage,
  target: 'ferry' | 'baseline',
  bodies: string[],
  concurrency: number,
): Promise<LoadResult> {
  const url = target === 'ferry' ? stage.ferry.url : stage.baseline.url;
  const result = await stage.load.run({
    url: `${url}/slack/events`,
    secret: stage.secret,
    concurrency,
    bodies,
    contentType: FORM,
  });
  const failed = result.statuses.filter((s) => s !== 200);
  if (failed.length > 0)
    throw new Error(
      `${target}: ${failed.length} of ${bodies.length} requests were not answered 200 (${[...new Set(failed)].join(', ')})`,
    );
  return result;
}

/** A pool on one schema, for reading what Ferry recorded. */
export function schemaPool(schema: string): pg.Pool {
  return new pg.Pool({ connectionString: PG_URL, options: `-c search_path=${schema}`, max: 2 });
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(`drop schema if exists ${schema} cascade`);
  await client.end();
}
