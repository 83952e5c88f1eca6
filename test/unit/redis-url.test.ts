import { describe, expect, it } from 'vitest';
import { StepError } from '../../src/errors.ts';
import { describeRedisUrl, parseRedisUrl } from '../../src/adapters/redis-url.ts';

describe('parseRedisUrl', () => {
  it.each([
    [
      'rediss://user:pass@host.example.com:6380/0',
      { host: 'host.example.com', port: 6380, tls: true, db: 0, username: 'user', password: 'pass' },
    ],
    ['redis://:pass@h:6379', { host: 'h', port: 6379, tls: false, db: 0, password: 'pass' }],
    [
      'rediss://:p4ss@ec2-1-2-3-4.compute-1.amazonaws.com:21170',
      { host: 'ec2-1-2-3-4.compute-1.amazonaws.com', port: 21170, tls: true, db: 0, password: 'p4ss' },
    ],
    ['redis://127.0.0.1', { host: '127.0.0.1', port: 6379, tls: false, db: 0 }],
    ['redis://127.0.0.1/', { host: '127.0.0.1', port: 6379, tls: false, db: 0 }],
    ['redis://localhost:6379/7', { host: 'localhost', port: 6379, tls: false, db: 7 }],
    ['redis://user@h/2', { host: 'h', port: 6379, tls: false, db: 2, username: 'user' }],
    ['redis://[::1]:7000/3', { host: '::1', port: 7000, tls: false, db: 3 }],
    ['redis://:p%40ss%3Aw0rd@h:1', { host: 'h', port: 1, tls: false, db: 0, password: 'p@ss:w0rd' }],
  ])('parses %s', (url, expected) => {
    expect(parseRedisUrl(url)).toStrictEqual(expected);
  });

  it("treats an empty user (Heroku's rediss://:password@host) as no user at all", () => {
    const target = parseRedisUrl('rediss://:secret@host:1234');
    expect(target.username).toBeUndefined();
    expect('username' in target).toBe(false);
    expect(target.password).toBe('secret');
  });

  it.each([
    ['http://:s3cretpw@host:6379', /scheme "http"/],
    ['postgres://u:s3cretpw@host/1', /scheme "postgres"/],
    ['redis://:s3cretpw@host:6379/abc', /"\/abc" where a database number/],
    ['redis://:s3cretpw@host:6379/-1', /where a database number/],
    ['redis://:s3cretpw@host:6379/1/2', /where a database number/],
    ['redis://:s3cretpw@host:99999', /not a valid URL/],
    ['not a url s3cretpw', /not a valid URL/],
    ['redis://:s3cretpw@', /not a valid URL|no host/],
    ['', /is empty/],
  ])('rejects %j, saying what is wrong without the password', (url, problem) => {
    let caught: unknown;
    try {
      parseRedisUrl(url);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(StepError);
    const error = caught as StepError;
    expect(error.message).toMatch(problem);
    expect(error.message).toMatch(/expected redis:\/\//);
    expect(error.retryable).toBe(false);
    expect(error.message).not.toContain('s3cretpw');
  });

  it('keeps an unencoded @ inside a password out of error messages', () => {
    expect(() => parseRedisUrl('redis://:pa@ss@host:6379/xyz')).toThrow(StepError);
    try {
      parseRedisUrl('redis://:pa@ss@host:6379/xyz');
    } catch (error) {
      expect((error as Error).message).not.toMatch(/pa@ss|pa%40ss/);
      expect((error as Error).message).toContain('host:6379');
    }
  });
});

describe('describeRedisUrl', () => {
  it.each([
    ['rediss://user:pass@host:6380/0', 'rediss://***@host:6380/0'],
    ['redis://:pass@h', 'redis://***@h:6379/0'],
    ['redis://127.0.0.1:6379/4', 'redis://127.0.0.1:6379/4'],
    ['redis://[::1]:7000', 'redis://[::1]:7000/0'],
  ])('%s -> %s', (url, expected) => {
    expect(describeRedisUrl(url)).toBe(expected);
  });

  it('hides credentials even in a URL it cannot parse', () => {
    const shown = describeRedisUrl('ftp://admin:hunter22@files.example.com/x');
    expect(shown).not.toContain('hunter22');
    expect(shown).not.toContain('admin');
    expect(shown).toContain('files.example.com');
    expect(describeRedisUrl('redis://:hunter22@host:6379/zz?x=1')).not.toContain('hunter22');
  });
});
