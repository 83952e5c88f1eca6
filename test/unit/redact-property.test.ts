import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MASK, redactText, Redactor, SHORT_SECRET_LENGTH } from '../../src/redact.ts';

// Properties of the one redactor, checked on generated secrets and texts:
// 1. a secret it knows by value never comes out, whatever its characters and wherever it is put
//    (4 characters or more: not as any substring; shorter: not as a word of its own);
// 2. a credential it does not know is cut where its shape says it is one (URL userinfo, query and
//    fragment parameters, headers, DSNs, JSON fields);
// 3. text with no credential in it comes out unchanged.

/** What glues a short secret to its neighbours, written apart from the implementation on purpose. */
const WORD = /^[\p{L}\p{N}\p{M}_*]$/u;

function appearsAsWord(text: string, secret: string): boolean {
  for (let i = text.indexOf(secret); i !== -1; i = text.indexOf(secret, i + 1)) {
    const before = Array.from(text.slice(0, i)).at(-1);
    const after = Array.from(text.slice(i + secret.length))[0];
    if ((before === undefined || !WORD.test(before)) && (after === undefined || !WORD.test(after)))
      return true;
  }
  return false;
}

function leaks(output: string, secret: string): boolean {
  return Array.from(secret).length >= SHORT_SECRET_LENGTH
    ? output.includes(secret)
    : appearsAsWord(output, secret);
}

/** A 1-3 character secret of punctuation alone ("@", "//") cannot be told from the text around it. */
function hideable(secret: string): boolean {
  return Array.from(secret).length >= SHORT_SECRET_LENGTH || /[\p{L}\p{N}]/u.test(secret);
}

const special = [...'@/:#%+?&=;,.-_~!$*()[]{}<>|\\"\' \t'];
const anyChar = fc.oneof(
  fc.constantFrom(...special),
  fc.constantFrom(...'abcXYZ0189'),
  fc.constantFrom('é', 'ß', '漢', '😀', 'Ω', '\u00a0'),
);
/** Secrets of any length from 1, from any characters (all of Unicode, and the URL and shell specials). */
const secretArb = fc
  .oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }),
    fc.string({ unit: anyChar, minLength: 1, maxLength: 24 }),
  )
  .filter(hideable);

const words = fc.array(fc.lorem({ maxCount: 1 }), { minLength: 0, maxLength: 6 }).map((w) => w.join(' '));
const filler = fc.string({ unit: anyChar, maxLength: 8 });

const uri = (s: string) => encodeURIComponent(s);
const json = (s: string) => JSON.stringify(s).slice(1, -1);
const form = (s: string) => new URLSearchParams({ v: s }).toString().slice(2);

/**
 * Where a secret is put (free text, glued to anything, URLs, headers, DSNs, JSON and form bodies),
 * and how it is spelt there: an encoded secret is still the secret to whoever reads it.
 */
const placements: Array<[string, (s: string, a: string, b: string) => string, (s: string) => string]> = [
  ['a sentence', (s, a, b) => `${a} ${s} ${b}`, (s) => s],
  ['glued to text', (s, a, b) => `${a}${s}${b}`, (s) => s],
  ['URL userinfo', (s) => `redis://ferry:${s}@cache.example.com:6379/0`, (s) => s],
  ['URL userinfo, encoded', (s) => `rediss://ferry:${uri(s)}@cache.example.com:6380/0`, uri],
  ['a query parameter', (s, a) => `https://h.example.com/p?q=${uri(a)}&v=${uri(s)}&x=1`, uri],
  ['a fragment', (s) => `https://app.example.com/cb#state=${uri(s)}&x=1`, uri],
  ['an Authorization header', (s) => `Authorization: Basic ${s}\nAccept: */*`, (s) => s],
  ['another header', (s) => `X-Custom: ${s}`, (s) => s],
  ['a DSN', (s) => `host=db.internal password=${s} dbname=billing`, (s) => s],
  ['JSON', (s, a) => JSON.stringify({ detail: `${a}${s}`, nested: [s, { v: s }] }), json],
  ['a form body', (s) => new URLSearchParams({ text: s, channel: 'C0' }).toString(), form],
];

describe('Redactor, property: a known secret never comes out', () => {
  it.each(placements)('in %s', (_name, place, spell) => {
    fc.assert(
      fc.property(secretArb, filler, filler, (secret, a, b) => {
        const input = place(secret, a, b);
        const output = new Redactor([secret]).text(input);
        const shown = `${JSON.stringify(input)} -> ${JSON.stringify(output)}`;
        expect(leaks(output, secret), shown).toBe(false);
        if (hideable(spell(secret))) expect(leaks(output, spell(secret)), shown).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('inside a deep JSON value, as the Slack and log paths redact it', () => {
    fc.assert(
      fc.property(secretArb, words, (secret, text) => {
        const output = JSON.stringify(
          new Redactor([secret]).value({
            text: `${text} ${secret}`,
            blocks: [{ elements: [{ text: secret }] }],
          }),
        );
        const parsed = JSON.parse(output) as {
          text: string;
          blocks: Array<{ elements: Array<{ text: string }> }>;
        };
        expect(leaks(parsed.text, secret)).toBe(false);
        expect(leaks(parsed.blocks[0]!.elements[0]!.text, secret)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('among several secrets that overlap each other', () => {
    fc.assert(
      fc.property(fc.array(secretArb, { minLength: 2, maxLength: 4 }), filler, (secrets, glue) => {
        const output = new Redactor(secrets).text(secrets.join(glue) + glue + secrets.join(''));
        for (const secret of secrets) expect(leaks(output, secret)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});

/** Credentials as systems write them: no whitespace, quotes, backslashes or angle brackets. */
const credentialArb = fc.string({
  unit: fc.oneof(
    fc.constantFrom(...'@/:#%+?&=;,.-_~!$*()[]{}|'),
    fc.constantFrom(...'abcdefXYZ0123456789'),
    fc.constantFrom('é', '漢', '😀'),
  ),
  minLength: 1,
  maxLength: 24,
});

const shapes: Array<[string, (s: string) => string, string]> = [
  [
    'URL userinfo',
    (s) => `redis://ferry:${s}@cache.example.com:6379/0 refused`,
    `redis://${MASK}@cache.example.com:6379/0 refused`,
  ],
  [
    'URL userinfo without a user',
    (s) => `rediss://:${s}@cache.example.com/0`,
    `rediss://${MASK}@cache.example.com/0`,
  ],
  [
    'a query parameter',
    (s) => `https://api.example.com/v1?page=2&access_token=${encodeURIComponent(s)}&limit=5`,
    `https://api.example.com/v1?page=2&access_token=${MASK}&limit=5`,
  ],
  [
    'a fragment',
    (s) => `https://app.example.com/cb#id_token=${encodeURIComponent(s)}&state=x`,
    `https://app.example.com/cb#id_token=${MASK}&state=x`,
  ],
  ['an Authorization header', (s) => `Authorization: Basic ${s}`, `Authorization: Basic ${MASK}`],
  ['a Proxy-Authorization header', (s) => `Proxy-Authorization: ${s}`, `Proxy-Authorization: ${MASK}`],
  ['an x-api-key header', (s) => `x-api-key: ${s}\nAccept: */*`, `x-api-key: ${MASK}\nAccept: */*`],
  ['a Set-Cookie header', (s) => `Set-Cookie: sid=${s}; Path=/`, `Set-Cookie: ${MASK}`],
  [
    'a DSN',
    (s) => `host=db.internal password=${s} dbname=billing`,
    `host=db.internal password=${MASK} dbname=billing`,
  ],
  [
    'a JSON field',
    (s) => JSON.stringify({ password: s, user: 'ferry' }),
    `{"password":"${MASK}","user":"ferry"}`,
  ],
  [
    'an echoed header in JSON',
    (s) => JSON.stringify({ headers: { authorization: `Bearer ${s}` } }),
    `{"headers":{"authorization":"Bearer ${MASK}"}}`,
  ],
];

describe('redactText, property: an unknown credential is cut by its shape', () => {
  it.each(shapes)('in %s', (_name, place, expected) => {
    fc.assert(
      fc.property(credentialArb, (credential) => {
        expect(redactText(place(credential))).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });
});

const sentence = fc
  .array(
    fc.oneof(
      fc.lorem({ maxCount: 1 }),
      fc.integer({ min: 0, max: 99_999 }).map(String),
      fc.constantFrom('.', ',', ';', '!', '?', '(', ')', '-', ':', '—', 'é', '漢字'),
    ),
    { minLength: 1, maxLength: 20 },
  )
  .map((parts) => parts.join(' '));

const plainShapes = fc.oneof(
  sentence,
  fc
    .record({ user: fc.lorem({ maxCount: 1 }), count: fc.integer(), ok: fc.boolean() })
    .map((o) => JSON.stringify(o)),
  fc.lorem({ maxCount: 1 }).map((w) => `https://${w}.example.com/a/${w}?page=2&sort=${w}#top`),
  fc.lorem({ maxCount: 1 }).map((w) => `Accept: */*\nX-Request-Id: ${w}-42\nUser-Agent: ferry`),
  fc.lorem({ maxCount: 1 }).map((w) => `host=db.internal port=5432 dbname=${w} user=${w}`),
);

describe('Redactor, property: text without credentials comes out unchanged', () => {
  it('with no known secrets', () => {
    fc.assert(
      fc.property(plainShapes, (text) => {
        expect(redactText(text)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it('with known secrets that do not occur in it, short ones included', () => {
    fc.assert(
      fc.property(plainShapes, fc.array(secretArb, { maxLength: 3 }), (text, secrets) => {
        fc.pre(secrets.every((s) => !leaks(text, s) && !text.includes(encodeURIComponent(s))));
        fc.pre(secrets.every((s) => !leaks(text, JSON.stringify(s).slice(1, -1))));
        expect(new Redactor(secrets).text(text)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });
});
