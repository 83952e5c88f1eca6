import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { parseFailpoints } from './failpoints.ts';

/**
 * Steps mostly wait (on Route 53's INSYNC, a drain, a watch): a cutover night's runs each have one
 * in flight, and a waiting step must not keep another run's step from starting. Sixteen slots once
 * made the seventeenth approval of a night wait for a DNS step's next INSYNC poll (about 2 s); the
 * bound is on memory and database connections, which a sleeping attempt barely uses.
 */
export const DEFAULT_STEP_CONCURRENCY = 128;

// The only module that reads process.env: parsed once at start into a typed object
// that is passed down. A bad value stops start-up with one line per problem.

/** A URL with one of `protocols`: "localhost:5432" parses as a URL with the scheme "localhost:". */
const url = (what: string, protocols: readonly string[] = ['http:', 'https:']) =>
  z.string().refine((v) => URL.canParse(v) && protocols.includes(new URL(v).protocol), {
    message: `expected a URL (${what})`,
  });
/** A whole number of milliseconds; zod's own "expected number, received NaN" helps nobody. */
const millis = (fallback: number, min = 1) =>
  z.coerce
    .number({ error: `expected a whole number of milliseconds${min > 0 ? ' > 0' : ' >= 0'}` })
    .int(`expected a whole number of milliseconds${min > 0 ? ' > 0' : ' >= 0'}`)
    .min(min, `expected a whole number of milliseconds${min > 0 ? ' > 0' : ' >= 0'}`)
    .default(fallback);
const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const envSchema = z.object({
  SLACK_BOT_TOKEN: z
    .string()
    .regex(/^xox[bp]-/, 'expected a bot token starting with xoxb-')
    .optional(),
  SLACK_SIGNING_SECRET: z.string().min(8, 'expected the signing secret from the app settings').optional(),
  SLACK_APP_TOKEN: z
    .string()
    .regex(/^xapp-/, 'expected an app-level token starting with xapp-')
    .optional(),
  SLACK_API_URL: url('the Slack Web API base, e.g. https://slack.com/api/').default('https://slack.com/api/'),
  PORT: z.coerce
    .number({ error: 'expected a port 0-65535' })
    .int('expected a port 0-65535')
    .min(0, 'expected a port 0-65535')
    .max(65535, 'expected a port 0-65535')
    .default(3000),
  DATABASE_URL: url('postgres://user@host:5432/db', ['postgres:', 'postgresql:']).optional(),
  FERRY_HOST: z.string().min(1).optional(),
  FERRY_DATA_DIR: z.string().min(1).default('./.ferry'),
  FERRY_PLANS: z.string().min(1).optional(),
  FERRY_CHANNEL: z
    .string()
    .regex(/^[CGD][A-Z0-9]+$/, 'expected a channel id such as C0MIGRATIONS')
    .optional(),
  FERRY_DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]*$/, 'expected a lowercase SQL identifier')
    .default('public'),
  // A lease shorter than a plausible stall (a GC pause, a slow database) would hand a step that is
  // still running to another process; fencing keeps that from counting twice, but not from acting.
  FERRY_LEASE_SECONDS: z.coerce
    .number({ error: 'expected seconds >= 5' })
    .min(5, 'expected seconds >= 5 (shorter leases lapse under load while a step still runs)')
    .default(30),
  FERRY_SHUTDOWN_GRACE_SECONDS: z.coerce
    .number({ error: 'expected seconds >= 0' })
    .min(0, 'expected seconds >= 0')
    .default(20),
  // Socket Mode: a link down this long makes /readyz say not ready, so an orchestrator restarts the process.
  FERRY_SOCKET_DOWN_READY_SECONDS: z.coerce
    .number({ error: 'expected seconds >= 1' })
    .min(1, 'expected seconds >= 1 (Slack refreshes connections; a reconnect takes a moment)')
    .default(60),
  FERRY_SIDEKIQ_HEARTBEAT_MS: millis(10_000),
  FERRY_POLL_INTERVAL_MS: millis(2_000),
  FERRY_STEP_CONCURRENCY: z.coerce
    .number({ error: 'expected a whole number of steps' })
    .int('expected a whole number of steps')
    .positive('expected at least 1 step at a time')
    .default(DEFAULT_STEP_CONCURRENCY),
  FERRY_HTTP_TIMEOUT_MS: millis(10_000),
  FERRY_SLACK_MIN_EDIT_INTERVAL_MS: millis(1_200, 0),
  FERRY_SLACK_EDITS_PER_MINUTE: z.coerce
    .number({ error: 'expected a whole number of edits' })
    .int('expected a whole number of edits')
    .positive('expected at least 1 edit a minute')
    .default(40),
  AWS_REGION: z.string().optional(),
  AWS_ENDPOINT_URL_ROUTE_53: url('a Route 53 endpoint').optional(),
  HEROKU_API_TOKEN: z.string().min(1).optional(),
  HEROKU_API_URL: url('the Heroku Platform API base').default('https://api.heroku.com'),
  LOG_LEVEL: z.enum(logLevels, { error: `expected one of ${logLevels.join(', ')}` }).default('info'),
  FERRY_SANDBOX: z.enum(['0', '1'], { error: 'expected 1 (run the local sandbox) or 0' }).optional(),
  // Both go into URLs, cookies and headers as they are, and must not be guessable.
  FERRY_CONSOLE_TOKEN: z
    .string()
    .regex(/^[A-Za-z0-9_-]{16,}$/, 'expected at least 16 letters, digits, - or _ (e.g. openssl rand -hex 16)')
    .optional(),
  FERRY_METRICS_TOKEN: z
    .string()
    .regex(/^[!-~]{16,}$/, 'expected at least 16 characters without spaces (e.g. openssl rand -hex 16)')
    .optional(),
  NODE_ENV: z.string().optional(),
  FERRY_FAILPOINTS: z
    .string()
    .optional()
    .superRefine((value, ctx) => {
      const parsed = value === undefined ? null : parseFailpoints(value);
      if (parsed && !parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.error });
    }),
});

/** Every variable Ferry reads itself (a plan's `${VAR}`s come on top). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

/** Local mode (no Slack credentials) with DATABASE_URL: refused by loadConfig and by startFerry. */
export const LOCAL_MODE_DATABASE_REFUSAL =
  'DATABASE_URL: set, but no Slack credentials are; the local sandbox never opens a real database. Set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to run against it, or unset DATABASE_URL to run the sandbox on its own embedded one';

/**
 * Problems that involve several variables. Checked on the raw values, apart from the schema: zod
 * skips an object's refinements when any field has the wrong type, which would hide these lines
 * until the other problems were fixed.
 */
function crossProblems(env: Readonly<Record<string, string | undefined>>): string[] {
  const problems: string[] = [];
  const bot = env.SLACK_BOT_TOKEN !== undefined;
  const secret = env.SLACK_SIGNING_SECRET !== undefined;
  const app = env.SLACK_APP_TOKEN !== undefined;
  // Socket Mode needs no signing secret: the socket is authenticated by the app-level token.
  if (bot && !secret && !app) {
    problems.push(
      'SLACK_SIGNING_SECRET: set both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode), or neither for local mode',
    );
  }
  if (secret && !bot) {
    problems.push(
      'SLACK_BOT_TOKEN: set both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET, or neither for local mode',
    );
  }
  if (app && !bot) problems.push('SLACK_APP_TOKEN: Socket Mode also needs SLACK_BOT_TOKEN');
  const local = !bot && !secret && !app;
  // A replica whose Slack secret went missing would otherwise claim real attempts and act on them
  // through the sandbox's fakes. This line alone: FERRY_SANDBOX=1 would not make it start either.
  if (local && env.DATABASE_URL !== undefined) {
    problems.push(LOCAL_MODE_DATABASE_REFUSAL);
  } else if (local && env.NODE_ENV === 'production' && env.FERRY_SANDBOX !== '1') {
    // A production deployment whose token went missing must not quietly turn into the sandbox.
    problems.push(
      'SLACK_BOT_TOKEN: unset in production (NODE_ENV=production); set the Slack credentials, or FERRY_SANDBOX=1 to run the local sandbox on purpose',
    );
  }
  // Failpoints kill the process on purpose: for drills, never for a deployment.
  if (env.FERRY_FAILPOINTS && env.NODE_ENV === 'production') {
    problems.push('FERRY_FAILPOINTS: drills only; unset it in production (NODE_ENV=production)');
  }
  return problems;
}

export interface Config {
  /** local: no Slack credentials, so Ferry serves its own Slack stand-in (the sandbox). */
  mode: 'slack' | 'local';
  slack: {
    botToken: string | undefined;
    signingSecret: string | undefined;
    appToken: string | undefined;
    apiUrl: string;
    minEditIntervalMs: number;
    /**
     * chat.update calls a minute across all runs and every replica, which share the budget through
     * the database (Slack's chat.update is Tier 3, ~50 a minute per workspace).
     */
    editsPerMinute: number;
  };
  port: number;
  /** Address to listen on: all interfaces, except 127.0.0.1 for the local sandbox. */
  host: string | undefined;
  /**
   * What the sandbox console asks for when Ferry listens beyond loopback (FERRY_CONSOLE_TOKEN, else
   * random at each start): the printed URL carries it, and its first visit turns it into a cookie.
   */
  consoleToken: string;
  /** FERRY_METRICS_TOKEN: /metrics asks for it as a bearer token when set. */
  metricsToken: string | undefined;
  databaseUrl: string | undefined;
  dbSchema: string;
  dataDir: string;
  plansPath: string | undefined;
  defaultChannel: string | undefined;
  leaseMs: number;
  /** On SIGTERM, how long steps in flight may take to finish before they are handed back. */
  shutdownGraceMs: number;
  /** Socket Mode: how long the link to Slack may be down before /readyz answers 503. */
  socketDownReadyMs: number;
  aws: { region: string | undefined; route53Endpoint: string | undefined };
  heroku: { apiUrl: string; token: string | undefined };
  sidekiqHeartbeatMs: number;
  pollIntervalMs: number;
  /** Step attempts one process runs at once, waiting ones included (FERRY_STEP_CONCURRENCY). */
  stepConcurrency: number;
  httpTimeoutMs: number;
  logLevel: string;
  /** Failpoint specs (FERRY_FAILPOINTS) where a drill kills the process; empty in normal use. */
  failpoints: string[];
  /** The environment a plan's `${VAR}`s are read from, snapshotted at start. */
  planEnv: Readonly<Record<string, string | undefined>>;
}

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Ferry cannot start:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Parses the environment; throws ConfigError with one line per problem. */
const ownSecrets = new Set([
  'SLACK_BOT_TOKEN',
  'SLACK_SIGNING_SECRET',
  'SLACK_APP_TOKEN',
  'HEROKU_API_TOKEN',
  'FERRY_CONSOLE_TOKEN',
  'FERRY_METRICS_TOKEN',
  // Ferry's own database and cloud credentials: a plan names the app's with variables of its own.
  'DATABASE_URL',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
]);

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const blankToUndefined = Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, v === '' ? undefined : v]),
  );
  const parsed = envSchema.safeParse(blankToUndefined);
  const problems = [
    ...(parsed.success ? [] : parsed.error.issues).map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      const raw = env[name];
      const shown = raw === undefined || /TOKEN|SECRET|URL|KEY|PASSWORD/.test(name) ? '' : ` (got "${raw}")`;
      return `${name}: ${issue.message}${shown}`;
    }),
    ...crossProblems(blankToUndefined),
  ];
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  const e = parsed.data;
  return {
    mode: e.SLACK_BOT_TOKEN ? 'slack' : 'local',
    slack: {
      botToken: e.SLACK_BOT_TOKEN,
      signingSecret: e.SLACK_SIGNING_SECRET,
      appToken: e.SLACK_APP_TOKEN,
      apiUrl: e.SLACK_API_URL,
      minEditIntervalMs: e.FERRY_SLACK_MIN_EDIT_INTERVAL_MS,
      editsPerMinute: e.FERRY_SLACK_EDITS_PER_MINUTE,
    },
    port: e.PORT,
    host: e.FERRY_HOST ?? (e.SLACK_BOT_TOKEN ? undefined : '127.0.0.1'),
    consoleToken: e.FERRY_CONSOLE_TOKEN ?? randomBytes(18).toString('base64url'),
    metricsToken: e.FERRY_METRICS_TOKEN,
    databaseUrl: e.DATABASE_URL,
    dbSchema: e.FERRY_DB_SCHEMA,
    dataDir: e.FERRY_DATA_DIR,
    plansPath: e.FERRY_PLANS,
    defaultChannel: e.FERRY_CHANNEL,
    leaseMs: e.FERRY_LEASE_SECONDS * 1000,
    shutdownGraceMs: e.FERRY_SHUTDOWN_GRACE_SECONDS * 1000,
    socketDownReadyMs: e.FERRY_SOCKET_DOWN_READY_SECONDS * 1000,
    aws: { region: e.AWS_REGION, route53Endpoint: e.AWS_ENDPOINT_URL_ROUTE_53 },
    heroku: { apiUrl: e.HEROKU_API_URL, token: e.HEROKU_API_TOKEN },
    sidekiqHeartbeatMs: e.FERRY_SIDEKIQ_HEARTBEAT_MS,
    pollIntervalMs: e.FERRY_POLL_INTERVAL_MS,
    stepConcurrency: e.FERRY_STEP_CONCURRENCY,
    httpTimeoutMs: e.FERRY_HTTP_TIMEOUT_MS,
    logLevel: e.LOG_LEVEL,
    failpoints: e.FERRY_FAILPOINTS
      ? (parseFailpoints(e.FERRY_FAILPOINTS) as { points: string[] }).points
      : [],
    // Ferry's own credentials are not for plans to read.
    planEnv: Object.fromEntries(Object.entries(env).filter(([name]) => !ownSecrets.has(name))),
  };
}
