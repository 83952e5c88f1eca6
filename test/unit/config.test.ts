import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type Config } from '../../src/config.ts';

const BOT = 'xoxb-1111-2222-SECRETBOTVALUE';
const SIGNING = 'signing-secret-0123456789abcdef';
const APP = 'xapp-1-A111-SECRETAPPVALUE';

function problemsOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

function messageOf(env: Record<string, string | undefined>): string {
  try {
    loadConfig(env);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig defaults', () => {
  it('gives every variable of the README table its documented default when the environment is empty', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      mode: 'local',
      slack: {
        botToken: undefined,
        signingSecret: undefined,
        appToken: undefined,
        apiUrl: 'https://slack.com/api/',
        minEditIntervalMs: 1_200,
        editsPerMinute: 40,
      },
      port: 3000,
      host: '127.0.0.1',
      databaseUrl: undefined,
      dbSchema: 'public',
      dataDir: './.ferry',
      plansPath: undefined,
      defaultChannel: undefined,
      leaseMs: 30_000,
      shutdownGraceMs: 20_000,
      socketDownReadyMs: 60_000,
      aws: { region: undefined, route53Endpoint: undefined },
      heroku: { apiUrl: 'https://api.heroku.com', token: undefined },
      sidekiqHeartbeatMs: 10_000,
      pollIntervalMs: 2_000,
      stepConcurrency: 128,
      httpTimeoutMs: 10_000,
      logLevel: 'info',
      failpoints: [],
      consoleToken: expect.stringMatching(/^[A-Za-z0-9_-]{24}$/) as unknown as string,
      metricsToken: undefined,
    } satisfies Omit<Config, 'planEnv'>);
  });

  it('makes a new console token at each start unless FERRY_CONSOLE_TOKEN sets one', () => {
    expect(loadConfig({}).consoleToken).not.toBe(loadConfig({}).consoleToken);
    const config = loadConfig({
      FERRY_CONSOLE_TOKEN: 'console-token-0123456789',
      FERRY_METRICS_TOKEN: 'metrics/token+0123456789=',
    });
    expect(config.consoleToken).toBe('console-token-0123456789');
    expect(config.metricsToken).toBe('metrics/token+0123456789=');
  });

  it('treats a variable set to the empty string as unset', () => {
    const config = loadConfig({ PORT: '', DATABASE_URL: '', FERRY_DATA_DIR: '', LOG_LEVEL: '' });
    expect(config.port).toBe(3000);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.dataDir).toBe('./.ferry');
    expect(config.logLevel).toBe('info');
  });

  it('parses every variable of the README table when it is set', () => {
    const config = loadConfig({
      SLACK_BOT_TOKEN: BOT,
      SLACK_SIGNING_SECRET: SIGNING,
      SLACK_API_URL: 'http://127.0.0.1:9999/api/',
      PORT: '8080',
      DATABASE_URL: 'postgres://ferry:pw@db.internal:5432/ferry',
      FERRY_DATA_DIR: '/var/lib/ferry',
      FERRY_PLANS: '/etc/ferry/plans',
      FERRY_CHANNEL: 'C0MIGRATIONS',
      AWS_REGION: 'eu-central-1',
      AWS_ENDPOINT_URL_ROUTE_53: 'http://127.0.0.1:4566',
      HEROKU_API_TOKEN: 'heroku-token-value',
      HEROKU_API_URL: 'http://127.0.0.1:5000',
      LOG_LEVEL: 'debug',
      FERRY_DB_SCHEMA: 'ferry_prod',
      FERRY_LEASE_SECONDS: '7.5',
      FERRY_SHUTDOWN_GRACE_SECONDS: '0',
      FERRY_SOCKET_DOWN_READY_SECONDS: '90',
      FERRY_SIDEKIQ_HEARTBEAT_MS: '50',
      FERRY_POLL_INTERVAL_MS: '5',
      FERRY_STEP_CONCURRENCY: '40',
      FERRY_HTTP_TIMEOUT_MS: '1500',
      FERRY_SLACK_MIN_EDIT_INTERVAL_MS: '0',
    });
    expect(config).toMatchObject({
      mode: 'slack',
      slack: {
        botToken: BOT,
        signingSecret: SIGNING,
        appToken: undefined,
        apiUrl: 'http://127.0.0.1:9999/api/',
        minEditIntervalMs: 0,
      },
      port: 8080,
      databaseUrl: 'postgres://ferry:pw@db.internal:5432/ferry',
      dbSchema: 'ferry_prod',
      dataDir: '/var/lib/ferry',
      plansPath: '/etc/ferry/plans',
      defaultChannel: 'C0MIGRATIONS',
      leaseMs: 7_500,
      shutdownGraceMs: 0,
      socketDownReadyMs: 90_000,
      aws: { region: 'eu-central-1', route53Endpoint: 'http://127.0.0.1:4566' },
      heroku: { apiUrl: 'http://127.0.0.1:5000', token: 'heroku-token-value' },
      sidekiqHeartbeatMs: 50,
      pollIntervalMs: 5,
      stepConcurrency: 40,
      httpTimeoutMs: 1_500,
      logLevel: 'debug',
    });
  });

  it('snapshots the whole environment for plan ${VAR}s, so later changes to it do not leak in', () => {
    const env: Record<string, string | undefined> = { SOURCE_REDIS_URL: 'redis://127.0.0.1:6379/0' };
    const config = loadConfig(env);
    env.SOURCE_REDIS_URL = 'redis://changed';
    expect(config.planEnv.SOURCE_REDIS_URL).toBe('redis://127.0.0.1:6379/0');
  });
});

describe('loadConfig modes', () => {
  it('runs in local mode when no Slack credentials are set at all', () => {
    expect(loadConfig({ PORT: '0' }).mode).toBe('local');
  });

  it('runs in Slack HTTP mode with a bot token and a signing secret', () => {
    const config = loadConfig({ SLACK_BOT_TOKEN: BOT, SLACK_SIGNING_SECRET: SIGNING });
    expect(config.mode).toBe('slack');
    expect(config.slack.appToken).toBeUndefined();
  });

  it('configures Socket Mode when SLACK_APP_TOKEN is set with the bot token', () => {
    const config = loadConfig({ SLACK_BOT_TOKEN: BOT, SLACK_SIGNING_SECRET: SIGNING, SLACK_APP_TOKEN: APP });
    expect(config.mode).toBe('slack');
    expect(config.slack).toMatchObject({ botToken: BOT, appToken: APP });
  });

  it('does not ask for a signing secret in Socket Mode, where requests are not signed', () => {
    const config = loadConfig({ SLACK_BOT_TOKEN: BOT, SLACK_APP_TOKEN: APP });
    expect(config.mode).toBe('slack');
    expect(config.slack.signingSecret).toBeUndefined();
  });

  it('refuses a bot token without a signing secret in HTTP mode', () => {
    const problems = problemsOf({ SLACK_BOT_TOKEN: BOT });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^SLACK_SIGNING_SECRET: set both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET/);
  });

  it('refuses a signing secret without a bot token', () => {
    const problems = problemsOf({ SLACK_SIGNING_SECRET: SIGNING });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^SLACK_BOT_TOKEN: set both SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET/);
  });

  it('refuses an app-level token without a bot token', () => {
    expect(problemsOf({ SLACK_APP_TOKEN: APP })).toEqual([
      'SLACK_APP_TOKEN: Socket Mode also needs SLACK_BOT_TOKEN',
    ]);
  });
});

describe('loadConfig problems', () => {
  const bad: Array<[string, string, RegExp]> = [
    ['PORT', 'eighty', /expected a port 0-65535/],
    ['PORT', '70000', /expected a port 0-65535/],
    ['PORT', '-1', /expected a port 0-65535/],
    ['PORT', '80.5', /expected a port 0-65535/],
    ['SLACK_API_URL', 'slack dot com', /expected a URL/],
    ['DATABASE_URL', 'localhost', /expected a URL/],
    ['FERRY_CHANNEL', '#migrations', /expected a channel id such as C0MIGRATIONS/],
    ['FERRY_DB_SCHEMA', 'Ferry-Prod', /expected a lowercase SQL identifier/],
    ['FERRY_LEASE_SECONDS', '0', /expected seconds >= 5/],
    ['FERRY_LEASE_SECONDS', '2', /expected seconds >= 5 \(shorter leases lapse under load/],
    ['FERRY_LEASE_SECONDS', 'soon', /expected seconds >= 5/],
    ['FERRY_SHUTDOWN_GRACE_SECONDS', '-1', /expected seconds >= 0/],
    ['FERRY_SHUTDOWN_GRACE_SECONDS', 'forever', /expected seconds >= 0/],
    ['FERRY_SIDEKIQ_HEARTBEAT_MS', '10s', /expected a whole number of milliseconds > 0/],
    ['FERRY_POLL_INTERVAL_MS', '0', /expected a whole number of milliseconds > 0/],
    ['FERRY_STEP_CONCURRENCY', '0', /expected at least 1 step at a time/],
    ['FERRY_STEP_CONCURRENCY', '2.5', /expected a whole number of steps/],
    ['FERRY_HTTP_TIMEOUT_MS', '1.5', /expected a whole number of milliseconds > 0/],
    ['FERRY_SLACK_MIN_EDIT_INTERVAL_MS', '-5', /expected a whole number of milliseconds >= 0/],
    ['AWS_ENDPOINT_URL_ROUTE_53', 'route53', /expected a URL/],
    ['HEROKU_API_URL', 'api.heroku.com', /expected a URL/],
    ['LOG_LEVEL', 'loud', /expected one of fatal, error, warn, info, debug, trace, silent/],
    ['SLACK_BOT_TOKEN', 'not-a-token', /expected a bot token starting with xoxb-/],
    ['SLACK_SIGNING_SECRET', 'short', /expected the signing secret/],
    ['SLACK_APP_TOKEN', 'xoxb-wrong-kind', /expected an app-level token starting with xapp-/],
    ['FERRY_CONSOLE_TOKEN', 'short', /expected at least 16 letters, digits, - or _/],
    ['FERRY_CONSOLE_TOKEN', 'has spaces and is long enough', /expected at least 16 letters, digits, - or _/],
    ['FERRY_METRICS_TOKEN', 'short', /expected at least 16 characters without spaces/],
    [
      'FERRY_METRICS_TOKEN',
      'has spaces and is long enough',
      /expected at least 16 characters without spaces/,
    ],
  ];

  it.each(bad)(
    'stops start-up on %s=%s with one line naming it and what is expected',
    (name, value, expected) => {
      // Keep the Slack pair complete so that only the value under test is wrong (local mode refuses
      // any DATABASE_URL).
      const slack =
        name === 'SLACK_BOT_TOKEN' ||
        name === 'SLACK_SIGNING_SECRET' ||
        name === 'SLACK_APP_TOKEN' ||
        name === 'DATABASE_URL'
          ? { SLACK_BOT_TOKEN: BOT, SLACK_SIGNING_SECRET: SIGNING }
          : {};
      const problems = problemsOf({ ...slack, [name]: value });
      expect(problems).toHaveLength(1);
      expect(problems[0]!.startsWith(`${name}: `)).toBe(true);
      expect(problems[0]).toMatch(expected);
      // zod's own wording ("Invalid input: expected number, received NaN") tells an operator nothing.
      expect(problems[0]).not.toMatch(/Invalid input|received NaN|Too small|Too big/);
    },
  );

  it('shows the offending value of a non-secret variable', () => {
    expect(problemsOf({ PORT: 'eighty' })).toEqual(['PORT: expected a port 0-65535 (got "eighty")']);
  });

  it('reports several bad values as several lines, one per variable, in one error', () => {
    const error = messageOf({ PORT: 'x', LOG_LEVEL: 'loud', FERRY_CHANNEL: 'general' });
    const lines = error.split('\n');
    expect(lines[0]).toBe('Ferry cannot start:');
    expect(lines.slice(1).map((l) => l.trim().split(':')[0])).toEqual(['PORT', 'FERRY_CHANNEL', 'LOG_LEVEL']);
  });

  it('reports the Slack pair together with a malformed value instead of hiding one behind the other', () => {
    const problems = problemsOf({ SLACK_BOT_TOKEN: BOT, PORT: 'x' });
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['PORT', 'SLACK_SIGNING_SECRET']);
  });

  it('never echoes a token, a secret or a URL with credentials in the error', () => {
    const secrets = {
      SLACK_BOT_TOKEN: 'xoxq-not-valid-SUPERSECRET1',
      SLACK_SIGNING_SECRET: 'SECRET2',
      SLACK_APP_TOKEN: 'app-SUPERSECRET3',
      DATABASE_URL: 'user:SUPERSECRET4@nohost',
      HEROKU_API_URL: 'x:SUPERSECRET5',
      AWS_ENDPOINT_URL_ROUTE_53: 'SUPERSECRET6',
      SLACK_API_URL: 'SUPERSECRET7',
    };
    const message = messageOf(secrets);
    expect(message.split('\n')).toHaveLength(1 + Object.keys(secrets).length);
    for (const value of Object.values(secrets)) expect(message).not.toContain(value);
    expect(message).not.toMatch(/SUPERSECRET|SECRET2/);
  });
});

describe('process.env', () => {
  it('is read by src/config.ts and by no other file under src/', async () => {
    const root = path.resolve(import.meta.dirname, '../../src');
    const files = (await readdir(root, { recursive: true, withFileTypes: true }))
      .filter((d) => d.isFile() && /\.(ts|js|mjs|cjs)$/.test(d.name))
      .map((d) => path.join(d.parentPath, d.name));
    expect(files.length).toBeGreaterThan(20);
    const readers: string[] = [];
    for (const file of files) {
      const code = (await readFile(file, 'utf8'))
        // Comments may mention it ("adapters never read process.env"); only code counts.
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/(^|[^:])\/\/.*$/gm, '$1');
      if (/process\s*(\.\s*env\b|\[\s*['"`]env['"`]\s*\])|\{\s*env\s*\}\s*=\s*process\b/.test(code)) {
        readers.push(path.relative(root, file));
      }
    }
    expect(readers).toEqual(['config.ts']);
  });
});

describe('local mode in production', () => {
  it('refuses to turn a production deployment whose Slack token went missing into the sandbox', () => {
    expect(() => loadConfig({ NODE_ENV: 'production', SLACK_BOT_TOKEN: '' })).toThrow(
      /SLACK_BOT_TOKEN: unset in production \(NODE_ENV=production\); set the Slack credentials, or FERRY_SANDBOX=1/,
    );
  });

  it('refuses DATABASE_URL without Slack credentials: local mode never opens a real database', () => {
    // A replica whose Slack secret went missing, NODE_ENV unset: not the sandbox on production data.
    const refusal =
      'DATABASE_URL: set, but no Slack credentials are; the local sandbox never opens a real database. Set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to run against it, or unset DATABASE_URL to run the sandbox on its own embedded one';
    expect(problemsOf({ DATABASE_URL: 'postgres://ferry@db.internal:5432/ferry' })).toEqual([refusal]);
    // One line, not also the production one: FERRY_SANDBOX=1 would not make this start either.
    for (const env of [{ NODE_ENV: 'production' }, { NODE_ENV: 'production', FERRY_SANDBOX: '1' }]) {
      expect(problemsOf({ ...env, DATABASE_URL: 'postgres://ferry@db.internal:5432/ferry' })).toEqual([
        refusal,
      ]);
    }
    expect(loadConfig({ DATABASE_URL: '' }).mode).toBe('local');
  });

  it('runs the sandbox in production only when asked to on purpose', () => {
    expect(loadConfig({ NODE_ENV: 'production', FERRY_SANDBOX: '1' }).mode).toBe('local');
  });

  it('keeps Ferry’s own credentials from the variables plans may read', () => {
    const config = loadConfig({
      SLACK_BOT_TOKEN: 'xoxb-1',
      SLACK_SIGNING_SECRET: 'sign-secret',
      HEROKU_API_TOKEN: 'h',
      FERRY_METRICS_TOKEN: 'metrics-token-0123456789',
      DATABASE_URL: 'postgres://ferry:pw@db.internal:5432/ferry',
      AWS_ACCESS_KEY_ID: 'AKIAFERRY',
      AWS_SECRET_ACCESS_KEY: 'aws-secret',
      AWS_SESSION_TOKEN: 'aws-session',
      APP: 'billing',
    });
    expect(config.planEnv).toEqual({ APP: 'billing' });
    expect(loadConfig({ FERRY_CONSOLE_TOKEN: 'console-token-0123456789' }).planEnv).toEqual({});
  });
});
