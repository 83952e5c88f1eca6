import { describe, expect, it } from 'vitest';
import { redactText, secretValues } from '../../src/redact.ts';

describe('secretValues', () => {
  const env = {
    BILLING_ADMIN_TOKEN: 'short1',
    DB_PASSWORD: 'hunter2',
    APP: 'billing-staging',
    REGION: 'eu-central-1',
    OPAQUE: 'a8f5f167f44f4964e6c998dee827110c',
    SOURCE_REDIS_URL: 'rediss://:pa55word@redis.example.com:6380/0',
  };

  it('treats values named like secrets, and token-shaped values, as secrets', () => {
    expect(secretValues(Object.keys(env), env).sort()).toEqual([
      'a8f5f167f44f4964e6c998dee827110c',
      'hunter2',
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

  it('ignores names that are unset or empty', () => {
    expect(secretValues(['MISSING', 'EMPTY_TOKEN'], { EMPTY_TOKEN: '' })).toEqual([]);
  });
});
