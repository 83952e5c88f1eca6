import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  describeWindows,
  localTime,
  nextAllowed,
  parseWindows,
  WINDOW_HORIZON_DAYS,
  windowAt,
  windowsZone,
  type WindowsSpec,
} from '../../src/plan/windows.ts';

// Change windows: reading them, and when they let a run start. The properties judge the module by
// the wall clock, read here with Intl on its own, apart from how the module turns wall times into
// instants: a start it finds opens where the clock reads a window's start (or jumps over it), the
// instant before it is closed, and nothing from `from` up to it is open.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

// ---------------------------------------------------------------------------------------------
// The wall clock, read independently

const formats = new Map<string, Intl.DateTimeFormat>();
/** What the zone's clocks read at `t`, as a UTC timestamp of the same reading (to the second). */
function wall(zone: string, t: number): number {
  let format = formats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', {
      timeZone: zone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      hourCycle: 'h23',
    });
    formats.set(zone, format);
  }
  const p = Object.fromEntries(format.formatToParts(t).map((part) => [part.type, Number(part.value)]));
  return Date.UTC(p.year!, p.month! - 1, p.day, p.hour, p.minute, p.second);
}
const weekday = (wallMs: number) => new Date(wallMs).getUTCDay();
const localMidnight = (wallMs: number) => Math.floor(wallMs / DAY) * DAY;

/** The clock passes `reading` (a wall time) between the second before `t` and `t`. */
function crosses(zone: string, t: number, reading: number): boolean {
  return wall(zone, t - 1000) < reading && reading <= wall(zone, t);
}

type AllowSpec = { days: number[]; start: number; end: number; zone: string };
type DenySpec =
  | { kind: 'days'; first: string; last: string; zone: string }
  | { kind: 'instants'; start: number; end: number };

const dayNames = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const hhmm = (minutes: number) =>
  `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
const allowText = (a: AllowSpec) =>
  `${a.days.map((d) => dayNames[d]).join(',')} ${hhmm(a.start)}-${hhmm(a.end)} ${a.zone}`;
const instantText = (ms: number) => new Date(ms).toISOString().replace(/:00\.000Z$/, 'Z');
const denyText = (d: DenySpec) =>
  d.kind === 'days' ? `${d.first}/${d.last} ${d.zone}` : `${instantText(d.start)}/${instantText(d.end)}`;

/** `t` opens allow window `a`: the clock passes its start on one of its days. */
function opensAllow(a: AllowSpec, t: number): boolean {
  const date = localMidnight(wall(a.zone, t));
  return a.days.includes(weekday(date)) && crosses(a.zone, t, date + a.start * MINUTE);
}
/** `t` closes allow window `a`: the clock passes its end, on the day it opened or the day after. */
function closesAllow(a: AllowSpec, t: number): boolean {
  const date = localMidnight(wall(a.zone, t));
  const opened = a.end <= a.start ? date - DAY : date;
  return a.days.includes(weekday(opened)) && crosses(a.zone, t, date + a.end * MINUTE);
}
/** `t` ends blackout `d`: the clock passes midnight after its last day, or its end instant comes. */
function endsDeny(d: DenySpec, t: number): boolean {
  return d.kind === 'instants' ? t === d.end : crosses(d.zone, t, Date.parse(d.last) + DAY);
}
function startsDeny(d: DenySpec, t: number): boolean {
  return d.kind === 'instants' ? t === d.start : crosses(d.zone, t, Date.parse(d.first));
}

/** Zones whose offset never changes (in these years): the wall clock alone says what is open. */
const fixedZones = ['UTC', 'Asia/Kolkata', 'Asia/Tokyo', 'Etc/GMT+5'] as const;
/** Zones whose clocks change: by an hour at 02:00 or 03:00, at midnight, by half an hour, at :45. */
const changingZones = [
  'Europe/Berlin',
  'America/New_York',
  'America/Santiago',
  'Australia/Lord_Howe',
  'Pacific/Chatham',
] as const;

/** In a zone with a fixed offset, whether the wall clock puts `t` in `a`. */
function inAllowByClock(a: AllowSpec, t: number): boolean {
  const clock = wall(a.zone, t);
  const minutes = Math.floor((clock - localMidnight(clock)) / MINUTE);
  const today = a.days.includes(weekday(clock));
  const yesterday = a.days.includes(weekday(clock - DAY));
  if (a.end > a.start) return today && minutes >= a.start && minutes < a.end;
  return (today && minutes >= a.start) || (yesterday && minutes < a.end);
}
function inDenyByClock(d: DenySpec, t: number): boolean {
  if (d.kind === 'instants') return d.start <= t && t < d.end;
  const date = new Date(localMidnight(wall(d.zone, t))).toISOString().slice(0, 10);
  return d.first <= date && date <= d.last;
}
function allowedByClock(allow: AllowSpec[] | undefined, deny: DenySpec[], t: number): boolean {
  if (allow && !allow.some((a) => inAllowByClock(a, t))) return false;
  return !deny.some((d) => inDenyByClock(d, t));
}

// ---------------------------------------------------------------------------------------------
// Generators

const YEARS = { min: at('2020-01-01T00:00Z'), max: at('2032-01-01T00:00Z') };
const instant = fc.integer(YEARS);
const dateText = instant.map((t) => new Date(t).toISOString().slice(0, 10));

function allowArb(zones: readonly string[]): fc.Arbitrary<AllowSpec> {
  return fc
    .record({
      days: fc.uniqueArray(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 7 }),
      start: fc.integer({ min: 0, max: 1439 }),
      length: fc.integer({ min: 1, max: 1439 }),
      zone: fc.constantFrom(...zones),
    })
    .map(({ days, start, length, zone }) => ({ days, start, end: (start + length) % 1440, zone }));
}

function denyArb(zones: readonly string[]): fc.Arbitrary<DenySpec> {
  return fc.oneof(
    fc
      .record({ from: dateText, days: fc.integer({ min: 0, max: 6 }), zone: fc.constantFrom(...zones) })
      .map(({ from, days, zone }): DenySpec => ({
        kind: 'days',
        first: from,
        last: new Date(Date.parse(from) + days * DAY).toISOString().slice(0, 10),
        zone,
      })),
    fc
      .record({ start: instant, minutes: fc.integer({ min: 1, max: 10 * 24 * 60 }) })
      .map(({ start, minutes }): DenySpec => {
        const whole = Math.floor(start / MINUTE) * MINUTE;
        return { kind: 'instants', start: whole, end: whole + minutes * MINUTE };
      }),
  );
}

function casesArb(zones: readonly string[]) {
  return fc
    .record({
      allow: fc.option(fc.array(allowArb(zones), { minLength: 1, maxLength: 3 }), { nil: undefined }),
      deny: fc.array(denyArb(zones), { maxLength: 3 }),
      from: instant,
    })
    .filter(({ allow, deny }) => allow !== undefined || deny.length > 0)
    .map((c) => {
      const spec: WindowsSpec = {
        ...(c.allow ? { allow: c.allow.map(allowText) } : {}),
        ...(c.deny.length > 0 ? { deny: c.deny.map(denyText) } : {}),
      };
      return { ...c, windows: parseWindows(spec) };
    });
}

const runs = { numRuns: 300 };

/** Points from `from` up to (not including) `to`: both ends' neighbours and some in between. */
function between(from: number, to: number): number[] {
  const span = to - from;
  const points = [from, to - 1, to - 1000, to - MINUTE, from + Math.floor(span / 2)];
  for (let i = 1; i < 12; i++) points.push(from + Math.floor((span * i) / 12));
  return [...new Set(points)].filter((t) => t >= from && t < to);
}

// ---------------------------------------------------------------------------------------------

describe('parseWindows', () => {
  it('reads allowed windows and blackouts, and writes them back the way it reads them', () => {
    const windows = parseWindows({
      allow: ['Sat 01:00-05:00 Europe/Berlin', 'mon-fri 22:00-02:00', 'Saturday,sun 00:00-24:00 utc'],
      deny: [
        '2026-12-24/2026-12-27',
        '2026-12-31 Europe/Berlin',
        '2026-06-01T18:00Z to 2026-06-02T06:00+02:00',
      ],
    });
    expect(windows.allow).toEqual([
      { text: 'Sat 01:00-05:00 Europe/Berlin', days: [6], start: 60, end: 300, zone: 'Europe/Berlin' },
      { text: 'Mon-Fri 22:00-02:00 UTC', days: [1, 2, 3, 4, 5], start: 1320, end: 120, zone: 'UTC' },
      { text: 'Sat,Sun 00:00-24:00 UTC', days: [0, 6], start: 0, end: 1440, zone: 'UTC' },
    ]);
    expect(describeWindows(windows)).toBe(
      'Sat 01:00-05:00 Europe/Berlin or Mon-Fri 22:00-02:00 UTC or Sat,Sun 00:00-24:00 UTC; ' +
        'not 2026-12-24 to 2026-12-27 UTC, 2026-12-31 Europe/Berlin, 2026-06-01T18:00Z to 2026-06-02T04:00Z',
    );
    expect(describeWindows(parseWindows({ deny: ['2026-12-24'] }))).toBe('any time; not 2026-12-24 UTC');
  });

  it('accepts ranges that wrap the weekend, and the spaces people put around dashes and commas', () => {
    const windows = parseWindows({ allow: ['Fri - Mon, Wed 01:00 - 05:00 Europe/Berlin'] });
    expect(windows.allow![0]).toMatchObject({
      days: [0, 1, 3, 5, 6],
      text: 'Mon,Wed,Fri-Sun 01:00-05:00 Europe/Berlin',
    });
    expect(parseWindows({ allow: ['daily 00:00-06:00 UTC'] }).allow![0]!.text).toBe('daily 00:00-06:00 UTC');
  });

  it('reads back every window it writes as the same window', () => {
    fc.assert(
      fc.property(allowArb([...fixedZones, ...changingZones]), (a) => {
        const [first] = parseWindows({ allow: [allowText(a)] }).allow!;
        const [again] = parseWindows({ allow: [first!.text] }).allow!;
        expect(again).toEqual(first);
        expect(first).toMatchObject({ days: [...a.days].sort(), start: a.start, end: a.end, zone: a.zone });
      }),
      runs,
    );
  });

  it('says what is wrong with each entry, and what it expected', () => {
    const problem = (spec: WindowsSpec) => {
      try {
        parseWindows(spec);
      } catch (error) {
        return (error as Error).message;
      }
      throw new Error(`${JSON.stringify(spec)} was accepted`);
    };
    expect(problem({})).toBe(
      'windows: expected "allow" (the windows a start must fall in), "deny" (blackouts) or both, such as allow: ["Sat 01:00-05:00 Europe/Berlin"]',
    );
    expect(problem({ allow: ['Sta 01:00-05:00'] })).toMatch(
      /^windows\.allow\[0\]: unknown day "Sta" .*did you mean "Sat"\?\)$/,
    );
    expect(problem({ allow: ['Sat,,Sun 01:00-05:00'] })).toMatch(
      /^windows\.allow\[0\]: a day is missing in "Sat,,Sun" /,
    );
    expect(problem({ allow: ['Sat 1am-5am'] })).toMatch(
      /^windows\.allow\[0\]: "1am-5am" is not a time range/,
    );
    expect(problem({ allow: ['Sat 24:00-05:00'] })).toMatch(/"24:00-05:00" is not a time range/);
    expect(problem({ allow: ['Sat 01:00-01:00'] })).toMatch(/is a window of no length/);
    expect(problem({ allow: ['01:00-05:00 Europe/Berlin'] })).toMatch(
      /^windows\.allow\[0\]: expected "<days> HH:MM-HH:MM <IANA zone>"/,
    );
    expect(problem({ allow: ['Sat 01:00-05:00 Europe/Berln'] })).toBe(
      'windows.allow[0]: unknown time zone "Europe/Berln" (expected an IANA name such as Europe/Berlin or UTC; did you mean "Europe/Berlin"?)',
    );
    expect(problem({ allow: [] })).toContain('windows.allow');
    expect(problem({ deny: ['2026-02-30'] })).toMatch(
      /^windows\.deny\[0\]: "2026-02-30" is not a date in the calendar/,
    );
    expect(problem({ deny: ['2026-12-27/2026-12-24'] })).toBe(
      'windows.deny[0]: the range ends (2026-12-24) before it starts (2026-12-27); write the earlier date first',
    );
    expect(problem({ deny: ['2026-12-24T18:00Z/2026-12-24T06:00Z'] })).toMatch(/ends .* before it starts/);
    expect(problem({ deny: ['2026-12-24T18:00Z/2026-12-25T06:00Z Europe/Berlin'] })).toMatch(
      /an instant range carries its own offsets; drop "Europe\/Berlin"/,
    );
    expect(problem({ deny: ['2026-12-24T18:00+25:00/2026-12-25T06:00Z'] })).toMatch(
      /^windows\.deny\[0\]: "2026-12-24T18:00\+25:00" is not an instant/,
    );
    expect(problem({ deny: ['2026-12-24T25:00Z/2026-12-25T06:00Z'] })).toMatch(/is not an instant/);
    expect(problem({ deny: ['christmas'] })).toMatch(
      /^windows\.deny\[0\]: expected a date such as 2026-12-24/,
    );
    expect(problem({ allow: ['Sat 01:00-05:00'], extra: [] } as unknown as WindowsSpec)).toContain('extra');
  });
});

describe('localTime and windowsZone', () => {
  it("shows an instant on the windows' own clock, in the zone people read them in", () => {
    expect(localTime(at('2026-07-03T23:00Z'), 'Europe/Berlin')).toBe('Sat 2026-07-04 01:00 Europe/Berlin');
    expect(localTime(at('2026-12-05T00:00Z'), 'Europe/Berlin')).toBe('Sat 2026-12-05 01:00 Europe/Berlin');
    expect(windowsZone(parseWindows({ allow: ['Sat 01:00-05:00 Asia/Kolkata'] }))).toBe('Asia/Kolkata');
    expect(windowsZone(parseWindows({ deny: ['2026-12-24 Europe/Berlin'] }))).toBe('Europe/Berlin');
    expect(windowsZone(parseWindows({ deny: ['2026-12-24T18:00Z/2026-12-25T06:00Z'] }))).toBe('UTC');
  });
});

describe('windowAt', () => {
  const berlin = parseWindows({ allow: ['Sat 01:00-05:00 Europe/Berlin'], deny: ['2026-12-24/2026-12-27'] });

  it('allows a start inside a window, until the window ends', () => {
    // Saturday 5 December 2026, 02:00 in Berlin (01:00Z, winter time).
    expect(windowAt(berlin, at('2026-12-05T01:00Z'))).toEqual({
      allowed: true,
      endsAt: at('2026-12-05T04:00Z'),
    });
    // In summer Berlin is two hours ahead: the same window is 23:00Z to 03:00Z.
    expect(windowAt(berlin, at('2026-07-03T23:00Z'))).toEqual({
      allowed: true,
      endsAt: at('2026-07-04T03:00Z'),
    });
    expect(windowAt(berlin, at('2026-07-03T22:59:59Z')).allowed).toBe(false);
  });

  it('refuses a start outside every window, with the next one', () => {
    expect(windowAt(berlin, at('2026-12-05T13:39Z'))).toEqual({
      allowed: false,
      reason: 'outside',
      nextStart: at('2026-12-12T00:00Z'),
    });
  });

  it('refuses a start in a blackout, naming it, with the first window after it', () => {
    // Saturday 26 December is a window day, but inside the blackout; the next is 2 January.
    expect(windowAt(berlin, at('2026-12-26T01:00Z'))).toEqual({
      allowed: false,
      reason: 'blackout',
      blackout: '2026-12-24 to 2026-12-27 UTC',
      nextStart: at('2027-01-02T00:00Z'),
    });
  });

  it('answers "never" within the horizon as null', () => {
    const shut = parseWindows({ deny: ['2026-01-01T00:00Z/2029-01-01T00:00Z'] });
    expect(windowAt(shut, at('2026-06-01T00:00Z'))).toMatchObject({ allowed: false, nextStart: null });
    expect(nextAllowed(shut, at('2026-06-01T00:00Z'))).toBeNull();
    expect(WINDOW_HORIZON_DAYS).toBeGreaterThanOrEqual(366);
    const open = parseWindows({ deny: ['2020-01-01'] });
    expect(windowAt(open, at('2026-06-01T00:00Z'))).toEqual({ allowed: true, endsAt: null });
  });
});

describe('nextAllowed', () => {
  it('is `from` itself inside a window, else the next opening, else null', () => {
    const windows = parseWindows({ allow: ['Sat 01:00-05:00 Europe/Berlin'] });
    expect(nextAllowed(windows, at('2026-12-05T02:00Z'))).toBe(at('2026-12-05T02:00Z'));
    expect(nextAllowed(windows, at('2026-12-05T04:00Z'))).toBe(at('2026-12-12T00:00Z'));
    // Room for a 3-hour run: at 02:00Z only two hours are left, so the next Saturday.
    expect(nextAllowed(windows, at('2026-12-05T02:00Z'), 3 * HOUR)).toBe(at('2026-12-12T00:00Z'));
    expect(nextAllowed(windows, at('2026-12-05T01:00Z'), 3 * HOUR)).toBe(at('2026-12-05T01:00Z'));
    // A run longer than the window never fits.
    expect(nextAllowed(windows, at('2026-12-05T01:00Z'), 5 * HOUR)).toBeNull();
  });

  it('follows Berlin across its clock changes: a window in the skipped hour opens after it', () => {
    // 29 March 2026: Berlin's clocks go from 02:00 to 03:00 (01:00Z).
    const late = parseWindows({ allow: ['Sun 02:30-03:30 Europe/Berlin'] });
    expect(iso(nextAllowed(late, at('2026-03-28T12:00Z')))).toBe('2026-03-29T01:00:00.000Z');
    expect(windowAt(late, at('2026-03-29T01:00Z'))).toEqual({
      allowed: true,
      endsAt: at('2026-03-29T01:30Z'),
    });
    // A window wholly inside the skipped hour does not happen that Sunday.
    const skipped = parseWindows({ allow: ['Sun 02:00-02:30 Europe/Berlin'] });
    expect(iso(nextAllowed(skipped, at('2026-03-28T12:00Z')))).toBe('2026-04-05T00:00:00.000Z');
    // The night of 01:00 to 05:00 is three hours long then, and five when the clocks go back.
    const night = parseWindows({ allow: ['Sun 01:00-05:00 Europe/Berlin'] });
    const spring = nextAllowed(night, at('2026-03-28T12:00Z'))!;
    expect(iso(spring)).toBe('2026-03-29T00:00:00.000Z');
    expect(windowAt(night, spring)).toEqual({ allowed: true, endsAt: at('2026-03-29T03:00Z') });
    const autumn = nextAllowed(night, at('2026-10-24T12:00Z'))!;
    expect(iso(autumn)).toBe('2026-10-24T23:00:00.000Z');
    expect(windowAt(night, autumn)).toEqual({ allowed: true, endsAt: at('2026-10-25T04:00Z') });
    // 02:30 happens twice on 25 October: a window opens at the first.
    const twice = parseWindows({ allow: ['Sun 02:30-04:00 Europe/Berlin'] });
    expect(iso(nextAllowed(twice, at('2026-10-24T12:00Z')))).toBe('2026-10-25T00:30:00.000Z');
    expect(windowAt(twice, at('2026-10-25T01:15Z'))).toEqual({
      allowed: true,
      endsAt: at('2026-10-25T03:00Z'),
    });
  });

  it('finds an allowed start, with nothing allowed from `from` up to it (fixed-offset zones, by the wall clock)', () => {
    fc.assert(
      fc.property(casesArb(fixedZones), ({ allow, deny, from, windows }) => {
        const next = nextAllowed(windows, from);
        if (next === null) return; // nothing within the horizon: checked below by its own property
        expect(next).toBeGreaterThanOrEqual(from);
        expect(allowedByClock(allow, deny, next), `${iso(next)} allowed`).toBe(true);
        for (const t of between(from, next))
          expect(allowedByClock(allow, deny, t), `${iso(t)} before ${iso(next)} is closed`).toBe(false);
      }),
      runs,
    );
  });

  it('finds an allowed start where a window opens or a blackout ends, with nothing allowed before it (zones that change their clocks)', () => {
    fc.assert(
      fc.property(casesArb([...changingZones, 'UTC']), ({ allow, deny, from, windows }) => {
        const next = nextAllowed(windows, from);
        if (next === null) return;
        expect(next).toBeGreaterThanOrEqual(from);
        const status = windowAt(windows, next);
        expect(status.allowed, `${iso(next)} allowed`).toBe(true);
        for (const t of between(from, next)) {
          const before = windowAt(windows, t);
          expect(before.allowed, `${iso(t)} before ${iso(next)} is closed`).toBe(false);
          expect(!before.allowed && before.nextStart).toBe(next);
        }
        if (next > from) {
          // It opens there: the clock passes a window's start on one of its days, or a blackout ends.
          const opens = (allow ?? []).some((a) => opensAllow(a, next)) || deny.some((d) => endsDeny(d, next));
          expect(opens, `something opens at ${iso(next)}`).toBe(true);
        }
        if (status.allowed && status.endsAt !== null) {
          // ... and closes where the clock passes a window's end, or a blackout begins.
          const end = status.endsAt;
          const closes =
            (allow ?? []).some((a) => closesAllow(a, end)) || deny.some((d) => startsDeny(d, end));
          expect(closes, `something closes at ${iso(end)}`).toBe(true);
          expect(windowAt(windows, end).allowed).toBe(false);
          expect(windowAt(windows, end - 1)).toEqual({ allowed: true, endsAt: end });
        }
      }),
      runs,
    );
  });

  it('keeps Berlin windows to the wall clock on the days its clocks change', () => {
    // From the Friday before each change, for the years the plans will be used in: each window
    // found opens where the clock reads its start (or jumps over it) and closes where it reads its end.
    const changes = fc.integer({ min: 2024, max: 2040 }).chain((year) =>
      fc.record({
        from: fc.constantFrom(lastSunday(year, 2), lastSunday(year, 9)).map((sunday) => sunday - 2 * DAY),
        allow: allowArb(['Europe/Berlin']),
      }),
    );
    fc.assert(
      fc.property(changes, ({ from, allow }) => {
        const windows = parseWindows({ allow: [allowText(allow)] });
        let t = from;
        for (let i = 0; i < 4; i++) {
          const next = nextAllowed(windows, t);
          if (next === null) throw new Error(`no window after ${iso(t)}`);
          const status = windowAt(windows, next);
          if (!status.allowed || status.endsAt === null) throw new Error(`${iso(next)} is not in a window`);
          if (next > t) expect(opensAllow(allow, next), `opens at ${iso(next)}`).toBe(true);
          expect(closesAllow(allow, status.endsAt), `closes at ${iso(status.endsAt)}`).toBe(true);
          for (const inside of between(next, status.endsAt))
            expect(windowAt(windows, inside).allowed, `${iso(inside)} is open`).toBe(true);
          t = status.endsAt;
        }
      }),
      { numRuns: 200 },
    );
  });

  it('leaves room for a run of the given length', () => {
    fc.assert(
      fc.property(
        casesArb([...changingZones, ...fixedZones]),
        fc.integer({ min: 0, max: 12 * 60 }),
        ({ from, windows }, minutes) => {
          const next = nextAllowed(windows, from, minutes * MINUTE);
          if (next === null) return;
          const status = windowAt(windows, next);
          expect(status.allowed).toBe(true);
          if (status.allowed && status.endsAt !== null)
            expect(status.endsAt - next).toBeGreaterThanOrEqual(minutes * MINUTE);
          // Any earlier start with that much room would have been found first.
          const plain = nextAllowed(windows, from);
          expect(plain).not.toBeNull();
          expect(next).toBeGreaterThanOrEqual(plain!);
        },
      ),
      runs,
    );
  });

  it('never lets a start into a blackout, and names the blackout', () => {
    fc.assert(
      fc.property(
        casesArb([...changingZones, ...fixedZones]),
        fc.double({ min: -0.2, max: 1.2, noNaN: true }),
        ({ deny, windows }, where) => {
          for (const blackout of deny) {
            const [first, end] =
              blackout.kind === 'instants'
                ? [blackout.start, blackout.end]
                : [Date.parse(blackout.first), Date.parse(blackout.last) + DAY];
            const t = first + Math.floor((end - first) * where);
            // The clock (or the instants) say whether `t` is in it; the zone's offset may move it.
            if (!inDenyByClock(blackout, t)) continue;
            const status = windowAt(windows, t);
            expect(status.allowed, `${iso(t)} in ${denyText(blackout)}`).toBe(false);
            if (!status.allowed) {
              expect(status.reason).toBe('blackout');
              expect(windows.deny!.map((d) => d.text)).toContain(status.blackout);
            }
            const next = nextAllowed(windows, t);
            if (next !== null)
              for (const d of deny)
                expect(inDenyByClock(d, next), `${iso(next)} in ${denyText(d)}`).toBe(false);
          }
        },
      ),
      runs,
    );
  });
});

/** The last Sunday of a month (0-based), at noon UTC: when Europe's clocks change. */
function lastSunday(year: number, month: number): number {
  const last = new Date(Date.UTC(year, month + 1, 0, 12));
  return last.getTime() - last.getUTCDay() * DAY;
}
