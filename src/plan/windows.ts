import { z } from 'zod';
import { closestMatch } from './suggest.ts';

// Change windows: when an environment may be started. `allow` lists the weekly windows a start
// must fall in (none listed: any time), `deny` the blackouts that close them. Pure: instants come
// in as epoch ms, and local wall time comes from Intl, so daylight saving follows each zone's rules.

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** How far ahead `windowAt` and `nextAllowed` look before they answer "never" (null). */
export const WINDOW_HORIZON_DAYS = 400;
const horizon = WINDOW_HORIZON_DAYS * DAY;

export type AllowWindow = {
  /** The entry as Ferry writes it back: "Sat 01:00-05:00 Europe/Berlin". */
  text: string;
  /** The days a window opens on, 0 = Sunday (as `Date.getUTCDay`). */
  days: readonly number[];
  /** Minutes after local midnight. An end at or before the start is on the next day. */
  start: number;
  end: number;
  zone: string;
};

export type Blackout =
  /** Whole local days, `first` to `last` inclusive, written YYYY-MM-DD. */
  | { kind: 'days'; text: string; first: string; last: string; zone: string }
  /** From `start` up to (not including) `end`, epoch ms. */
  | { kind: 'instants'; text: string; start: number; end: number };

export type WindowStatus =
  /** `endsAt`: when this allowed stretch ends; null when it does not within the horizon. */
  | { allowed: true; endsAt: number | null }
  /** `nextStart`: the next allowed instant, null when none within the horizon. */
  | { allowed: false; reason: 'outside' | 'blackout'; nextStart: number | null; blackout?: string };

type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };
type Interval = { start: number; end: number };

const fail = (error: string): { ok: false; error: string } => ({ ok: false, error });
const quote = (text: string): string => JSON.stringify(text);

// ---------------------------------------------------------------------------------------------
// Reading entries

const allowShape = 'expected "<days> HH:MM-HH:MM <IANA zone>" such as "Sat 01:00-05:00 Europe/Berlin"';
const dayRule = 'days are Mon to Sun, a range such as Mon-Fri, a list such as Sat,Sun, or daily';
const denyShape =
  'expected a date such as 2026-12-24, a date range such as 2026-12-24/2026-12-27, or an instant ' +
  'range such as 2026-12-24T18:00Z/2026-12-25T06:00Z; dates may be followed by an IANA zone';

const dayNames = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const shortDay = (day: number): string => dayNames[day]!.slice(0, 3);

/** "Sat", "sat", "Saturday" -> 6. */
function dayIndex(name: string): number | undefined {
  const lower = name.toLowerCase();
  const index = dayNames.findIndex(
    (day) => day.toLowerCase() === lower || day.slice(0, 3).toLowerCase() === lower,
  );
  return index === -1 ? undefined : index;
}

function parseDays(text: string): Parsed<number[]> {
  if (text.toLowerCase() === 'daily') return { ok: true, value: [0, 1, 2, 3, 4, 5, 6] };
  const days = new Set<number>();
  for (const item of text.split(',')) {
    if (item === '') return fail(`a day is missing in ${quote(text)} (${dayRule})`);
    const names = item.split('-');
    const [first, last] = names.map(dayIndex);
    const unknown = names.find((name) => dayIndex(name) === undefined);
    if (unknown !== undefined || names.length > 2 || first === undefined) {
      const word = unknown ?? item;
      const guess = closestMatch(
        word,
        dayNames.map((_, day) => shortDay(day)),
      );
      const note = guess === undefined ? '' : `; did you mean "${guess}"?`;
      return fail(`unknown day ${quote(word)} (${allowShape}; ${dayRule}${note})`);
    }
    // A range may wrap the weekend: Fri-Mon.
    for (let day = first; ; day = (day + 1) % 7) {
      days.add(day);
      if (day === (last ?? first)) break;
    }
  }
  return { ok: true, value: [...days].sort((a, b) => a - b) };
}

/** "01:00-05:00" -> [60, 300]; the end may be 24:00. */
function parseTimes(text: string): Parsed<[number, number]> {
  const match = /^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$/.exec(text);
  const [start, end] = match ? [minutesOf(match[1]!, match[2]!), minutesOf(match[3]!, match[4]!)] : [];
  if (start === undefined || end === undefined || start === 24 * 60) {
    return fail(
      `${quote(text)} is not a time range (${allowShape}; times are 00:00 to 23:59, or 24:00 for an end)`,
    );
  }
  if (start === end) {
    return fail(
      `${quote(text)} is a window of no length (its end must differ from its start; 22:00-02:00 crosses midnight)`,
    );
  }
  return { ok: true, value: [start, end] };
}

function minutesOf(hours: string, minutes: string): number | undefined {
  const [h, m] = [Number(hours), Number(minutes)];
  if (m > 59 || h > 24 || (h === 24 && m > 0)) return undefined;
  return h * 60 + m;
}

let zoneNames: Map<string, string> | undefined;

/**
 * The zone's IANA name, spelt as listed ("europe/berlin" -> "Europe/Berlin"). Not as Intl resolves
 * it: Intl answers with the oldest alias ("Asia/Kolkata" -> "Asia/Calcutta"), which is not what the
 * plan's author wrote or would recognise.
 */
function parseZone(text: string): Parsed<string> {
  zoneNames ??= new Map(
    [...Intl.supportedValuesOf('timeZone'), 'UTC'].map((name) => [name.toLowerCase(), name]),
  );
  try {
    const resolved = new Intl.DateTimeFormat('en-US', { timeZone: text }).resolvedOptions().timeZone;
    const listed = zoneNames.get(text.toLowerCase());
    return {
      ok: true,
      value: listed ?? (resolved.toLowerCase() === text.toLowerCase() ? resolved : text),
    };
  } catch {
    const guess = closestMatch(text, zoneNames.values());
    const note = guess === undefined ? '' : `; did you mean "${guess}"?`;
    return fail(
      `unknown time zone ${quote(text)} (expected an IANA name such as Europe/Berlin or UTC${note})`,
    );
  }
}

function parseAllow(input: string): Parsed<AllowWindow> {
  // "Sat, Sun 01:00 - 05:00" is meant as "Sat,Sun 01:00-05:00".
  const [daysText, timesText, zoneText = 'UTC', ...rest] = input
    .trim()
    .replace(/\s*([,-])\s*/g, '$1')
    .split(/\s+/);
  if (!daysText || !timesText || rest.length > 0 || /\d/.test(daysText)) {
    return fail(`${allowShape} (got ${quote(input)})`);
  }
  const days = parseDays(daysText);
  if (!days.ok) return days;
  const times = parseTimes(timesText);
  if (!times.ok) return times;
  const zone = parseZone(zoneText);
  if (!zone.ok) return zone;
  const [start, end] = times.value;
  const window = { days: days.value, start, end, zone: zone.value };
  return { ok: true, value: { text: allowText(window), ...window } };
}

const datePattern = /^(\d{4})-(\d{2})-(\d{2})$/;
const instantPattern = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?(Z|[+-]\d{2}:\d{2})$/i;

function isCalendarDate(text: string): boolean {
  const match = datePattern.exec(text);
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

function parseInstant(text: string): Parsed<number> {
  const match = instantPattern.exec(text);
  const valid =
    match &&
    isCalendarDate(match[1]!) &&
    Number(match[2]) < 24 &&
    Number(match[3]) < 60 &&
    Number(match[4] ?? 0) < 60 &&
    // An offset beyond ±23:59 ("+25:00") fits the pattern but is no instant.
    !Number.isNaN(Date.parse(text.toUpperCase()));
  if (!valid) {
    return fail(
      `${quote(text)} is not an instant (expected a date, a time and an offset such as 2026-12-24T18:00Z or 2026-12-24T19:00+01:00)`,
    );
  }
  return { ok: true, value: Date.parse(text.toUpperCase()) };
}

function parseDeny(input: string): Parsed<Blackout> {
  const normal = input
    .trim()
    .replace(/\s+to\s+/i, '/')
    .replace(/\s*\/\s*/, '/');
  const [range = '', zoneText, ...rest] = normal.split(/\s+/);
  const [from = '', to = from, ...more] = range.split('/');
  if (rest.length > 0 || more.length > 0) return fail(`${denyShape} (got ${quote(input)})`);

  if (datePattern.test(from) && datePattern.test(to)) {
    const invalid = [from, to].find((date) => !isCalendarDate(date));
    if (invalid !== undefined) return fail(`${quote(invalid)} is not a date in the calendar (${denyShape})`);
    if (to < from)
      return fail(`the range ends (${to}) before it starts (${from}); write the earlier date first`);
    const zone = parseZone(zoneText ?? 'UTC');
    if (!zone.ok) return zone;
    const days = { first: from, last: to, zone: zone.value };
    return { ok: true, value: { kind: 'days', text: blackoutText({ kind: 'days', ...days }), ...days } };
  }
  if (from.includes('T') && range.includes('/')) {
    if (zoneText !== undefined) {
      return fail(
        `an instant range carries its own offsets; drop ${quote(zoneText)}, or black out whole days with dates such as 2026-12-24/2026-12-27 ${zoneText}`,
      );
    }
    const start = parseInstant(from);
    if (!start.ok) return start;
    const end = parseInstant(to);
    if (!end.ok) return end;
    if (end.value <= start.value)
      return fail(`the range ends (${to}) before it starts (${from}); write the earlier instant first`);
    const instants = { start: start.value, end: end.value };
    return {
      ok: true,
      value: { kind: 'instants', text: blackoutText({ kind: 'instants', ...instants }), ...instants },
    };
  }
  return fail(`${denyShape} (got ${quote(input)})`);
}

/** A string entry read by `parse`: its message lands at the entry's file:line:column. */
function entry<T>(parse: (text: string) => Parsed<T>) {
  return z.string().transform((text, ctx) => {
    const parsed = parse(text);
    if (parsed.ok) return parsed.value;
    ctx.addIssue({ code: 'custom', message: parsed.error });
    return z.NEVER;
  });
}

/** An environment's `windows:` mapping, read into allowed windows and blackouts. */
export const windowsSchema = z
  .strictObject({
    allow: z.array(entry(parseAllow)).min(1).optional(),
    deny: z.array(entry(parseDeny)).min(1).optional(),
  })
  .refine((windows) => windows.allow !== undefined || windows.deny !== undefined, {
    message:
      'expected "allow" (the windows a start must fall in), "deny" (blackouts) or both, such as ' +
      'allow: ["Sat 01:00-05:00 Europe/Berlin"]',
  });

export type Windows = z.output<typeof windowsSchema>;
export type WindowsSpec = z.input<typeof windowsSchema>;

/** Reads a `windows:` mapping; throws, naming each bad entry, where the plan loader would report it. */
export function parseWindows(spec: WindowsSpec): Windows {
  const result = windowsSchema.safeParse(spec);
  if (result.success) return result.data;
  const where = (path: PropertyKey[]) =>
    path.map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`)).join('');
  throw new Error(
    result.error.issues.map((issue) => `windows${where(issue.path)}: ${issue.message}`).join('\n'),
  );
}

// ---------------------------------------------------------------------------------------------
// Writing them back

const hhmm = (minutes: number): string =>
  `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

/** Monday first, runs of three or more as ranges: "Mon-Fri", "Sat,Sun", "daily". */
function daysText(days: readonly number[]): string {
  if (days.length === 7) return 'daily';
  const parts: string[] = [];
  let run: number[] = [];
  const flush = () => {
    if (run.length >= 3) parts.push(`${shortDay(run[0]!)}-${shortDay(run.at(-1)!)}`);
    else parts.push(...run.map(shortDay));
    run = [];
  };
  for (const day of [1, 2, 3, 4, 5, 6, 0]) {
    if (days.includes(day)) run.push(day);
    else flush();
  }
  flush();
  return parts.join(',');
}

function allowText(window: Omit<AllowWindow, 'text'>): string {
  return `${daysText(window.days)} ${hhmm(window.start)}-${hhmm(window.end)} ${window.zone}`;
}

/** "2026-12-24T18:00Z": minutes unless the instant has seconds. */
function instantText(at: number): string {
  return new Date(at)
    .toISOString()
    .replace(/\.000Z$/, 'Z')
    .replace(/:00Z$/, 'Z');
}

function blackoutText(blackout: DistributiveOmit<Blackout, 'text'>): string {
  if (blackout.kind === 'instants') return `${instantText(blackout.start)} to ${instantText(blackout.end)}`;
  const dates = blackout.first === blackout.last ? blackout.first : `${blackout.first} to ${blackout.last}`;
  return `${dates} ${blackout.zone}`;
}
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** One line for people: "Sat 01:00-05:00 Europe/Berlin; not 2026-12-24 to 2026-12-27 UTC". */
export function describeWindows(windows: Windows): string {
  const allow = windows.allow?.map((window) => window.text).join(' or ') ?? 'any time';
  const deny = windows.deny?.map((blackout) => blackout.text).join(', ');
  return deny === undefined ? allow : `${allow}; not ${deny}`;
}

/** "Sat 2026-11-28 01:00 Europe/Berlin": an instant as a window's own clock reads it. */
export function localTime(at: number, zone: string): string {
  const wall = at + offsetAt(zone, at);
  const text = new Date(wall).toISOString();
  return `${shortDay(new Date(wall).getUTCDay())} ${text.slice(0, 10)} ${text.slice(11, 16)} ${zone}`;
}

/** The zone people read a plan's windows in: its first allowed window's, else its first blackout's. */
export function windowsZone(windows: Windows): string {
  const days = windows.deny?.find((blackout) => blackout.kind === 'days');
  return windows.allow?.[0]?.zone ?? (days?.kind === 'days' ? days.zone : 'UTC');
}

// ---------------------------------------------------------------------------------------------
// Local time

const clocks = new Map<string, Intl.DateTimeFormat>();

/** Local wall time minus UTC at `at`, in ms (Berlin in summer: 2 h). */
function offsetAt(zone: string, at: number): number {
  let clock = clocks.get(zone);
  if (!clock) {
    clock = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    clocks.set(zone, clock);
  }
  const part: Partial<Record<Intl.DateTimeFormatPartTypes, number>> = {};
  for (const { type, value } of clock.formatToParts(at)) part[type] = Number(value);
  const wall = Date.UTC(part.year!, part.month! - 1, part.day, part.hour, part.minute, part.second);
  return wall - Math.floor(at / 1000) * 1000;
}

// Offsets at UTC midnights, remembered: Intl takes ~10 µs a call and a search asks about the same
// days again and again. Bounded, since a long-lived process asks about ever new days.
const midnightOffsets = new Map<string, number>();
function offsetAtMidnight(zone: string, midnight: number): number {
  const key = `${zone} ${midnight}`;
  let offset = midnightOffsets.get(key);
  if (offset === undefined) {
    if (midnightOffsets.size >= 20_000) midnightOffsets.clear();
    offset = offsetAt(zone, midnight);
    midnightOffsets.set(key, offset);
  }
  return offset;
}

/**
 * The instant the zone's clocks read `wall` (a local time written as if it were UTC). A time the
 * clocks skip (spring forward) gives the first instant after the gap; a time they show twice (fall
 * back) its first occurrence. Assumes a zone changes its offset at most once in three days.
 */
function instantOf(zone: string, wall: number): number {
  const midnight = Math.floor(wall / DAY) * DAY;
  const before = offsetAtMidnight(zone, midnight - DAY);
  const after = offsetAtMidnight(zone, midnight + 2 * DAY);
  if (before === after) return wall - before;
  const fits = [before, after].filter((offset) => offsetAt(zone, wall - offset) === offset);
  if (fits.length > 0) return Math.min(...fits.map((offset) => wall - offset));
  // In the gap: the offset turns from `before` to `after` between these two instants.
  let [early, late] = [wall - after, wall - before];
  while (late - early > 1000) {
    const middle = early + Math.floor((late - early) / 2000) * 1000;
    if (offsetAt(zone, middle) === after) late = middle;
    else early = middle;
  }
  return late;
}

// ---------------------------------------------------------------------------------------------
// Allowed intervals

function windowIntervals(window: AllowWindow, from: number, until: number): Interval[] {
  const intervals: Interval[] = [];
  // Local days whose window could reach into [from, until): zones are within 14 h of UTC, and a
  // window that crosses midnight ends the next day.
  for (let day = Math.floor(from / DAY) - 3; day <= Math.floor(until / DAY) + 1; day++) {
    if (!window.days.includes((((day + 4) % 7) + 7) % 7)) continue; // 1970-01-01 was a Thursday
    const midnight = day * DAY;
    const start = instantOf(window.zone, midnight + window.start * MINUTE);
    const nextDay = window.end <= window.start ? DAY : 0;
    const end = instantOf(window.zone, midnight + nextDay + window.end * MINUTE);
    // start === end: the window fell in a spring-forward gap and does not happen that day.
    if (start < end && start < until && end > from) intervals.push({ start, end });
  }
  return intervals;
}

function blackoutInterval(blackout: Blackout): Interval {
  if (blackout.kind === 'instants') return { start: blackout.start, end: blackout.end };
  return {
    start: instantOf(blackout.zone, Date.parse(blackout.first)),
    end: instantOf(blackout.zone, Date.parse(blackout.last) + DAY),
  };
}

/** Sorted, with overlapping and touching intervals joined. */
function merge(intervals: Interval[]): Interval[] {
  const merged: Interval[] = [];
  for (const next of [...intervals].sort((a, b) => a.start - b.start)) {
    const last = merged.at(-1);
    if (last && next.start <= last.end) last.end = Math.max(last.end, next.end);
    else merged.push({ ...next });
  }
  return merged;
}

/** The allowed stretches within [from, until), sorted and disjoint. */
function allowedIntervals(windows: Windows, from: number, until: number): Interval[] {
  const allowed = windows.allow
    ? merge(windows.allow.flatMap((window) => windowIntervals(window, from, until)))
    : [{ start: from, end: until }];
  const denied = merge((windows.deny ?? []).map(blackoutInterval));
  const result: Interval[] = [];
  for (const interval of allowed) {
    let start = Math.max(interval.start, from);
    const end = Math.min(interval.end, until);
    for (const blackout of denied) {
      if (blackout.end <= start || blackout.start >= end) continue;
      if (blackout.start > start) result.push({ start, end: blackout.start });
      start = Math.max(start, blackout.end);
    }
    if (start < end) result.push({ start, end });
  }
  return result;
}

/**
 * Asks `find` about the allowed stretches in [from, from + span), widening the span up to `limit`
 * until it answers: most questions are settled within the first week.
 */
function searchAhead<T>(
  windows: Windows,
  from: number,
  limit: number,
  find: (allowed: Interval[], until: number) => T | undefined,
): T | undefined {
  for (let span = 8 * DAY; ; span *= 4) {
    const until = from + Math.min(span, limit);
    const found = find(allowedIntervals(windows, from, until), until);
    if (found !== undefined || span >= limit) return found;
  }
}

// ---------------------------------------------------------------------------------------------
// Questions

/** Whether a start at `at` is allowed, until when, or else why not and when next. */
export function windowAt(windows: Windows, at: number): WindowStatus {
  const [now] = allowedIntervals(windows, at, at + 1);
  if (now) {
    const endsAt = searchAhead(windows, at, horizon, ([first], until) =>
      first && first.end < until ? first.end : undefined,
    );
    return { allowed: true, endsAt: endsAt ?? null };
  }
  const nextStart = searchAhead(windows, at, horizon, ([first]) => first?.start) ?? null;
  const blackout = windows.deny?.find((entry) => {
    const { start, end } = blackoutInterval(entry);
    return start <= at && at < end;
  });
  return blackout
    ? { allowed: false, reason: 'blackout', nextStart, blackout: blackout.text }
    : { allowed: false, reason: 'outside', nextStart };
}

/**
 * The earliest instant >= `from` that is allowed and stays allowed for `minLength` ms (a run's
 * forecast duration), or null if there is none within the horizon.
 */
export function nextAllowed(windows: Windows, from: number, minLength = 0): number | null {
  const room = Math.max(0, minLength);
  const found = searchAhead(windows, from, horizon + room, (allowed, until) => {
    for (const { start, end } of allowed) {
      if (start > from + horizon) return null;
      if (start + room <= end) return start;
      // Cut off by the search, not by the window: it may have room after all.
      if (end === until) return undefined;
    }
    return undefined;
  });
  return found ?? null;
}
