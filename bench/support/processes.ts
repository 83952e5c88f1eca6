import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FerryProcess } from '../../drills/support/ferry-process.ts';

// The processes a benchmark measures: Ferry (src/main.ts, as in production, through the drills'
// FerryProcess) and the bare Bolt baseline (bare-bolt.ts), each its own process so its memory is its
// own and the Slack stand-in, the fakes and the load generator run elsewhere.

export const BOT_TOKEN = 'xoxb-bench';

export interface FerryOptions {
  slackApiUrl: string;
  signingSecret: string;
  plansDir: string;
  /** Postgres URL and schema; omitted for the embedded default (PGlite under a fresh folder). */
  postgres?: { url: string; schema: string };
  env?: Record<string, string>;
}

export async function startFerryProcess(options: FerryOptions): Promise<FerryProcess> {
  const storage: Record<string, string> = options.postgres
    ? { DATABASE_URL: options.postgres.url, FERRY_DB_SCHEMA: options.postgres.schema }
    : { FERRY_DATA_DIR: await mkdtemp(path.join(tmpdir(), 'ferry-bench-data-')) };
  return FerryProcess.start({
    env: {
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: options.signingSecret,
      SLACK_API_URL: options.slackApiUrl,
      FERRY_PLANS: options.plansDir,
      PORT: '0',
      FERRY_HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      FERRY_SHUTDOWN_GRACE_SECONDS: '0',
      ...storage,
      ...options.env,
    },
    startTimeoutMs: 60_000,
  });
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
  const child = spawn(process.execPath, [path.join(import.meta.dirname, 'bare-bolt.ts')], {
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
  });
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
