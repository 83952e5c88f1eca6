import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger, redactingLogger, reportUnexpected } from '../../src/log.ts';
import { Redactor } from '../../src/redact.ts';

const SECRET = 'CANARY-log-9f8e7d6c';

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>>; raw: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  return {
    stream,
    raw: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** An error as a Redis client makes one: the command's arguments (the password) hang on it. */
function clientError(): Error {
  return Object.assign(new Error(`WRONGPASS for redis://ferry:${SECRET}@cache:6379`), {
    code: 'WRONGPASS',
    command: { name: 'auth', args: ['ferry', SECRET] },
    cause: new Error(`inner ${SECRET}`),
  });
}

/** Every way Ferry's code hands a secret to a logger. */
function logEverything(log: Logger): void {
  log.info(`reached ${SECRET}`);
  log.warn({ err: clientError() }, 'step attempt failed');
  log.warn({ err: clientError() });
  log.error(clientError());
  log.info({ detail: { url: `https://h/x?token=abc`, list: [SECRET] } }, 'detail %s and %o', SECRET, {
    SECRET,
  });
  log
    .child({ component: 'executor' })
    .child({ run: 'r1' })
    .info({ summary: `echo ${SECRET}` }, 'done');
  log.child({ component: 'x' }, { level: 'debug' }).debug('Authorization: Basic dXNlcjpwYXNz');
  log.info({ err: `a string error ${SECRET}` }, 'odd');
}

describe('createLogger', () => {
  it('writes no known secret and no credential, in messages, objects, bindings or errors', () => {
    const out = capture();
    const log = createLogger({ level: 'debug', redactor: new Redactor([SECRET]) }, out.stream);
    logEverything(log);
    expect(out.raw()).not.toContain(SECRET);
    expect(out.raw()).not.toContain('dXNlcjpwYXNz');
    expect(out.raw()).not.toContain('token=abc');
    expect(out.lines()).toHaveLength(8);
  });

  it("keeps an error's type, code, message, stack and cause, redacted, and drops the rest", () => {
    const out = capture();
    createLogger({ level: 'info', redactor: new Redactor([SECRET]) }, out.stream).warn(
      { err: clientError() },
      'step attempt failed',
    );
    const [line] = out.lines();
    expect(line!.err).toMatchObject({
      type: 'Error',
      code: 'WRONGPASS',
      message: 'WRONGPASS for redis://***@cache:6379',
      stack: expect.stringContaining('WRONGPASS for redis://***@cache:6379'),
      cause: { type: 'Error', message: 'inner ***' },
    });
    expect(line!.err).not.toHaveProperty('command');
    expect(line!.msg).toBe('step attempt failed');
  });

  it("gives an error logged without a message the redacted message, not pino's raw one", () => {
    const out = capture();
    createLogger({ level: 'info', redactor: new Redactor([SECRET]) }, out.stream).error(clientError());
    expect(out.lines()[0]!.msg).toBe('WRONGPASS for redis://***@cache:6379');
  });
});

describe('redactingLogger', () => {
  it('makes a logger built elsewhere redact like createLogger, its children too', () => {
    const out = capture();
    const log = redactingLogger(pino({ level: 'debug' }, out.stream), new Redactor([SECRET]));
    logEverything(log);
    expect(out.raw()).not.toContain(SECRET);
    expect(out.raw()).not.toContain('dXNlcjpwYXNz');
    expect(out.lines()).toHaveLength(8);
  });

  it('is needed: a plain pino logger writes the secrets an error carries', () => {
    const out = capture();
    pino({ level: 'info' }, out.stream).warn({ err: clientError() }, 'step attempt failed');
    expect(out.raw()).toContain(SECRET);
  });

  it('returns a logger that already redacts with the same redactor as it is', () => {
    const redactor = new Redactor([SECRET]);
    const log = createLogger({ level: 'info', redactor }, capture().stream);
    expect(redactingLogger(log, redactor)).toBe(log);
  });

  it('redacts secrets the redactor learns after the logger was made', () => {
    const out = capture();
    const redactor = new Redactor();
    const log = redactingLogger(pino({ level: 'info' }, out.stream), redactor).child({ component: 'c' });
    redactor.add([SECRET]);
    log.info(`late ${SECRET}`);
    expect(out.lines()[0]!.msg).toBe('late ***');
  });
});

describe('reportUnexpected', () => {
  it('tells the person a reference, not the raw message, and logs the error redacted under it', () => {
    const out = capture();
    const log = createLogger({ level: 'info', redactor: new Redactor([SECRET]) }, out.stream);
    const said = reportUnexpected(log, clientError(), 'starting the run');
    const ref = /reference ([0-9a-f]{8})/.exec(said)?.[1];
    expect(said).not.toContain('WRONGPASS');
    expect(said).toMatch(/^Ferry hit an unexpected error while starting the run \(reference [0-9a-f]{8}\)/);
    expect(out.lines()[0]).toMatchObject({ ref, msg: 'unexpected error while starting the run' });
    expect(out.raw()).not.toContain(SECRET);
  });
});
