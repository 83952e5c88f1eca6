import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SlackMessage, SlackView } from '../../src/sandbox/fake-slack.ts';
import { buildEventEnvelope, sendEvent } from '../../src/sandbox/signed-request.ts';
import { ActionId } from '../../src/slack/action-ids.ts';
import {
  ALICE,
  BOB,
  CAROL,
  CHANNEL,
  readable,
  startHarness,
  type Harness,
} from '../support/ferry-harness.ts';

// The App Home tab, as Slack drives it: app_home_opened (a signed event) -> views.publish with the
// campaign matrix (services × environments), republished for the people who opened it as runs change.
// `/migrate list` shows the same matrix.

const billing = `
service: billing
starters: [U01ALICE]
approvers: { users: [U02BOB] }
environments:
  staging:
    steps:
      - { id: maintenance-on, kind: maintenance, action: on,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
      - { id: watch, kind: manual, instructions: "Watch the dashboards, then press Done." }
      - { id: maintenance-off, kind: maintenance, action: off,
          provider: { type: http, url: "\${MAINT_URL}", token: "\${MAINT_TOKEN}" } }
  production:
    steps:
      - { id: watch, kind: manual, instructions: "Watch the dashboards, then press Done." }
`;

const search = `
service: search
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

describe('the App Home tab', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ plan: [billing, search], captureLog: true });
  });
  afterAll(async () => {
    await h?.stop();
  });

  const openHome = (user: string) =>
    sendEvent(
      h.ferry.url,
      h.secret,
      buildEventEnvelope({
        event: {
          type: 'app_home_opened',
          user,
          channel: `D0${user.slice(1)}`,
          tab: 'home',
          event_ts: `${(Date.now() / 1000).toFixed(6)}`,
        },
      }),
    );

  const publishes = (user: string) =>
    h.slack.callsTo('views.publish').filter((c) => c.args.user_id === user && c.response.ok === true);

  /** What the person's Home tab shows, as they read it. */
  const home = (user: string): string => {
    const view = h.slack.store.homeView(user);
    return view ? readable({ text: '', blocks: view.blocks } as unknown as SlackMessage) : '';
  };

  /** Waits until the person's Home tab shows something `probe` accepts. */
  const homeShows = (user: string, probe: (shown: string) => boolean, what: string) =>
    h.waitFor(() => {
      const shown = home(user);
      return probe(shown) ? shown : undefined;
    }, `${user}'s Home tab to show ${what}`);

  /** A line of the matrix: `environment` under `service`. */
  const line = (shown: string, service: string, environment: string): string => {
    const block = shown.split('\n*').find((b) => b.replace(/^\*/, '').startsWith(`${service}*`)) ?? '';
    return block.split('\n').find((l) => l.startsWith(`\`${environment}\``)) ?? '';
  };

  it('publishes the matrix of every service and environment to whoever opens the tab', async () => {
    const res = await openHome(ALICE);
    expect(res.status).toBe(200);
    const shown = await homeShows(ALICE, (s) => s.includes('search'), 'the matrix');
    expect(shown).toContain('Migrations: services × environments');
    for (const [service, environment] of [
      ['billing', 'staging'],
      ['billing', 'production'],
      ['search', 'staging'],
      ['search', 'production'],
    ] as const)
      expect(line(shown, service, environment)).toBe(`\`${environment}\`  ▫️ no run yet`);
    const view = h.slack.store.homeView(ALICE) as SlackView;
    expect(view.type).toBe('home');
    // Nobody else opened it: nobody else is published to.
    expect(publishes(BOB)).toEqual([]);
    expect(publishes(CAROL)).toEqual([]);

    // Opened again with nothing changed: the view Slack holds is still right, nothing is sent.
    const before = publishes(ALICE).length;
    await openHome(ALICE);
    // Then BOB opens it: by the time his view is published, ALICE's second opening was handled too.
    await openHome(BOB);
    await homeShows(BOB, (s) => s.includes('search'), 'the matrix');
    await new Promise((r) => setTimeout(r, 200));
    expect(publishes(ALICE)).toHaveLength(before);
  });

  it("is republished as runs change: the run's state, who it waits on, its downtime, incidents, and a link to its thread", async () => {
    await h.command(ALICE, 'start billing staging');
    const status = await h.waitFor(() => h.statusMessage('r1'), 'r1');
    const waiting = await homeShows(
      ALICE,
      (s) => line(s, 'billing', 'staging').includes('press Done'),
      'r1 waiting for Done',
    );
    const permalink = `https://ferry-sandbox.slack.com/archives/${CHANNEL}/p${status.ts.replace('.', '')}`;
    const raw = JSON.stringify(h.slack.store.homeView(ALICE)!.blocks);
    expect(raw).toContain(`<${permalink}|r1>`);
    expect(line(waiting, 'billing', 'staging')).toMatch(
      /^`staging` {2}✋ <https:\/\/\S+\|r1> waits on <@U01ALICE> to press Done on `watch` since \d\d:\d\d UTC · maintenance on since \d\d:\d\d UTC$/,
    );
    expect(line(waiting, 'billing', 'production')).toBe('`production`  ▫️ no run yet');

    await h.ask(BOB, 'incident sev2 checkout latency up 40%', '🔴 sev2 opened on r1');
    const incident = await homeShows(
      ALICE,
      (s) => line(s, 'billing', 'staging').includes('sev2'),
      'the open incident',
    );
    expect(line(incident, 'billing', 'staging')).toMatch(
      / · 🔴 sev2 open since \d\d:\d\d UTC: checkout latency up 40%$/,
    );
    await h.ask(BOB, 'incident resolve', '🟢 Resolved sev2');

    const updated = h.statusMessage('r1') ?? status;
    await h.click(ALICE, updated, ActionId.done);
    const done = await homeShows(
      ALICE,
      (s) => line(s, 'billing', 'staging').includes('succeeded'),
      'r1 succeeded',
    );
    // A finished run: when it ended, how long it took, and its downtime, all final.
    expect(line(done, 'billing', 'staging')).toMatch(
      /^`staging` {2}✅ <https:\/\/\S+\|r1> succeeded \S+ \d\d:\d\d UTC, took \d+(\.\d+)? ?m?s · downtime \d+(\.\d+)? ?m?s$/,
    );
    expect(line(done, 'billing', 'staging')).not.toContain('sev2');
  });

  it('shows locks and scheduled starts to whoever opens the tab, and /migrate list shows the same matrix', async () => {
    await h.ask(BOB, 'lock search staging reindexing the catalogue', '🔒 Locked search staging');
    const at = new Date(Date.now() + 3 * 3_600_000).toISOString().replace(/\.\d+Z$/, 'Z');
    await h.ask(ALICE, `start search production --at ${at}`, '⏰ search production will start at');

    await openHome(CAROL);
    const shown = await homeShows(CAROL, (s) => s.includes('🔒'), 'the lock');
    expect(line(shown, 'search', 'staging')).toBe(
      '`staging`  ▫️ no run yet · 🔒 locked by <@U02BOB>: reindexing the catalogue',
    );
    expect(line(shown, 'search', 'production')).toMatch(
      /^`production` {2}▫️ no run yet · ⏰ `s1` starts \S+ \d\d:\d\d UTC for <@U01ALICE>$/,
    );

    const list = await h.ask(CAROL, 'list', 'Services × environments');
    for (const [service, environment] of [
      ['billing', 'staging'],
      ['billing', 'production'],
      ['search', 'staging'],
      ['search', 'production'],
    ] as const) {
      expect(line(shown, service, environment)).not.toBe('');
      expect(list).toContain(line(shown, service, environment));
    }
    // The same blocks, and the same links to the runs' threads.
    const listed = h.slack.ephemerals(CAROL).at(-1)!;
    const matrix = (blocks: unknown[]) =>
      JSON.stringify(blocks.filter((b) => JSON.stringify(b).includes('`staging`')));
    expect(matrix(listed.blocks ?? [])).toBe(matrix(h.slack.store.homeView(CAROL)!.blocks));
  });

  it('logged no warning or error along the way', () => {
    expect(h.logLines).toEqual([]);
  });
});
