import { z } from 'zod';

// The only module that reads process.env (CONVENTIONS.md): parsed once at start into a typed object
// that is passed down. A bad value stops start-up with one line per problem.

const url = (what: string) =>
  z.string().refine((v) => URL.canParse(v), { message: `expected a URL (${what})` });

const envSchema = z
  .object({
    SLACK_BOT_TOKEN: z
      .string()
      .regex(/^xox[bp]-/, 'expected a bot token starting with xoxb-')
      .optional(),
    SLACK_SIGNING_SECRET: z.string().min(8, 'expected the signing secret from the app settings').optional(),
    SLACK_APP_TOKEN: z
      .string()
      .regex(/^xapp-/, 'expected an app-level token starting with xapp-')
      .optional(),
    SLACK_API_URL: url('the Slack Web API base, e.g. https://slack.com/api/').default(
      'https://slack.com/api/',
    ),
    PORT: z.coerce
      .number()
      .int('expected a whole number')
      .min(0)
      .max(65535, 'expected a port 0-65535')
      .default(3000),
    DATABASE_URL: url('postgres://user@host:5432/db').optional(),
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
    FERRY_LEASE_SECONDS: z.coerce.number().positive('expected seconds > 0').default(30),
    FERRY_SIDEKIQ_HEARTBEAT_MS: z.coerce.number().int().positive().default(10_000),
    FERRY_POLL_INTERVAL_MS: z.coerce.number().int().positive().default(2_000),
    FERRY_HTTP_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
    FERRY_SLACK_MIN_EDIT_INTERVAL_MS: z.coerce.number().int().min(0).default(1_200),
    AWS_REGION: z.string().optional(),
    AWS_ENDPOINT_URL_ROUTE_53: url('a Route 53 endpoint').optional(),
    HEROKU_API_TOKEN: z.string().min(1).optional(),
    HEROKU_API_URL: url('the Heroku Platform API base').default('https://api.heroku.com'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((env, ctx) => {
    const slack = [env.SLACK_BOT_TOKEN, env.SLACK_SIGNING_SECRET].filter(Boolean).length;
    if (slack === 1) {
      ctx.addIssue({
        code: 'custom',
        path: [env.SLACK_BOT_TOKEN ? 'SLACK_SIGNING_SECRET' : 'SLACK_BOT_TOKEN'],
        message: 'set both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET, or neither for local mode',
      });
    }
    if (env.SLACK_APP_TOKEN && !env.SLACK_BOT_TOKEN) {
      ctx.addIssue({
        code: 'custom',
        path: ['SLACK_APP_TOKEN'],
        message: 'Socket Mode also needs SLACK_BOT_TOKEN',
      });
    }
  });

export interface Config {
  /** local: no Slack credentials, so Ferry serves its own Slack stand-in (the sandbox). */
  mode: 'slack' | 'local';
  slack: {
    botToken: string | undefined;
    signingSecret: string | undefined;
    appToken: string | undefined;
    apiUrl: string;
    minEditIntervalMs: number;
  };
  port: number;
  databaseUrl: string | undefined;
  dbSchema: string;
  dataDir: string;
  plansPath: string | undefined;
  defaultChannel: string | undefined;
  leaseMs: number;
  aws: { region: string | undefined; route53Endpoint: string | undefined };
  heroku: { apiUrl: string; token: string | undefined };
  sidekiqHeartbeatMs: number;
  pollIntervalMs: number;
  httpTimeoutMs: number;
  logLevel: string;
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
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const blankToUndefined = Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, v === '' ? undefined : v]),
  );
  const parsed = envSchema.safeParse(blankToUndefined);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? 'environment');
        const raw = env[name];
        const shown = raw === undefined || /TOKEN|SECRET|URL/.test(name) ? '' : ` (got "${raw}")`;
        return `${name}: ${issue.message}${shown}`;
      }),
    );
  }
  const e = parsed.data;
  return {
    mode: e.SLACK_BOT_TOKEN ? 'slack' : 'local',
    slack: {
      botToken: e.SLACK_BOT_TOKEN,
      signingSecret: e.SLACK_SIGNING_SECRET,
      appToken: e.SLACK_APP_TOKEN,
      apiUrl: e.SLACK_API_URL,
      minEditIntervalMs: e.FERRY_SLACK_MIN_EDIT_INTERVAL_MS,
    },
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    dbSchema: e.FERRY_DB_SCHEMA,
    dataDir: e.FERRY_DATA_DIR,
    plansPath: e.FERRY_PLANS,
    defaultChannel: e.FERRY_CHANNEL,
    leaseMs: e.FERRY_LEASE_SECONDS * 1000,
    aws: { region: e.AWS_REGION, route53Endpoint: e.AWS_ENDPOINT_URL_ROUTE_53 },
    heroku: { apiUrl: e.HEROKU_API_URL, token: e.HEROKU_API_TOKEN },
    sidekiqHeartbeatMs: e.FERRY_SIDEKIQ_HEARTBEAT_MS,
    pollIntervalMs: e.FERRY_POLL_INTERVAL_MS,
    httpTimeoutMs: e.FERRY_HTTP_TIMEOUT_MS,
    logLevel: e.LOG_LEVEL,
    planEnv: { ...env },
  };
}
