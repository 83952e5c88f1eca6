import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FerryProcess } from '../../drills/support/ferry-process.ts';

// The processes a benchmark measures: Ferry (src/main.ts, as in production, through the drills'
// FerryProcess) and the bare Bolt baseline (bare-bolt.ts), each its own process so its memory is its
// own and the Slack stand-in, the fakes and the load generator run elsewhere.

export const BOT_TOKEN = 'xoxb-bench';

/**
 * The options `npm start` gives node (package.json's start script, which the Dockerfile repeats):
 * Ferry is measured as it is deployed.
 */
export function ferryNodeArgs(): string[] {
  const pkg = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8')) as {
    scripts: { start: string };
  };
  const words = pkg.scripts.start.split(/\s+/);
  return words.slice(words.indexOf('node') + 1, words.indexOf('src/main.ts'));
}

export interface FerryOptions {
  slackApiUrl: string;
  signingSecret: string;
  plansDir: string;
  /** Postgres URL and schema; omitted for the embedded default (PGlite under a fresh folder). */
  postgres?: { url: string; schema: string };
  /** The embedded database's folder (FERRY_DATA_DIR), to start again on one made before. */
  dataDir?: string;
  env?: Record<string, string>;
  /** Told the process id as soon as the process exists, before Ferry starts in it. */
  onSpawn?: (pid: number) => void;
}

export async function startFerryProcess(options: FerryOptions): Promise<FerryProcess> {
  const storage: Record<string, string> = options.postgres
    ? { DATABASE_URL: options.postgres.url, FERRY_DB_SCHEMA: options.postgres.schema }
    : { FERRY_DATA_DIR: options.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'ferry-bench-data-'))) };
  const ferry = FerryProcess.prepare({
    env: {
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: options.signingSecret,
      SLACK_API_URL: options.slackApiUrl,
      FERRY_PLANS: options.plansDir,
      PORT: '0',
      FERRY_HOST: '127.0.0.1',
      LOG_LEVEL: process.env.BENCH_FERRY_LOG_LEVEL ?? 'info',
      FERRY_SHUTDOWN_GRACE_SECONDS: '0',
      ...storage,
      ...options.env,
    },
    // BENCH_FERRY_LOG=<file>: every Ferry process appends its log there, to trace a figure to its cause.
    ...(process.env.BENCH_FERRY_LOG ? { logFile: process.env.BENCH_FERRY_LOG } : {}),
    // The first start on an empty folder creates the embedded database, which takes a while.
    startTimeoutMs: 180_000,
    // BENCH_FERRY_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"): to trace a figure to its cause.
    nodeArgs: [
      ...ferryNodeArgs(),
      ...(process.env.BENCH_FERRY_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? []),
    ],
  });
  options.onSpawn?.(ferry.child.pid!);
  return ferry.launch();
}

export interface BaselineProcess {
  child: ChildProcess;
  url: string;
  stop(): Promise<void>;
}

/** Starts the bare Bolt app against the same Slack stand-in and signing secret. */
export async function startBaseline(options: {
  slackApiUrl: string;
  signingSecret: string;
}): Promise<BaselineProcess> {
  // Started with the node options Ferry gets, so the two differ only in what the app does.
  const child = spawn(
    process.execPath,
    [
      ...ferryNodeArgs(),
      ...(process.env.BENCH_BASELINE_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? []),
      path.join(import.meta.dirname, 'bare-bolt.ts'),
    ],
    {
      cwd: path.resolve(import.meta.dirname, '../..'),
      env: {
        PATH: process.env.PATH ?? '',
        NODE_COMPILE_CACHE: path.join(tmpdir(), 'ferry-drills-compile-cache'),
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: options.signingSecret,
        SLACK_API_URL: options.slackApiUrl,
        PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const found = /listening on port (\d+)/.exec(out)?.[1];
      if (found) resolve(Number(found));
    });
    child.once('exit', (code) => reject(new Error(`the bare Bolt app exited (${code}) before listening`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
