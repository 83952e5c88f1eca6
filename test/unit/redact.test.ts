import { describe, expect, it } from 'vitest';
import { fingerprint, MASK, redactText, redactUrl, Redactor } from '../../src/redact.ts';

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

  it('removes a password holding / up to the last @ before the host', () => {
    expect(redactUrl('redis://:p@ss/word@host:6379/0 refused')).toBe('redis://***@host:6379/0 refused');
    expect(redactUrl('redis://u:pa/ss@host')).toBe('redis://***@host');
    expect(redactUrl('redis://u:p?ss#w@host/0')).toBe('redis://***@host/0');
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
      'https://h/p?email=a@b.com',
      'https://www.npmjs.com/package/@slack/bolt',
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

  it('cuts the credential path of a Slack webhook and of /webhook/…/<token> URLs', () => {
    expect(redactUrl('posting to https://hooks.slack.com/services/T0001/B0002/XXXXyyyyZZZZ failed')).toBe(
      'posting to https://hooks.slack.com/services/*** failed',
    );
    expect(redactUrl('https://alerts.example.com/api/webhook/1234/s3cr3t-t0ken?x=1')).toBe(
      'https://alerts.example.com/api/webhook/***?x=1',
    );
    expect(redactUrl('https://discord.com/api/webhooks/123/abc-DEF')).toBe(
      'https://discord.com/api/webhooks/***',
    );
  });

  it('cuts access_token and id_token in a URL fragment', () => {
    expect(
      redactUrl('https://app.example.com/cb#access_token=ya29.abc&token_type=Bearer&expires_in=3600'),
    ).toBe('https://app.example.com/cb#access_token=***&token_type=Bearer&expires_in=3600');
    expect(redactUrl('https://app.example.com/cb#id_token=eyJabc.def.ghi')).toBe(
      'https://app.example.com/cb#id_token=***',
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

  it('masks an Authorization header of any scheme, and Proxy-Authorization', () => {
    expect(redactText('Authorization: Basic dXNlcjpwYXNz')).toBe('Authorization: Basic ***');
    expect(redactText('proxy-authorization: Negotiate YIIabc== was refused')).toBe(
      'proxy-authorization: Negotiate *** was refused',
    );
    expect(redactText('Authorization: sk_abcdef')).toBe('Authorization: ***');
    expect(redactText('{"headers":{"authorization":"Basic dXNlcjpwYXNz","accept":"*/*"}}')).toBe(
      '{"headers":{"authorization":"Basic ***","accept":"*/*"}}',
    );
  });

  it('masks password=, passwd= and pwd= in DSNs and key-value text, and nothing else', () => {
    expect(redactText('host=db.internal port=5432 password=s3cr3t! dbname=billing')).toBe(
      'host=db.internal port=5432 password=*** dbname=billing',
    );
    expect(redactText("host=db passwd='two words' user=ferry")).toBe("host=db passwd='***' user=ferry");
    // The value runs to the next space: more than the password in a `;`-separated string, never less.
    expect(redactText('Server=db;Uid=ferry;Pwd=hunter2;Database=x')).toBe('Server=db;Uid=ferry;Pwd=***');
    expect(redactText('password: hunter2')).toBe('password: ***');
    expect(redactText('FATAL: password authentication failed for user "ferry"')).toBe(
      'FATAL: password authentication failed for user "ferry"',
    );
  });

  it('masks x-api-key and other *-key / *-token / *-secret headers', () => {
    expect(redactText('x-api-key: 9f8e7d6c5b4a')).toBe('x-api-key: ***');
    expect(redactText('X-Auth-Token: abc123\nPRIVATE-TOKEN: glpat-xyz')).toBe(
      'X-Auth-Token: ***\nPRIVATE-TOKEN: ***',
    );
    expect(redactText('{"X-Api-Key":"k-123","x-request-id":"r1"}')).toBe(
      '{"X-Api-Key":"***","x-request-id":"r1"}',
    );
  });

  it('masks Cookie and Set-Cookie values', () => {
    expect(redactText('Set-Cookie: session=abc123; Path=/; HttpOnly')).toBe('Set-Cookie: ***');
    expect(redactText('cookie: a=1; b=2\nnext line')).toBe('cookie: ***\nnext line');
  });

  it('masks JSON fields named like secrets, whatever their value', () => {
    expect(redactText('{"user":"ferry","password":"p\\"w","api_key":12345,"client_secret":"x"}')).toBe(
      '{"user":"ferry","password":"***","api_key":"***","client_secret":"***"}',
    );
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

  it('removes an explicit secret in its URL-encoded and JSON-escaped spellings too', () => {
    const secret = 'p@ss "w/rd"';
    expect(redactText(`?x=${encodeURIComponent(secret)} and ${JSON.stringify(secret)}`, [secret])).toBe(
      '?x=*** and "***"',
    );
  });

  it('cuts a secret shorter than four characters where it stands as a word, never inside one', () => {
    expect(redactText('a bad request', ['ba'])).toBe('a bad request');
    expect(redactText('the key is x9, not x90 or ax9', ['x9'])).toBe('the key is ***, not x90 or ax9');
    expect(redactText('pin "123" then 1234', ['123'])).toBe('pin "***" then 1234');
  });

  it('treats explicit secrets literally, not as patterns', () => {
    expect(redactText('value is a.b*c+d and abxc', ['a.b*c+d'])).toBe('value is *** and abxc');
  });

  it('cuts a URL-valued secret whole', () => {
    const hook = 'https://hooks.slack.com/services/T0001/B0002/XXXXyyyyZZZZ';
    expect(redactText(`could not post to ${hook}: 404`, [hook])).toBe('could not post to ***: 404');
  });

  it('redacts URL credentials, tokens and secrets together', () => {
    const out = redactText('redis://u:secret@h failed with xoxb-1-2 and Bearer qqq; hunter22', ['hunter22']);
    expect(out).toBe('redis://***@h failed with *** and Bearer ***; ***');
    expect(out).not.toMatch(/secret@|xoxb-1|qqq|hunter22/);
  });

  it('drops NUL bytes, which Postgres refuses', () => {
    expect(redactText('a\u0000b')).toBe('ab');
  });
});

describe('Redactor', () => {
  it('cuts secrets added after it was made', () => {
    const redactor = new Redactor(['first-secret']);
    redactor.add(['second-secret', undefined, '']);
    expect(redactor.size).toBe(2);
    expect(redactor.text('first-secret and second-secret')).toBe('*** and ***');
  });

  it('redacts a deep copy of JSON: strings, and whole values of credential-named fields', () => {
    const redactor = new Redactor(['hunter22']);
    const input = {
      text: 'pw hunter22',
      nested: [{ authorization: 'Basic abc', token: 'xyz', count: 3, ok: true, none: null }],
    };
    expect(redactor.value(input)).toEqual({
      text: `pw ${MASK}`,
      nested: [{ authorization: `Basic ${MASK}`, token: MASK, count: 3, ok: true, none: null }],
    });
    expect(input.text).toBe('pw hunter22');
  });

  it('keeps of an error only its type, code, message, stack and cause, redacted', () => {
    const redactor = new Redactor(['hunter22']);
    const error = Object.assign(new Error('AUTH failed for hunter22'), {
      code: 'WRONGPASS',
      args: ['AUTH', 'hunter22'],
      cause: new Error('inner hunter22'),
    });
    const shown = redactor.error(error);
    expect(shown).toMatchObject({ type: 'Error', code: 'WRONGPASS', message: 'AUTH failed for ***' });
    expect(shown.cause).toMatchObject({ message: 'inner ***' });
    expect(JSON.stringify(shown)).not.toContain('hunter22');
    expect(shown).not.toHaveProperty('args');
  });

  it('cuts again when cutting joined what was around a secret into another one', () => {
    expect(new Redactor(['x***']).text('xx***')).toBe(MASK);
  });

  it('survives circular structures', () => {
    const a: Record<string, unknown> = { name: 'a' };
    a.self = a;
    expect(new Redactor().value(a)).toEqual({ name: 'a', self: '[Circular]' });
  });
});

describe('fingerprint', () => {
  it('shows the length and the first 8 hex digits of SHA-256, no character of the value', () => {
    // printf %s 'sk_live_0123456789' | sha256sum
    expect(fingerprint('sk_live_0123456789')).toBe('18 chars, sha256 79d11b86');
    expect(fingerprint('sk_live_0123456789')).not.toMatch(/sk|89/);
  });

  it('tells two values of the same length apart', () => {
    expect(fingerprint('old-value-1234')).not.toBe(fingerprint('new-value-5678'));
  });
});
