import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Clock } from '../../src/clock.ts';
import { ActionId } from '../../src/slack/action-ids.ts';
import {
  ALICE,
  BOB,
  CHANNEL,
  findButton,
  readable,
  startHarness,
  type Harness,
} from '../support/ferry-harness.ts';

// Change windows and the forecast, end to end through signed Slack requests, on Ferry's own clock.
// The clock stands still until the test moves it, so every step takes exactly as long as the test
// says; the executor takes work by the same clock. Three staging rehearsals set the forecast;
// production may start only on Saturday nights in Berlin, never in the blackout, and only when the
// forecast ends inside the window.

class StillClock implements Clock {
  private at = 0;
  now(): number {
    return this.at;
  }
  set(iso: string): void {
    this.at = Date.parse(iso);
  }
  advance(ms: number): void {
    this.at += ms;
  }
}

const MIN = 60_000;

const maintenance = (id: string, action: 'on' | 'off') =>
  `{ id: ${id}, kind: maintenance, action: ${action}, provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }`;

const plan = `
service: billing
approvers: { users: [U02BOB] }
environments:
  staging:
    steps: &steps
      - ${maintenance('maintenance-on', 'on')}
      - { id: migrate, kind: manual, instructions: "Run the data migration, then press Done." }
      - { id: verify, kind: manual, instructions: "Check the dashboards, then press Done." }
      - ${maintenance('maintenance-off', 'off')}
  production:
    windows:
      allow: ["Sat 01:00-05:00 Europe/Berlin"]
      deny: ["2026-11-14/2026-11-15 Europe/Berlin"]
    steps: *steps
`;

describe('change windows and the forecast from rehearsals', () => {
  let h: Harness;
  const clock = new StillClock();

  beforeAll(async () => {
    clock.set('2026-11-02T09:00:00Z');
    h = await startHarness({ plan, clock });
  });
  afterAll(async () => {
    await h?.stop();
  });

  /** The run's status message once it shows `stepId` waiting for Done. */
  const waitingForDone = (runId: string, stepId: string) =>
    h.waitFor(() => {
      const status = h.statusMessage(runId);
      if (!status) return false;
      try {
        return findButton(status, ActionId.done).blockId === `manual:${stepId}` && status;
      } catch {
        return false;
      }
    }, `${runId} to wait for Done on ${stepId}`);

  /** Presses Done on `stepId` after `minutes` of Ferry's time. */
  const doneAfter = async (runId: string, stepId: string, minutes: number) => {
    const status = await waitingForDone(runId, stepId);
    clock.advance(minutes * MIN);
    await h.click(ALICE, status, ActionId.done);
  };

  const finished = (runId: string) =>
    h.waitFor(
      () => readable(h.statusMessage(runId)).includes('All 4 steps done') && h.statusMessage(runId),
      `${runId} to finish`,
    );

  /** A run of `environment`: the migration takes `migrate` minutes, the check one. */
  const rehearse = async (environment: string, migrate: number) => {
    const reply = await h.ask(ALICE, `start billing ${environment}`, /^Started r\d+/);
    const runId = /^Started (r\d+)/.exec(reply)![1]!;
    await doneAfter(runId, 'migrate', migrate);
    await doneAfter(runId, 'verify', 1);
    await finished(runId);
    return runId;
  };

  /** The run a scheduled start began: the newest status message in the channel. */
  const startedRun = (what: string) =>
    h.waitFor(() => {
      const ids = h.slack
        .messages(CHANNEL)
        // A status message with replies carries its own ts as thread_ts, as in Slack: only replies are skipped.
        .flatMap((m) =>
          m.thread_ts && m.thread_ts !== m.ts ? [] : [/^billing production (r\d+):/.exec(m.text ?? '')?.[1]],
        )
        .filter((id): id is string => id !== undefined);
      const newest = ids.at(-1);
      return newest !== undefined && !seen.has(newest) && newest;
    }, what);
  const seen = new Set<string>();

  const threadOf = (runId: string) => {
    const status = h.statusMessage(runId);
    if (!status) return '';
    return h.slack
      .thread(CHANNEL, status.ts)
      .filter((m) => m.ts !== status.ts)
      .map((m) => readable(m))
      .join('\n');
  };

  it('forecasts production from three staging rehearsals, per step, in total and the downtime', async () => {
    for (const [day, migrate] of [
      ['02', 5],
      ['03', 4],
      ['04', 8],
    ] as const) {
      clock.set(`2026-11-${day}T09:00:00Z`);
      await rehearse('staging', migrate);
    }
    clock.set('2026-11-09T09:00:00Z');
    const plan = await h.ask(ALICE, 'plan billing production', 'Dry run of *billing production*');
    expect(plan).toContain(
      '*Forecast*: from 3 staging runs; p50 6m, worst 9m · downtime (maintenance on to off) p50 6m, worst 9m',
    );
    expect(plan).toContain('`migrate` (manual) · ~5m (worst 8m)');
    expect(plan).toContain('`verify` (manual) · ~1m (worst 1m)');
    expect(plan).toContain(
      '*Change windows*: Sat 01:00-05:00 Europe/Berlin; not 2026-11-14 to 2026-11-15 Europe/Berlin',
    );
  });

  it('refuses a start in the blackout, and one outside the window, with the next allowed start', async () => {
    // Saturday 01:30 in Berlin: inside the weekly window, but in the blackout.
    clock.set('2026-11-14T00:30:00Z');
    const blackout = await h.ask(ALICE, 'start billing production', /^⚠️/);
    expect(blackout).toBe(
      '⚠️ billing production is in a blackout (2026-11-14 to 2026-11-15 Europe/Berlin) now (Sat 2026-11-14 01:30 Europe/Berlin). ' +
        'The next start that fits the forecast is Sat 2026-11-21 01:00 Europe/Berlin: `/migrate start billing production --at 2026-11-21T00:00Z`. ' +
        '<@U02BOB> may start it anyway by adding `--override <reason>`.',
    );
    clock.set('2026-11-26T12:00:00Z');
    const outside = await h.ask(ALICE, 'start billing production', /^⚠️/);
    expect(outside).toContain(
      'billing production starts only in its change windows (Sat 01:00-05:00 Europe/Berlin; not 2026-11-14 to 2026-11-15 Europe/Berlin); ' +
        'now (Thu 2026-11-26 13:00 Europe/Berlin) is outside them. ' +
        'The next start that fits the forecast is Sat 2026-11-28 01:00 Europe/Berlin: `/migrate start billing production --at 2026-11-28T00:00Z`.',
    );
    expect(h.slack.messages(CHANNEL).filter((m) => (m.text ?? '').includes('billing production r'))).toEqual(
      [],
    );
  });

  it("lets the plan's approver, and only them, override the window with a reason the timeline keeps", async () => {
    const refused = await h.ask(
      ALICE,
      'start billing production --override the fix for INC-7 cannot wait',
      /^⚠️/,
    );
    expect(refused).toBe(
      '⚠️ Only <@U02BOB> may start billing production outside its change windows: ask one of them, or start it in a window.',
    );
    const reply = await h.ask(
      BOB,
      'start billing production --override the fix for INC-7 cannot wait',
      /^Started r\d+/,
    );
    const runId = /^Started (r\d+)/.exec(reply)![1]!;
    seen.add(runId);
    expect(reply).toContain('It started outside its change windows: your reason is in its timeline.');
    expect(reply).toContain(
      'Forecast from 3 staging runs; p50 6m, worst 9m, downtime p50 6m, worst 9m: expected done at 2026-11-26 12:06 UTC.',
    );
    await h.waitFor(() => threadOf(runId).includes('change window overridden'), 'the override in the thread');
    expect(threadOf(runId)).toContain(
      'change window overridden by <@U02BOB>: the fix for INC-7 cannot wait ' +
        '(started outside its change windows (Sat 01:00-05:00 Europe/Berlin; not 2026-11-14 to 2026-11-15 Europe/Berlin))',
    );

    // On the status message: expected at the forecast, then 2 minutes late once the migration ran 7.
    expect(readable(await waitingForDone(runId, 'migrate'))).toContain(
      'expected done at 12:06 UTC (forecast 12:06 UTC)',
    );
    await doneAfter(runId, 'migrate', 7);
    expect(readable(await waitingForDone(runId, 'verify'))).toContain(
      'expected done at 12:08 UTC (forecast 12:06 UTC)',
    );
    await doneAfter(runId, 'verify', 1);
    await finished(runId);

    // The report: forecast and actual, per step and in total.
    await h.command(ALICE, `report ${runId}`);
    const file = await h.waitFor(
      () => h.slack.files().find((f) => f.name === `ferry-${runId}-report.md` && f.content),
      'the report',
    );
    const markdown = file.content!.toString();
    expect(markdown).toContain('## Forecast and actual');
    expect(markdown).toContain('Forecast at the start, from 3 staging runs.');
    expect(markdown).toContain('| maintenance-on | 0ms | 0ms | 0ms | ±0ms |');
    expect(markdown).toContain('| migrate | 5m | 8m | 7m | +2m |');
    expect(markdown).toContain('| verify | 1m | 1m | 1m | ±0ms |');
    expect(markdown).toContain('| **whole run** | 6m | 9m | 8m | +2m |');
    expect(markdown).toContain('| **downtime** | 6m | 9m | 8m | +2m |');
  });

  it('puts the same environment first, and refuses a start whose forecast runs past the window', async () => {
    clock.set('2026-11-28T03:55:00Z'); // Saturday 04:55 in Berlin: five minutes left, the forecast is six
    const refusal = await h.ask(ALICE, 'start billing production', /^⚠️/);
    expect(refusal).toContain(
      'billing production would run past its change window: the window closes at Sat 2026-11-28 05:00 Europe/Berlin, ' +
        'and the forecast is 6m (from 1 production run and 3 staging runs; p50 6m, worst 9m), so it would end at Sat 2026-11-28 05:01 Europe/Berlin. ' +
        'The next start that fits the forecast is Sat 2026-12-05 01:00 Europe/Berlin: `/migrate start billing production --at 2026-12-05T00:00Z`.',
    );
  });

  it('checks a scheduled start at its --at time, and records an override when it comes due', async () => {
    clock.set('2026-12-04T10:00:00Z');
    const refused = await h.ask(ALICE, 'start billing production --at 2026-12-04T12:00:00Z', /^⚠️/);
    expect(refused).toContain(
      'Fri 2026-12-04 13:00 Europe/Berlin is outside them. The next start that fits the forecast is Sat 2026-12-05 01:00 Europe/Berlin',
    );
    const overridden = await h.ask(
      BOB,
      'start billing production --at 2026-12-04T12:00:00Z --override the hotfix ships before the weekend',
      /will start at/,
    );
    const id = /\((s\d+)\)/.exec(overridden)![1]!;
    clock.set('2026-12-04T12:00:02Z');
    await h.ferry.scheduler.tick();
    const runId = await startedRun(`${id} to start`);
    seen.add(runId);
    expect(readable(h.statusMessage(runId))).toContain('Started by <@U02BOB> at 12:00 UTC');
    await h.waitFor(() => threadOf(runId).includes('change window overridden'), 'the override in the thread');
    expect(threadOf(runId)).toContain(
      'change window overridden by <@U02BOB>: the hotfix ships before the weekend',
    );
    await doneAfter(runId, 'migrate', 5);
    await doneAfter(runId, 'verify', 1);
    await finished(runId);

    // Inside the window: scheduled, and started when due with its forecast on the status message.
    const scheduled = await h.ask(
      ALICE,
      'start billing production --at 2026-12-05T00:30:00Z',
      /will start at/,
    );
    expect(scheduled).toContain('Forecast from 2 production runs and 3 staging runs; p50 6m, worst 9m');
    clock.set('2026-12-05T00:30:02Z');
    await h.ferry.scheduler.tick();
    const dueRun = await startedRun('the scheduled start');
    expect(readable(h.statusMessage(dueRun))).toContain('Started by <@U01ALICE> at 00:30 UTC');
    expect(readable(await waitingForDone(dueRun, 'migrate'))).toContain(
      'expected done at 00:36 UTC (forecast 00:36 UTC)',
    );
    expect(threadOf(dueRun)).not.toContain('change window overridden');
    await doneAfter(dueRun, 'migrate', 5);
    await doneAfter(dueRun, 'verify', 1);
    await finished(dueRun);
  });

  it('judges a scheduled start that comes due late at the time it would start, not at its --at', async () => {
    clock.set('2026-12-10T10:00:00Z');
    const scheduled = await h.ask(
      ALICE,
      'start billing production --at 2026-12-12T00:30:00Z',
      /will start at/,
    );
    const id = /\((s\d+)\)/.exec(scheduled)![1]!;
    // No Ferry looked for due starts until Saturday 05:30 in Berlin: the window closed at 05:00.
    clock.set('2026-12-12T04:30:00Z');
    await h.ferry.scheduler.tick();
    const told = await h.waitFor(
      () => h.slack.messages(CHANNEL).find((m) => (m.text ?? '').includes(`The scheduled start ${id}`)),
      'the channel told the late start did not start',
    );
    expect(readable(told)).toContain(
      'billing production starts only in its change windows (Sat 01:00-05:00 Europe/Berlin; not 2026-11-14 to 2026-11-15 Europe/Berlin); ' +
        'Sat 2026-12-12 05:30 Europe/Berlin is outside them.',
    );
  });
});
