import { describe, expect, it } from 'vitest';
import { maskValue, redactText, redactUrl } from '../../src/redact.ts';

describe('redactUrl', () => {
  it.each([
    ['rediss://user:pass@host:6380/0', 'rediss://***@host:6380/0'],
    ['redis://:pass@h', 'redis://***@h'],
    ['postgres://ferry:s3cr3t@db.internal:5432/billing', 'postgres://***@db.internal:5432/billing'],
    ['postgresql://ferry@db/billing', 'postgresql://***@db/billing'],
    [
      'https://admin:hunter2@billing.example.com/admin/maintenance',
      'https://***@billing.example.com/admin/maintenance',
    ],
  ])('removes the credentials of %s', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });

  it('removes a password with a raw @ in it whole', () => {
    expect(redactUrl('redis://u:p@ss@host:6379/0')).toBe('redis://***@host:6379/0');
  });

  it('redacts every URL inside a sentence and leaves the rest alone', () => {
    expect(
      redactUrl(
        'could not reach redis://u:secret@h1:6379/0 nor postgres://v:other@h2/db (mail ops@example.com)',
      ),
    ).toBe('could not reach redis://***@h1:6379/0 nor postgres://***@h2/db (mail ops@example.com)');
  });

  it('leaves URLs without credentials and plain text as they are', () => {
    for (const text of [
      'https://billing.example.com/healthz',
      'redis://127.0.0.1:6379/0',
      'no url here',
      '',
    ]) {
      expect(redactUrl(text)).toBe(text);
    }
  });

  it('does not take an @ in a query string for credentials of the next URL', () => {
    expect(redactUrl('https://example.com/a?x=1 then https://u:pw@h/b')).toBe(
      'https://example.com/a?x=1 then https://***@h/b',
    );
  });
});

describe('redactText', () => {
  it('masks Slack bot, user and app-level tokens', () => {
    const text = 'xoxb-1234-5678-abcdEFGH and xoxp-1-2-3 and xapp-1-A0-99-ffff';
    const out = redactText(text);
    expect(out).toBe('*** and *** and ***');
  });

  it('masks Bearer and Token credentials but keeps the scheme word', () => {
    expect(redactText('Authorization: Bearer eyJhbGciOi.J9.abc-_')).toBe('Authorization: Bearer ***');
    expect(redactText('header was "Bearer abc123"')).toBe('header was "Bearer ***"');
    expect(redactText('Token 0123456789abcdef rejected')).toBe('Token *** rejected');
  });

  it('leaves the word "token" in ordinary sentences alone', () => {
    expect(redactText('invalid token provided; the token expired')).toBe(
      'invalid token provided; the token expired',
    );
  });

  it('masks AWS access key ids', () => {
    expect(
      redactText('The security token included in the request is invalid (AKIAABCDEFGHIJKLMNOP)'),
    ).not.toContain('AKIAABCDEFGHIJKLMNOP');
  });

  it('masks sensitive query parameters of URLs quoted in a message', () => {
    expect(redactText('GET https://h/p?page=2&token=abc123&api_key=zzz&sig=xyz#top failed')).toBe(
      'GET https://h/p?page=2&token=***&api_key=***&sig=***#top failed',
    );
  });

  it('removes explicit secrets wherever they appear', () => {
    const secret = 'plan-env-value-9f8e7d';
    expect(redactText(`the server echoed ${secret} back (${secret})`, [secret])).toBe(
      'the server echoed *** back (***)',
    );
  });

  it('ignores explicit secrets shorter than four characters, which would shred ordinary words', () => {
    expect(redactText('a bad request', ['a', 'ba'])).toBe('a bad request');
  });

  it('treats explicit secrets literally, not as patterns', () => {
    expect(redactText('value is a.b*c+d and abxc', ['a.b*c+d'])).toBe('value is *** and abxc');
  });

  it('redacts URL credentials, tokens and secrets together', () => {
    const out = redactText('redis://u:secret@h failed with xoxb-1-2 and Bearer qqq; hunter22', ['hunter22']);
    expect(out).toBe('redis://***@h failed with *** and Bearer ***; ***');
    expect(out).not.toMatch(/secret@|xoxb-1|qqq|hunter22/);
  });
});

describe('maskValue', () => {
  it('keeps the first and last two characters of a long value', () => {
    expect(maskValue('sk_live_0123456789')).toBe('sk************89');
    expect(maskValue('abcdefghi')).toBe('ab*****hi');
  });

  it('caps the stars so the length of a long secret does not show', () => {
    expect(maskValue('x'.repeat(100))).toBe(`xx${'*'.repeat(12)}xx`);
  });

  it('hides a short value entirely, with at least three stars', () => {
    expect(maskValue('12345678')).toBe('********');
    expect(maskValue('ab')).toBe('***');
    expect(maskValue('')).toBe('***');
  });

  it('tells two different long values apart', () => {
    expect(maskValue('old-value-1234')).not.toBe(maskValue('new-value-5678'));
  });
});
