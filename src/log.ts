import { randomBytes } from 'node:crypto';
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { Redactor } from './redact.ts';

// Every log line goes through the one Redactor: the message and its arguments (pino's logMethod
// hook), the merged object and the child bindings (formatters), and errors, which keep only their
// type, code, message, stack and cause, redacted (an error's other properties can hold a request's
// headers or a command's arguments).

type LogFn = (...args: unknown[]) => void;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

interface RedactingOptions {
  hooks: { logMethod: (this: Logger, args: unknown[], method: LogFn) => void };
  formatters: {
    log(object: Record<string, unknown>): Record<string, unknown>;
    bindings(bindings: pino.Bindings): Record<string, unknown>;
  };
  serializers: { err(value: unknown): unknown };
}

/** The pino options that make a logger redact everything it writes. */
export function redactingOptions(redactor: Redactor): RedactingOptions {
  return {
    hooks: {
      logMethod(this: Logger, args: unknown[], method: LogFn) {
        const out = args.map((arg, i) =>
          typeof arg === 'string' ? redactor.text(arg) : i === 0 ? arg : redactor.value(arg),
        );
        // With no message of its own, pino would print the error's raw message: give it a redacted one.
        const first = out[0];
        if (out.length === 1 && first instanceof Error) out.push(redactor.text(first.message));
        else if (out.length === 1 && isRecord(first) && first.msg === undefined && first.err instanceof Error)
          out.push(redactor.text(first.err.message));
        method.apply(this, out);
      },
    },
    formatters: {
      log: (object) => redactor.value(object),
      bindings: (bindings) => redactor.value(bindings),
    },
    serializers: {
      // The formatter above has already turned an Error into a redacted object; anything else
      // logged under `err` (a string, a plain object) is redacted here.
      err: (value) => (value instanceof Error ? redactor.error(value) : redactor.value(value)),
    },
  };
}

/** Loggers that already redact with a given Redactor, so wrapping one again adds nothing. */
const redacting = new WeakMap<Logger, Redactor>();

/** Ferry's logger: JSON lines to stdout (or `destination`), everything redacted. */
export function createLogger(
  options: { level: string; redactor: Redactor },
  destination?: DestinationStream,
): Logger {
  const config: LoggerOptions = { level: options.level, ...redactingOptions(options.redactor) };
  const log = destination ? pino(config, destination) : pino(config);
  redacting.set(log, options.redactor);
  return log;
}

/**
 * A child of a logger made elsewhere (a test's, a sandbox's) that redacts as `createLogger` does.
 * pino takes formatters and serializers per child, but the logMethod hook only at the root, so the
 * child gets the hook through pino's exported symbols and rebuilds its level methods with it.
 */
export function redactingLogger(log: Logger, redactor: Redactor): Logger {
  if (redacting.get(log) === redactor) return log;
  const options = redactingOptions(redactor);
  const child = log.child(
    {},
    {
      // pino types a child's log formatter over `object`; it receives the same merged object.
      formatters: options.formatters as pino.ChildLoggerOptions['formatters'],
      serializers: options.serializers,
    },
  );
  const hooksSym: symbol = pino.symbols.hooksSym;
  const hooks = Reflect.get(child, hooksSym) as object;
  Object.defineProperty(child, hooksSym, {
    value: { ...hooks, logMethod: options.hooks.logMethod },
    configurable: true,
    writable: true,
  });
  // Setting the level rebuilds info(), warn() ... around the hook.
  child.level = log.level;
  redacting.set(child, redactor);
  return child;
}

/**
 * What to tell a person when something unexpected went wrong: not the raw message (a driver's or a
 * client's words can carry a connection string or a request), but a reference to the log line that
 * holds it, redacted.
 */
export function reportUnexpected(log: Logger, error: unknown, doing: string): string {
  const ref = randomBytes(4).toString('hex');
  log.error({ err: error, ref }, `unexpected error while ${doing}`);
  return `Ferry hit an unexpected error while ${doing} (reference ${ref}); nothing more was done. Try again; if it happens again, give the reference to whoever runs Ferry: the details are in its log.`;
}
