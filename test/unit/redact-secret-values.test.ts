import { describe, expect, it } from 'vitest';
import { ferryCredentials, planSecrets, redactText, secretValues } from '../../src/redact.ts';

describe('secretValues', () => {
  const env = {
    BILLING_ADMIN_TOKEN: 'short1',
    DB_PASSWORD: 'hunter2',
    APP: 'billing-staging',
    REGION: 'eu-central-1',
    OPAQUE: 'a8f5f167f44f4964e6c998dee827110c',
    SOURCE_REDIS_URL: 'rediss://:pa55word@redis.example.com:6380/0',
  };

  it('treats values named like secrets, token-shaped values and URL passwords as secrets', () => {
    expect(secretValues(Object.keys(env), env).sort()).toEqual([
      'a8f5f167f44f4964e6c998dee827110c',
      'hunter2',
      'pa55word',
      'short1',
    ]);
  });

  it('keeps ordinary values readable and strips a URL of its credentials instead of hiding it', () => {
    const secrets = secretValues(Object.keys(env), env);
    const message = `billing-staging in eu-central-1 could not reach ${env.SOURCE_REDIS_URL} with token short1`;
    expect(redactText(message, secrets)).toBe(
      'billing-staging in eu-central-1 could not reach rediss://***@redis.example.com:6380/0 with token ***',
    );
  });

  it('cuts a webhook URL whole, whatever its variable is called', () => {
    const hooks = {
      ALERTS_URL: 'https://hooks.slack.com/services/T0001/B0002/XXXXyyyyZZZZ',
      DEPLOY_HOOK: 'https://ci.example.com/webhook/42/abcdef123456',
    };
    const secrets = secretValues(Object.keys(hooks), hooks);
    expect(secrets).toEqual(expect.arrayContaining([hooks.ALERTS_URL, hooks.DEPLOY_HOOK]));
    expect(redactText(`POST ${hooks.ALERTS_URL} and ${hooks.DEPLOY_HOOK}: 500`, secrets)).toBe(
      'POST *** and ***: 500',
    );
  });

  it('cuts a URL named like a secret whole, and knows its password when it is written another way', () => {
    const vars = { CACHE_REDIS_PASSWORD_URL: 'rediss://ferry:p%40ss%2Fw0rd@cache.internal:6380/0' };
    const secrets = secretValues(Object.keys(vars), vars);
    expect(secrets).toEqual(
      expect.arrayContaining([vars.CACHE_REDIS_PASSWORD_URL, 'p%40ss%2Fw0rd', 'p@ss/w0rd']),
    );
    expect(redactText('AUTH failed: p@ss/w0rd', secrets)).toBe('AUTH failed: ***');
  });

  it('takes the values of credential-named query parameters, not of others', () => {
    const vars = { HEALTH_URL: 'https://h.example.com/health?design=blue&sig=abc123&token_type=x' };
    expect(secretValues(Object.keys(vars), vars)).toEqual(['abc123']);
  });

  it('ignores names that are unset or empty', () => {
    expect(secretValues(['MISSING', 'EMPTY_TOKEN'], { EMPTY_TOKEN: '' })).toEqual([]);
  });
});

describe('planSecrets', () => {
  const plan = {
    service: 'billing',
    environments: {
      staging: {
        steps: [
          { id: 'a', provider: { url: '${MAINT_URL}', token: '${MAINT_TOKEN}' } },
          { id: 'b', provider: { token: '${PIN_TOKEN}', app: '${APP}' } },
        ],
      },
    },
  };

  it("collects every plan's secret values and names the variables too short to cut anywhere", () => {
    const env = {
      MAINT_URL: 'https://m.example.com',
      MAINT_TOKEN: 'mt-0123456789',
      PIN_TOKEN: '42',
      APP: 'x',
    };
    expect(planSecrets([{ plan }], env)).toEqual({
      values: ['mt-0123456789', '42'],
      shortNames: ['PIN_TOKEN'],
    });
  });
});

describe('ferryCredentials', () => {
  it("takes Ferry's Slack, Heroku, console, metrics, database and AWS credentials, and nothing unset", () => {
    expect(
      ferryCredentials({
        slack: { botToken: 'xoxb-1', signingSecret: 'sign-secret', appToken: undefined },
        heroku: { token: 'heroku-token' },
        consoleToken: 'console-token',
        metricsToken: undefined,
        databaseUrl: 'postgres://ferry:db-pa55@db.internal/ferry',
        planEnv: { AWS_SECRET_ACCESS_KEY: 'aws-secret', PATH: '/usr/bin' },
      }).sort(),
    ).toEqual(['aws-secret', 'console-token', 'db-pa55', 'heroku-token', 'sign-secret', 'xoxb-1']);
  });
});
