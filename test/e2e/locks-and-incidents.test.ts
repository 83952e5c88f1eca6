import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, BOB, MALLORY, readable, startHarness, type Harness } from '../support/ferry-harness.ts';
import { listRuns } from '../../src/runs/lookup.ts';

const plan = `
service: billing
starters: [U01ALICE]
approvers: { users: [U02BOB] }
environments:
  staging:
    steps:
      - { id: watch, kind: manual, instructions: "Watch the dashboards, then press Done." }
`;

describe('locks and incidents', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ plan });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('refuses to start a run on a locked service until someone unlocks it', async () => {
    await h.ask(
      MALLORY,
      'lock billing staging database maintenance',
      'Only the people who may start or approve billing runs can lock or unlock it.',
    );

    await h.ask(BOB, 'lock billing staging database maintenance tonight', '🔒 Locked billing staging');
    await h.ask(
      BOB,
      'lock billing staging again',
      'already locked by <@U02BOB>: database maintenance tonight',
    );

    await h.ask(ALICE, 'start billing staging', 'billing staging is locked by <@U02BOB>');
    expect(await listRuns(h.ferry.runs)).toEqual([]);

    await h.ask(ALICE, 'unlock billing staging', '🔓 Unlocked billing staging.');
    await h.command(ALICE, 'start billing staging');
    await h.waitFor(() => h.statusMessage(), 'the run');
  });

  it('shows an open incident on the status message until it is resolved, and keeps it in the report', async () => {
    await h.ask(BOB, 'incident sev2 random nginx 502s on the admin panel', '🔴 sev2 opened on r');
    await h.waitFor(
      () => readable(h.statusMessage()).includes('sev2 open*: random nginx 502s on the admin panel'),
      'the incident on the status message',
    );
    await h.waitFor(
      () =>
        h.thread().some((m) => readable(m).includes('incident opened by <@U02BOB>: sev2: random nginx 502s')),
      'the incident in the thread',
    );

    await h.ask(BOB, 'incident resolve', '🟢 Resolved sev2');
    await h.waitFor(
      () => !readable(h.statusMessage()).includes('sev2 open'),
      'the incident to leave the status message',
    );
    await h.ask(BOB, 'incident resolve', 'has no open incident');

    await h.command(ALICE, 'report');
    const file = await h.waitFor(
      () => h.slack.files().find((f) => f.name.endsWith('-report.md') && f.content),
      'the report',
    );
    expect(file.content!.toString()).toMatch(
      /## Incidents\n\n- \d\d:\d\d:\d\d opened by U02BOB: sev2: random nginx 502s on the admin panel\n- \d\d:\d\d:\d\d resolved by U02BOB/,
    );
  });
});
