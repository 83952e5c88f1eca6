import { closestMatch } from '../plan/suggest.ts';
import { usage } from './command-table.ts';

// The `/migrate` grammar. Pure: text in, a command or a specific error out. Usage lines come from the
// one command table.

export type Command =
  | { name: 'help' }
  | { name: 'list' }
  /** Without an environment: the service's environments are listed. */
  | { name: 'plan'; service: string; environment?: string }
  /** `override`: an approver's reason to start outside the change windows. */
  | { name: 'start'; service: string; environment: string; at?: string; override?: string }
  | { name: 'status'; run?: string }
  | { name: 'note'; run?: string; text: string }
  | { name: 'incident'; run?: string; severity: 'sev1' | 'sev2' | 'sev3'; summary: string }
  | { name: 'incident-resolve'; run?: string }
  | { name: 'rollback'; run?: string }
  | { name: 'abort'; run?: string }
  | { name: 'report'; run?: string; all: boolean }
  | { name: 'lock'; service: string; environment: string; reason: string }
  | { name: 'unlock'; service: string; environment: string }
  | { name: 'maintenance'; service: string; environment: string; state: 'on' | 'off' }
  | { name: 'crons'; service: string; environment: string; action: 'disable' | 'enable' };

export type ParseResult = { ok: true; command: Command } | { ok: false; error: string };

const runId = /^r\d+$/;
const name = /^[a-z0-9][a-z0-9-_]*$/;
/** A date, a time and a zone: "02:00" alone means nothing to people in several time zones. */
const isoTime = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/;

/** Date.parse takes "1", "2026" or "2026-02-31T00:00Z" (as 3 March); a start time must be exact. */
function isIsoTime(text: string): boolean {
  const match = isoTime.exec(text);
  if (!match || Number.isNaN(Date.parse(text))) return false;
  const [, year, month, day] = match.map(Number) as [number, number, number, number];
  const calendar = new Date(Date.UTC(year, month - 1, day));
  return calendar.getUTCMonth() === month - 1 && calendar.getUTCDate() === day;
}

export function parseCommand(text: string): ParseResult {
  const words = text.trim().split(/\s+/).filter(Boolean);
  const [sub, ...rest] = words;
  const fail = (error: string): ParseResult => ({ ok: false, error });
  const ok = (command: Command): ParseResult => ({ ok: true, command });
  const serviceEnv = (cmd: Command['name']): { service: string; environment: string } | string => {
    const [service, environment] = rest;
    if (!service || !environment) return `Usage: \`${usage[cmd]}\``;
    if (!name.test(service))
      return `"${service}" is not a service name (lowercase letters, digits, dashes, underscores).`;
    if (!name.test(environment))
      return `"${environment}" is not an environment name (lowercase letters, digits, dashes, underscores).`;
    return { service, environment };
  };
  const optionalRun = (): { run?: string; rest: string[] } =>
    rest[0] && runId.test(rest[0]) ? { run: rest[0], rest: rest.slice(1) } : { rest };

  const lower = sub?.toLowerCase();
  switch (lower) {
    case undefined:
    case 'help':
      return ok({ name: 'help' });
    case 'list':
      return rest.length ? fail('`/migrate list` takes nothing after it.') : ok({ name: 'list' });
    case 'plan':
    case 'start':
    case 'unlock': {
      // `/migrate plan billing`: which environments billing has, rather than a usage line.
      if (lower === 'plan' && rest.length === 1 && name.test(rest[0]!))
        return ok({ name: 'plan', service: rest[0]! });
      const se = serviceEnv(lower);
      if (typeof se === 'string') return fail(se);
      if (lower === 'start') return parseStart(text, se, rest.slice(2));
      if (rest.length > 2) return fail(`Unexpected "${rest.slice(2).join(' ')}". Usage: \`${usage[lower]}\``);
      return ok({ name: lower, ...se });
    }
    case 'status':
    case 'rollback':
    case 'abort': {
      // A scheduled start (s3) is cancelled with abort too: it is a run that has not begun.
      if (lower === 'abort' && rest.length === 1 && /^s\d+$/.test(rest[0]!))
        return ok({ name: 'abort', run: rest[0] });
      const { run, rest: extra } = optionalRun();
      if (extra.length && run) return fail(`Unexpected "${extra.join(' ')}". Usage: \`${usage[lower]}\``);
      if (extra.length) return fail(`"${extra[0]}" is not a run id (like r12). Usage: \`${usage[lower]}\``);
      return ok({ name: lower, run });
    }
    case 'note': {
      const { run, rest: words2 } = optionalRun();
      if (words2.length === 0) return fail(`Write the note after the command. Usage: \`${usage.note}\``);
      return ok({
        name: 'note',
        run,
        text: text
          .trim()
          .replace(/^\S+\s+/, '')
          .replace(run ? /^\S+\s+/ : /^/, ''),
      });
    }
    case 'incident': {
      if (rest[0] === 'resolve') {
        const r = rest[1];
        if (r && !runId.test(r)) return fail(`"${r}" is not a run id (like r12).`);
        if (rest.length > 2)
          return fail(`Unexpected "${rest.slice(2).join(' ')}". Usage: \`${usage['incident-resolve']}\``);
        return ok({ name: 'incident-resolve', run: r });
      }
      const { run, rest: words2 } = optionalRun();
      const severity = words2[0];
      if (severity !== 'sev1' && severity !== 'sev2' && severity !== 'sev3') {
        return fail(`Give a severity: sev1, sev2 or sev3. Usage: \`${usage.incident}\``);
      }
      if (words2.length < 2)
        return fail(`Describe the incident after the severity. Usage: \`${usage.incident}\``);
      return ok({ name: 'incident', run, severity, summary: words2.slice(1).join(' ') });
    }
    case 'report': {
      if (rest[0] === '--all' && rest.length === 1) return ok({ name: 'report', all: true });
      const { run, rest: extra } = optionalRun();
      if (extra.length) return fail(`Usage: \`${usage.report}\``);
      return ok({ name: 'report', run, all: false });
    }
    case 'lock': {
      const se = serviceEnv('lock');
      if (typeof se === 'string') return fail(se);
      if (rest.length < 3) return fail(`Give a reason. Usage: \`${usage.lock}\``);
      return ok({ name: 'lock', ...se, reason: rest.slice(2).join(' ') });
    }
    case 'maintenance': {
      const se = serviceEnv('maintenance');
      if (typeof se === 'string') return fail(se);
      const state = rest[2];
      if ((state !== 'on' && state !== 'off') || rest.length !== 3)
        return fail(`Usage: \`${usage.maintenance}\``);
      return ok({ name: 'maintenance', ...se, state });
    }
    case 'crons': {
      const se = serviceEnv('crons');
      if (typeof se === 'string') return fail(se);
      const action = rest[2];
      if ((action !== 'disable' && action !== 'enable') || rest.length !== 3)
        return fail(`Usage: \`${usage.crons}\``);
      return ok({ name: 'crons', ...se, action });
    }
    default: {
      const known = Object.keys(usage).filter((k) => !k.includes('-'));
      const meant = closestMatch(lower, known);
      if (meant) {
        const again = [meant, ...rest].join(' ');
        return fail(`Unknown subcommand "${sub}". Did you mean \`/migrate ${again}\`?`);
      }
      return fail(
        `Unknown subcommand "${sub}". Try one of: ${known.join(', ')} (\`/migrate help\` explains them).`,
      );
    }
  }
}

/** `start <service> <env> [--at <ISO time>] [--override <reason…>]`: the reason is the rest of the text. */
function parseStart(
  text: string,
  se: { service: string; environment: string },
  extra: readonly string[],
): ParseResult {
  const command: Extract<Command, { name: 'start' }> = { name: 'start', ...se };
  let next = 0;
  if (extra[0] === '--at') {
    const at = extra[1];
    if (at === undefined || at === '--override')
      return {
        ok: false,
        error: `Give a time after --at, such as 2026-12-01T02:00:00Z. Usage: \`${usage.start}\``,
      };
    if (!isIsoTime(at))
      return {
        ok: false,
        error: `"${at}" is not an ISO time with a zone, such as 2026-12-01T02:00:00Z or 2026-12-01T03:00:00+01:00.`,
      };
    command.at = at;
    next = 2;
  }
  if (extra[next] === '--override') {
    const reason = text
      .slice(text.indexOf('--override') + '--override'.length)
      .trim()
      .replace(/\s+/g, ' ');
    if (reason === '')
      return {
        ok: false,
        error: `Say why after --override, such as \`--override the fix for the outage cannot wait\`: it goes in the run's timeline. Usage: \`${usage.start}\``,
      };
    if (reason.split(' ').includes('--at'))
      return {
        ok: false,
        error: `Put --at before --override: everything after --override is the reason. Usage: \`${usage.start}\``,
      };
    return { ok: true, command: { ...command, override: reason } };
  }
  if (next < extra.length)
    return { ok: false, error: `Unexpected "${extra.join(' ')}". Usage: \`${usage.start}\`` };
  return { ok: true, command };
}
