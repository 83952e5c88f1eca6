import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { diffConfig, DotenvSyntaxError, formatDiff, parseDotenv } from '../../src/adapters/env-diff.ts';

/** What `printf %s "$VALUE" | sha256sum | cut -c1-8` prints. */
const sha8 = (value: string) => createHash('sha256').update(value).digest('hex').slice(0, 8);

describe('diffConfig', () => {
  it('reports missing, extra, different and equal keys', () => {
    const diff = diffConfig(
      { A: '1', B: 'same-value', C: 'old-value-1234' },
      { B: 'same-value', C: 'new-value-5678', D: 'x' },
    );
    expect(diff.missing).toEqual([{ key: 'A', sourceKey: 'A' }]);
    expect(diff.extra).toEqual(['D']);
    expect(diff.same).toEqual(['B']);
    expect(diff.changed).toEqual([
      {
        key: 'C',
        sourceKey: 'C',
        detail: `14 chars, sha256 ${sha8('old-value-1234')} vs 14 chars, sha256 ${sha8('new-value-5678')}`,
      },
    ]);
  });

  it('expects a renamed key under its new name, and the old name is not extra', () => {
    const diff = diffConfig(
      { HEROKU_POSTGRESQL_URL: 'postgres://a', REDISCLOUD_URL: 'redis://h:6379' },
      { DATABASE_URL: 'postgres://a' },
      { rename: { HEROKU_POSTGRESQL_URL: 'DATABASE_URL', REDISCLOUD_URL: 'REDIS_URL' } },
    );
    expect(diff.same).toEqual(['DATABASE_URL']);
    expect(diff.missing).toEqual([{ key: 'REDIS_URL', sourceKey: 'REDISCLOUD_URL' }]);
    expect(diff.extra).toEqual([]);
  });

  it('lets a rename supersede a source key of the same name', () => {
    const diff = diffConfig(
      { DATABASE_URL: 'postgres://old', HEROKU_POSTGRESQL_URL: 'postgres://new' },
      { DATABASE_URL: 'postgres://new' },
      { rename: { HEROKU_POSTGRESQL_URL: 'DATABASE_URL' } },
    );
    expect(diff.same).toEqual(['DATABASE_URL']);
    expect(diff.changed).toEqual([]);
    expect(diff.ignored).toEqual(['DATABASE_URL']);
  });

  it('ignores keys by name or glob on both sides', () => {
    const diff = diffConfig(
      { HEROKU_APP_NAME: 'a', HEROKU_SLUG_COMMIT: 'b', PORT: '1', KEEP: 'k' },
      { KEEP: 'k', QOVERY_ENV: 'q' },
      { ignore: ['HEROKU_*', 'PORT', 'QOVERY_*'] },
    );
    expect(diff.missing).toEqual([]);
    expect(diff.extra).toEqual([]);
    expect(diff.same).toEqual(['KEEP']);
    expect(diff.ignored.sort()).toEqual(['HEROKU_APP_NAME', 'HEROKU_SLUG_COMMIT', 'PORT', 'QOVERY_ENV']);
  });

  it('does not let a glob ignore hide a key the plan renames', () => {
    const diff = diffConfig(
      { HEROKU_POSTGRESQL_AMBER_URL: 'postgres://a', HEROKU_APP_NAME: 'x' },
      {},
      { rename: { HEROKU_POSTGRESQL_AMBER_URL: 'DATABASE_URL' }, ignore: ['HEROKU_*'] },
    );
    expect(diff.missing).toEqual([{ key: 'DATABASE_URL', sourceKey: 'HEROKU_POSTGRESQL_AMBER_URL' }]);
    expect(diff.ignored).toEqual(['HEROKU_APP_NAME']);
  });

  it('compares Redis URLs by host, port, TLS and db, not by password', () => {
    const diff = diffConfig(
      {
        REDIS_URL: 'rediss://:old-password-aaaa@ec2-1.compute.amazonaws.com:6380/0',
        CACHE_URL: 'redis://:pw-one-111111@cache.internal:6379/2',
        QUEUE_URL: 'rediss://:pw@q.internal:6380',
      },
      {
        REDIS_URL: 'rediss://:new-password-bbbb@redis.eu-central.example.net:6380/1',
        CACHE_URL: 'redis://:pw-two-222222@cache.internal:6379/2',
        QUEUE_URL: 'redis://:pw@q.internal:6379/0',
      },
    );
    expect(diff.same).toEqual(['CACHE_URL']);
    expect(diff.changed).toEqual([
      { key: 'QUEUE_URL', sourceKey: 'QUEUE_URL', detail: 'port 6380 vs 6379, tls on vs off' },
      { key: 'REDIS_URL', sourceKey: 'REDIS_URL', detail: 'host differs, db 0 vs 1' },
    ]);
  });

  it('counts a target value it cannot read as present but unverified', () => {
    const diff = diffConfig({ SECRET_KEY_BASE: 'abc' }, { SECRET_KEY_BASE: null });
    expect(diff.unverified).toEqual(['SECRET_KEY_BASE']);
    expect(diff.missing).toEqual([]);
  });

  it('is not fooled by keys that exist on Object.prototype', () => {
    const diff = diffConfig({ constructor: 'x', toString: 'y' }, {});
    expect(diff.missing.map((m) => m.key)).toEqual(['constructor', 'toString']);
  });

  it('formats a report that shows no character of any value, only lengths and fingerprints', () => {
    const diff = diffConfig(
      {
        API_KEY: 'sk_live_0123456789abcdef',
        REDIS_URL: 'redis://:hunter2hunter2@a:6379/0',
        GONE: 'gone-secret-value',
      },
      { API_KEY: 'sk_live_fedcba9876543210', REDIS_URL: 'redis://:hunter2hunter2@b:6379/0', NEW: 'x' },
    );
    const text = formatDiff(diff, 'Heroku billing', 'file .env');
    expect(text).toBe(
      [
        'Heroku billing vs file .env: 1 missing, 1 extra, 2 different, 0 the same',
        'missing in the target: GONE',
        `different: API_KEY: 24 chars, sha256 ${sha8('sk_live_0123456789abcdef')} vs 24 chars, sha256 ${sha8('sk_live_fedcba9876543210')}; REDIS_URL: host differs`,
        'only in the target: NEW',
      ].join('\n'),
    );
    for (const secret of ['sk_', 'ef vs', 'hunter2', 'gone-secret-value']) {
      expect(text).not.toContain(secret);
    }
  });
});

describe('parseDotenv', () => {
  it('reads comments, export, quotes, escapes and inline comments', () => {
    const text = [
      '# a comment',
      '',
      'export RAILS_ENV=production',
      'PLAIN = spaced value   # trailing comment',
      "SINGLE='literal \\n $NOT_EXPANDED # not a comment'",
      'DOUBLE="line one\\nline two \\"quoted\\""  # comment',
      'MULTI="first',
      'second"',
      'URL=https://example.com/#anchor',
      'EMPTY=',
      'EMPTY_QUOTED=""',
      '   INDENTED=yes',
      'DUP=first',
      'DUP=second',
      'WINDOWS=crlf\r',
    ].join('\n');
    expect(parseDotenv(text)).toEqual({
      RAILS_ENV: 'production',
      PLAIN: 'spaced value',
      SINGLE: 'literal \\n $NOT_EXPANDED # not a comment',
      DOUBLE: 'line one\nline two "quoted"',
      MULTI: 'first\nsecond',
      URL: 'https://example.com/#anchor',
      EMPTY: '',
      EMPTY_QUOTED: '',
      INDENTED: 'yes',
      DUP: 'second',
      WINDOWS: 'crlf',
    });
  });

  it('names the line of a syntax error without quoting the value', () => {
    const attempt = () => parseDotenv('A=1\nthis is not an assignment\n');
    expect(attempt).toThrow(DotenvSyntaxError);
    expect(attempt).toThrow('line 2: expected KEY=value');
    expect(() => parseDotenv('A=1\nB="never closed secret-value\n')).toThrow(
      'line 2: the value of B opens a " quote that never closes',
    );
  });
});
