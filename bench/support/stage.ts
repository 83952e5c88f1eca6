import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { FerryProcess } from '../../drills/support/ferry-process.ts';
import { LoadGenerator, type LoadResult } from './load.ts';
import { untilIdle } from './memory.ts';
import { writePlans } from './plans.ts';
import { startBaseline, startFerryProcess, type BaselineProcess } from './processes.ts';
import { BenchSlack, FORM } from './slack.ts';
import type { BenchWorld } from './world.ts';

// What a benchmark part works with: the Slack stand-in, the processes under test (Ferry, and the
// bare Bolt baseline where the part compares with it), the load generator, and Ferry's database.

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

export interface StageOptions {
  /** Names the Postgres schema (a prefix); unused when embedded. */
  name: string;
  plans: Record<string, string>;
  world: BenchWorld;
  /** Slack's rate limits in the stand-in, as Slack enforces them. */
  rateLimits: boolean;
  /** Embedded PGlite (no DATABASE_URL) in this folder, or a fresh one; Postgres when unset. */
  embedded?: { dataDir?: string };
  /** Start the bare Bolt baseline and the load generator beside Ferry. */
  baseline: boolean;
  ferryEnv?: Record<string, string>;
  /** Ferry processes on the one database (Postgres only), as a deployment's replicas; default 1. */
  replicas?: number;
  /** Told each Ferry's process id as soon as it exists. */
  onSpawn?: (pid: number) => void;
}

export interface OpenStage {
  slack: BenchSlack;
  secret: string;
  /** The first replica. */
  ferry: FerryProcess;
  ferries: FerryProcess[];
  baseline: BaselineProcess | undefined;
  load: LoadGenerator | undefined;
  /** Ferry's Postgres schema, read through `db`; both unset when embedded. */
  schema: string | undefined;
  db: pg.Pool | undefined;
  /** Everything but the world, which the caller owns; the schema is dropped. */
  close(): Promise<void>;
}

/** Starts the Slack stand-in, Ferry on its plans and, when asked, the baseline and the load generator. */
export async function openStage(options: StageOptions): Promise<OpenStage> {
  const slack = new BenchSlack({ rateLimits: options.rateLimits });
  await slack.listen();
  const secret = newSecret();
  const plansDir = await writePlans(options.plans);
  const schema = options.embedded ? undefined : newSchema(`bench_${options.name}`);
  const closers: Array<() => Promise<unknown>> = [() => slack.close()];
  const close = async () => {
    for (const fn of closers.splice(0).reverse()) await fn().catch(() => undefined);
  };
  try {
    if (schema) closers.push(() => dropSchema(schema));
    const ferries: FerryProcess[] = [];
    // One after the other: the second would only wait for the first's migrations.
    for (let i = 0; i < (options.replicas ?? 1); i++) {
      const ferry = await startFerryProcess({
        slackApiUrl: slack.apiUrl,
        signingSecret: secret,
        plansDir,
        ...(schema ? { postgres: { url: PG_URL, schema } } : {}),
        ...(options.embedded?.dataDir ? { dataDir: options.embedded.dataDir } : {}),
        env: { ...options.world.ferryEnv(), ...options.ferryEnv },
        ...(options.onSpawn ? { onSpawn: options.onSpawn } : {}),
      });
      ferries.push(ferry);
      closers.push(() => ferry.stop());
    }
    const ferry = ferries[0]!;
    const db = schema ? schemaPool(schema) : undefined;
    if (db) closers.push(() => db.end());
    let baseline: BaselineProcess | undefined;
    let load: LoadGenerator | undefined;
    if (options.baseline) {
      baseline = await startBaseline({ slackApiUrl: slack.apiUrl, signingSecret: secret });
      closers.push(() => baseline!.stop());
      load = new LoadGenerator();
      closers.push(() => Promise.resolve(load!.close()));
    }
    return { slack, secret, ferry, ferries, baseline, load, schema, db, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** The stage as the ack measurements need it: with its baseline and load generator. */
export function ackStage(stage: OpenStage): Stage {
  if (!stage.baseline || !stage.load) throw new Error('this stage has no baseline to compare with');
  return {
    slack: stage.slack,
    secret: stage.secret,
    load: stage.load,
    ferry: stage.ferry,
    baseline: stage.baseline,
  };
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
  // Ferry works on after its ack (a reply, a decision, posts): that work is its own, and must not
  // land on the next round, which may be the baseline's. The baseline is waited for alike.
  await untilIdle((target === 'ferry' ? stage.ferry.child : stage.baseline.child).pid!);
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
