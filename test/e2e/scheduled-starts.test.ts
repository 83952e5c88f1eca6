import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALICE,
  BOB,
  CHANNEL,
  MALLORY,
  readable,
  startHarness,
  type Harness,
} from '../support/ferry-harness.ts';
import { pendingStarts } from '../../src/runs/schedules.ts';
import { listRuns } from '../../src/runs/lookup.ts';

const plan = `
service: billing
starters: [U01ALICE]
approvers: { users: [U02BOB] }
environments:
  staging:
    steps:
      - { id: watch, kind: manual, instructions: "Watch the dashboards, then press Done." }
  production:
    steps:
      - { id: watch, kind: manual, instructions: "Watch the dashboards, then press Done." }
`;

describe('scheduled starts (/migrate start … --at)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ plan });
  });
  afterAll(async () => {
    await h?.stop();
  });

  const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
  /** Time passes: the start comes due. */
  const comeDue = (id: string) =>
    h.ferry.db.pool.query(
      `update scheduled_starts set start_at = now() - interval '1 second' where id = $1`,
      [id],
    );

  it('starts the run on behalf of the person who scheduled it, once, when it comes due', async () => {
    const reply = await h.ask(
      ALICE,
      `start billing staging --at ${inAnHour()}`,
      /^⏰ billing staging will start at .* UTC \(s\d+\), on your behalf/,
    );
    const id = /\((s\d+)\)/.exec(reply)![1]!;
    // The campaign matrix: billing's staging line names the scheduled start, when and for whom.
    await h.ask(ALICE, 'list', new RegExp(`\`staging\`  .*⏰ \`${id}\` starts .* for <@U01ALICE>`));
    await h.ask(
      ALICE,
      `start billing staging --at ${inAnHour()}`,
      `billing staging already has a scheduled start (${id}`,
    );

    await comeDue(id);
    await Promise.all([h.ferry.scheduler.tick(), h.ferry.scheduler.tick()]); // two ticks racing: one run
    const status = await h.waitFor(() => h.statusMessage(), 'the run to start');
    expect(readable(status)).toContain('Started by <@U01ALICE>');
    expect(await listRuns(h.ferry.runs)).toHaveLength(1);
    expect(await pendingStarts(h.ferry.runs)).toEqual([]);
  });

  it('can be cancelled by whoever scheduled it or may approve, but not by anyone else', async () => {
    const id = /\((s\d+)\)/.exec(
      await h.ask(ALICE, `start billing production --at ${inAnHour()}`, /billing production will start/),
    )![1]!;
    await h.ask(
      MALLORY,
      `abort ${id}`,
      `Only the person who scheduled ${id}, or someone who may start or approve billing runs, can cancel it.`,
    );
    await h.ask(BOB, `abort ${id}`, `⏹️ Cancelled ${id}: billing production will not start.`);
    await comeDue(id);
    await h.ferry.scheduler.tick();
    expect((await listRuns(h.ferry.runs)).filter((r) => r.environment === 'production')).toEqual([]);
  });

  it('tells the channel when a due start cannot start, and why', async () => {
    const id = /\((s\d+)\)/.exec(
      await h.ask(ALICE, `start billing production --at ${inAnHour()}`, /billing production will start/),
    )![1]!;
    await h.ask(BOB, 'lock billing production change freeze', '🔒 Locked');
    await comeDue(id);
    await h.ferry.scheduler.tick();
    const warning = await h.waitFor(
      () => h.slack.messages(CHANNEL).find((m) => (m.text ?? '').startsWith(`⚠️ The scheduled start ${id}`)),
      'the failure in the channel',
    );
    expect(warning.text).toContain('is locked by <@U02BOB>');
  });

  it('refuses a time in the past, and a time that is not an ISO time with a zone', async () => {
    await h.ask(ALICE, 'start billing staging --at 2020-01-01T00:00:00Z', 'is not in the future');
    const res = await h.command(ALICE, 'start billing staging --at tomorrow');
    expect(res.text).toContain('tomorrow');
  });
});
