import type { ActionsBlock, Button, KnownBlock } from '@slack/types';
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { formatDuration } from '../../src/duration.ts';
import { newRunState } from '../../src/engine/new-run.ts';
import type { RunState, TimelineEvent } from '../../src/engine/types.ts';
import { stepTitle } from '../../src/plan/describe.ts';
import { loadPlanFile } from '../../src/plan/load.ts';
import { validateBlocks } from '../../src/sandbox/fake-slack.ts';
import { ActionId } from '../../src/slack/action-ids.ts';
import { cutMrkdwn, escapeMrkdwn, escapeTruncated } from '../../src/slack/views/format.ts';
import {
  heldSince,
  renderStatusMessage,
  STEP_SUMMARY_MAX,
  type StepProgress,
} from '../../src/slack/views/status-message.ts';
import { stepSchema, type StepSpec } from '../../src/plan/schema.ts';
import { alice, bob, carol, defaultPolicy, runUntil, Scenario, T0 } from '../support/engine-fixtures.ts';

// The status message is a pure function of the run: each test drives a real run through the engine
// (Scenario) and reads the blocks the way a person would, and the way Slack would validate them.

const MIN = 60_000;

function buttons(blocks: readonly KnownBlock[]): Button[] {
  return blocks
    .filter((b): b is ActionsBlock => b.type === 'actions')
    .flatMap((b) => b.elements)
    .filter((e): e is Button => e.type === 'button');
}

function labels(blocks: readonly KnownBlock[]): string[] {
  return buttons(blocks).map((b) => b.text.text);
}

/** Everything a person reads in the message, in order. */
function readable(blocks: readonly KnownBlock[]): string {
  return blocks
    .flatMap((b) => {
      if (b.type === 'header') return [b.text.text];
      if (b.type === 'section') return [b.text?.text ?? ''];
      if (b.type === 'context') return b.elements.map((e) => ('text' in e ? e.text : ''));
      return [];
    })
    .join('\n')
    .replace(/<!date\^\d+\^\{time\}\|([^>]*)>/g, '$1');
}

/** Renders and checks the result against Slack's Block Kit limits, so every test also proves those. */
function render(state: RunState, now: number, progress: StepProgress[] = []) {
  const view = renderStatusMessage(state, now, { progress });
  expect(validateBlocks(view.blocks)).toEqual([]);
  expect(view.text.length).toBeGreaterThan(0);
  return { ...view, read: readable(view.blocks), labels: labels(view.blocks), buttons: buttons(view.blocks) };
}

describe('renderStatusMessage, by run status', () => {
  it('shows a running run: where it is, who started it, Roll back and Abort', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag', 'dns'] });
    s.start();
    s.succeed('maintenance', 'Heroku billing-production maintenance on');
    const view = render(s.state, T0 + 5_000);
    expect(view.blocks[0]).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: 'billing · production · r12' },
    });
    expect(view.read).toContain('Started by <@U01ALICE> at 02:00 UTC · running');
    expect(view.read).toContain('⏳ Step 2 of 3, *flag*: running since 02:00 UTC.');
    expect(view.read).toContain('✅ `maintenance` 02:00 UTC  Heroku billing-production maintenance on');
    expect(view.read).toContain('⏳ `flag`');
    expect(view.read).toContain('▫️ `dns`');
    expect(view.labels).toEqual(['Roll back', 'Abort', 'Add note']);
    expect(view.text).toBe('billing production r12: running');
  });

  it('says which attempt a retrying step is on', () => {
    const s = Scenario.of({ steps: ['flag'] });
    s.start();
    s.flake('flag');
    expect(render(s.state, T0).read).toContain('Step 1 of 1, *flag*: running since 02:00 UTC (attempt 2).');
  });

  it('shows a step waiting for approval: the approvers by name and since when (a time that cannot go stale)', () => {
    const s = Scenario.of({ steps: ['flag', { id: 'cutover', kind: 'dns', approval: true }] });
    runUntil(s, 'cutover');
    const askedAt = s.now;
    const view = render(s.state, askedAt + 3 * MIN);
    expect(view.read).toContain(
      '✋ Step 2 of 2, *cutover*: waiting for approval from <@U02BOB> or <!subteam^S0PLATFORM> since 02:00 UTC.',
    );
    // The same blocks three minutes later: nothing on the message counts up between edits.
    expect(render(s.state, askedAt + 6 * MIN).blocks).toEqual(view.blocks);
    expect(view.read).toContain('✋ `cutover`');
    // Approve and Reject live on the approval request in the thread, not here.
    expect(view.labels).toEqual(['Roll back', 'Abort', 'Add note']);
  });

  it('leaves the person who started a four-eyes run out of the approvers it waits for', () => {
    const s = Scenario.of({
      steps: [{ id: 'cutover', kind: 'dns', approval: true }],
      policy: { approverUsers: [alice.user, bob.user], approverGroups: [] },
    });
    s.start();
    expect(render(s.state, s.now).read).toContain('waiting for approval from <@U02BOB> since 02:00 UTC.');
  });

  it('shows who approved a step next to it', () => {
    const s = Scenario.of({ steps: [{ id: 'cutover', kind: 'dns', approval: true }, 'flag'] });
    s.start();
    s.approve('cutover');
    expect(render(s.state, s.now).read).toContain('(approved by <@U02BOB>)');
  });

  it('shows a manual step waiting for a person with its instructions and a Done button', () => {
    const s = Scenario.of({ steps: ['flag', { id: 'watch', kind: 'manual' }] });
    runUntil(s, 'watch');
    const view = render(s.state, s.now);
    expect(view.read).toContain(
      'Step 2 of 2, *watch*: waiting for a person to press Done (<@U01ALICE>, <@U02BOB> or <!subteam^S0PLATFORM>) since 02:00 UTC.',
    );
    expect(view.read).toContain('👤 *watch*: manual watch');
    const done = view.buttons.find((b) => b.action_id === ActionId.done);
    // The button names the wait it was shown for: `w` and when the step started, in base 36.
    expect(done).toMatchObject({
      text: { text: 'Done' },
      value: `r12:watch:w${s.step('watch').startedAt!.toString(36)}`,
      style: 'primary',
    });
    expect(view.labels).toEqual(['Done', 'Roll back', 'Abort', 'Add note']);
  });

  it('shows a failed step with its error and Retry, Skip, Roll back (and Abort)', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag'] });
    s.start();
    s.succeed('maintenance');
    s.fail('flag', 'Redis said NOAUTH <Authentication required> & closed the connection');
    const view = render(s.state, s.now);
    expect(view.read).toContain(
      '❌ Step 2 of 2, *flag*, failed since 02:00 UTC; waiting for <@U01ALICE>, <@U02BOB> or <!subteam^S0PLATFORM> to press Retry, Skip or Roll back.',
    );
    expect(view.read).toContain(
      '❌ *flag* failed: Redis said NOAUTH &lt;Authentication required&gt; &amp; closed the connection',
    );
    expect(view.read).toContain('Press *Retry* to run it again, *Skip* to go on without it, or *Roll back*');
    expect(view.labels).toEqual(['Retry', 'Skip', 'Roll back', 'Abort', 'Add note']);
    const byId = new Map(view.buttons.map((b) => [b.action_id, b]));
    // Retry and Skip name the failed attempt they were shown for (`a1`: the first forward attempt).
    expect(byId.get(ActionId.retry)).toMatchObject({ value: 'r12:flag:a1', style: 'primary' });
    expect(byId.get(ActionId.skip)).toMatchObject({ value: 'r12:flag:a1' });
    expect(byId.get(ActionId.rollback)).toMatchObject({ value: 'r12', style: 'danger' });
    expect(byId.get(ActionId.abort)).toMatchObject({ value: 'r12', style: 'danger' });
    expect(view.text).toBe('billing production r12: failed: waiting for Retry, Skip or Roll back');
  });

  it('shows a rejected step as failed, naming who rejected it', () => {
    const s = Scenario.of({ steps: [{ id: 'cutover', kind: 'dns', approval: true }] });
    s.start();
    s.reject('cutover', bob, 'not during peak');
    const view = render(s.state, s.now);
    expect(view.read).toContain('❌ *cutover* failed: Rejected by <@U02BOB>: not during peak');
    expect(view.labels).toEqual(['Retry', 'Skip', 'Roll back', 'Abort', 'Add note']);
  });

  it('shows a failed undo with Retry and Skip for the undo, and no Roll back', () => {
    const s = Scenario.of({ steps: ['maintenance', 'dns'] });
    runUntil(s, null);
    s.rollback();
    s.fail('dns', 'Route 53 said InvalidChangeBatch');
    expect(s.state.status).toBe('failed');
    const view = render(s.state, s.now);
    expect(view.read).toContain(
      'Rolling back stopped: the undo of step 2 of 2, *dns*, failed since 02:00 UTC;',
    );
    expect(view.read).toContain('❌ *dns* could not be undone: Route 53 said InvalidChangeBatch');
    expect(view.read).toContain('↩️❌ `dns`');
    expect(view.labels).toEqual(['Retry', 'Skip', 'Abort', 'Add note']);
    expect(view.buttons.find((b) => b.action_id === ActionId.retry)?.value).toBe('r12:dns:u1');
  });

  it('shows a run rolling back, the step being undone, and only Abort', () => {
    const s = Scenario.of({ steps: ['maintenance', 'dns'] });
    runUntil(s, null);
    s.rollback();
    const view = render(s.state, s.now);
    expect(view.read).toContain('↩️ Rolling back: undoing *dns* since 02:00 UTC.');
    expect(view.read).toContain('↩️⏳ `dns`');
    expect(view.labels).toEqual(['Abort', 'Add note']);
  });

  it('shows a rolled-back run with what each undo did, and only Add note', () => {
    const s = Scenario.of({ steps: ['maintenance', 'dns'] });
    runUntil(s, null);
    s.rollback();
    s.succeed('dns', 'restored the old CNAME');
    s.succeed('maintenance', 'maintenance off again');
    expect(s.state.status).toBe('rolled_back');
    const view = render(s.state, s.now);
    expect(view.read).toContain('↩️ Rolled back: every change that went through was undone.');
    expect(view.read).toContain('↩️ `dns` 02:00 UTC  restored the old CNAME');
    expect(view.labels).toEqual(['Add note']);
  });

  it('shows a succeeded run with its final totals, Roll back and Add note', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag'] });
    s.start();
    s.tick(65_000).succeed('maintenance');
    s.tick(10_000).succeed('flag');
    const view = render(s.state, s.now + 10 * MIN);
    expect(view.read).toContain('✅ All 2 steps done in 1m 15s.');
    expect(view.read).toContain('succeeded at 02:01 UTC · took 1m 15s');
    expect(view.labels).toEqual(['Roll back', 'Add note']);
  });

  it('shows an aborted run, where it stopped, and only Add note', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag', 'dns'] });
    s.start();
    s.succeed('maintenance');
    s.abort();
    const view = render(s.state, s.now);
    expect(view.read).toContain(
      '⛔ Aborted at step 2 of 3. Nothing more will run; changes made so far stay in place.',
    );
    expect(view.labels).toEqual(['Add note']);
  });

  it('shows live progress under the running step', () => {
    const s = Scenario.of({ steps: ['drain'] });
    s.start();
    const view = render(s.state, s.now, [{ stepId: 'drain', text: '42 jobs left <default>', fraction: 0.4 }]);
    expect(view.read).toContain('⏳ `drain`');
    expect(view.read).toContain('42 jobs left &lt;default&gt;');
  });
});

describe('renderStatusMessage at the point of no return', () => {
  function scaleDown(): Scenario {
    const s = Scenario.of({ steps: ['maintenance', { kind: 'jobs', id: 'scale-down' }, 'flag'] });
    s.state = {
      ...s.state,
      steps: s.state.steps.map((st) =>
        st.id === 'scale-down'
          ? { ...st, irreversible: true, forwardFix: 'scale the old platform up again by hand' }
          : st,
      ),
    };
    s.start();
    return s;
  }

  it('marks the irreversible step until it went through, and offers Roll back before it', () => {
    const s = scaleDown();
    const view = render(s.state, s.now);
    expect(view.read).toContain('▫️ `scale-down`  jobs scale-down · 🚧 point of no return');
    expect(view.labels).toEqual(['Roll back', 'Abort', 'Add note']);
  });

  it('replaces Roll back with the forward fix once it went through, also when a later step fails', () => {
    const s = scaleDown();
    s.succeed('maintenance');
    s.succeed('scale-down', 'old workers scaled to 0');
    let view = render(s.state, s.now);
    expect(view.read).toContain('✅ `scale-down` 02:00 UTC  old workers scaled to 0');
    expect(view.read).not.toContain('point of no return');
    expect(view.read).toContain(
      '🚧 scale-down went through and cannot be undone, so this run can no longer be rolled back. Fix forward: scale the old platform up again by hand',
    );
    expect(view.labels).toEqual(['Abort', 'Add note']);

    s.fail('flag', 'Redis refused the connection');
    view = render(s.state, s.now);
    expect(view.read).toContain('to press Retry or Skip.');
    expect(view.read).toContain('Press *Retry* to run it again or *Skip* to go on without it.');
    expect(view.labels).toEqual(['Retry', 'Skip', 'Abort', 'Add note']);
    expect(view.read).toContain('Fix forward: scale the old platform up again by hand');
  });
});

describe('renderStatusMessage within Slack limits', () => {
  const hostile = `${'& <script>alert(1)</script> '.repeat(300)}<@U02BOB>`;

  function bigRun(): Scenario {
    const steps = Array.from({ length: 60 }, (_, i) => ({
      id: `step-${i + 1}-${'x'.repeat(40)}`,
      kind: 'flag' as const,
    }));
    const s = Scenario.of({ steps });
    s.state = {
      ...s.state,
      steps: s.state.steps.map((step) => ({ ...step, title: `${step.id} ${hostile}` })),
    };
    return s;
  }

  it('keeps a 60-step run with very long titles and errors within every limit and loses no step', () => {
    const s = bigRun();
    s.start();
    for (let i = 1; i <= 30; i++) s.succeed(s.state.steps[i - 1]!.id, `summary ${i} ${hostile}`);
    s.fail(s.state.steps[30]!.id, `error ${hostile}`);
    const view = render(s.state, s.now, [{ stepId: s.state.steps[30]!.id, text: hostile, fraction: 0.5 }]);
    expect(view.blocks.length).toBeLessThanOrEqual(50);
    for (const step of s.state.steps) expect(view.read).toContain(`\`${step.id}\``);
    expect(view.read).not.toContain('<script>');
    expect(view.labels).toEqual(['Retry', 'Skip', 'Roll back', 'Abort', 'Add note']);
  });

  it.each(['running', 'waiting', 'failed', 'rolling_back', 'succeeded'] as const)(
    'keeps a 60-step run within every limit while %s',
    (status) => {
      const s = bigRun();
      s.start();
      if (status === 'waiting') s.state = { ...s.state, status: 'waiting' };
      if (status === 'failed') s.fail(s.state.steps[0]!.id, hostile);
      if (status === 'rolling_back') {
        s.succeed(s.state.steps[0]!.id, hostile);
        s.rollback();
      }
      if (status === 'succeeded') runUntil(s, null);
      expect(s.state.status).toBe(status);
      const view = render(s.state, s.now + 3 * MIN);
      expect(view.blocks.length).toBeLessThanOrEqual(50);
    },
  );

  it('keeps even a 1000-step run within 50 blocks, saying what was left out', () => {
    const steps = Array.from({ length: 1000 }, (_, i) => ({ id: `s${i}`, kind: 'flag' as const }));
    const s = Scenario.of({ steps });
    s.state = { ...s.state, steps: s.state.steps.map((step) => ({ ...step, title: hostile })) };
    s.start();
    const view = render(s.state, s.now);
    expect(view.blocks.length).toBeLessThanOrEqual(50);
    expect(view.read).toMatch(/… and \d+ more, left out to stay within Slack's limits\./);
  });

  it('keeps a very long service name within the header limit', () => {
    const s = Scenario.of({ steps: ['flag'] });
    s.state = { ...s.state, service: 'b'.repeat(400) };
    s.start();
    const header = render(s.state, s.now).blocks[0] as { text: { text: string } };
    expect(header.text.text.length).toBeLessThanOrEqual(150);
  });

  it('gives every danger button a confirm dialog', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag'] });
    s.start();
    s.succeed('maintenance');
    s.fail('flag');
    const danger = render(s.state, s.now).buttons.filter((b) => b.style === 'danger');
    expect(danger.map((b) => b.text.text)).toEqual(['Roll back', 'Abort']);
    for (const b of danger) {
      expect(b.confirm).toMatchObject({
        title: { type: 'plain_text' },
        confirm: { type: 'plain_text', text: b.text.text },
        deny: { type: 'plain_text', text: 'Cancel' },
        style: 'danger',
      });
    }
    expect(danger[0]!.confirm!.text.text).toContain('undone, newest first');
    expect(danger[1]!.confirm!.text.text).toContain('nothing is undone');
  });

  it('renders the same blocks for the same run and time', () => {
    const s = Scenario.of({ steps: ['flag', 'dns'] });
    s.start();
    expect(renderStatusMessage(s.state, s.now)).toEqual(renderStatusMessage(structuredClone(s.state), s.now));
  });
});

describe('escapeMrkdwn', () => {
  it('keeps user, user-group and channel mentions as mentions', () => {
    expect(escapeMrkdwn('ask <@U02BOB> or <!subteam^S0PLATFORM> in <#C0MIGRATIONS>')).toBe(
      'ask <@U02BOB> or <!subteam^S0PLATFORM> in <#C0MIGRATIONS>',
    );
  });

  it('escapes markup and ampersands from elsewhere, and broadcast mentions', () => {
    expect(escapeMrkdwn('<script>alert("x")</script> & <!channel>')).toBe(
      '&lt;script&gt;alert("x")&lt;/script&gt; &amp; &lt;!channel&gt;',
    );
  });

  it('escapes around mentions', () => {
    expect(escapeMrkdwn('a & <@U1ABC> > b <@u1abc>')).toBe('a &amp; <@U1ABC> &gt; b &lt;@u1abc&gt;');
  });

  it('never cuts escaped text inside an entity or a mention', () => {
    expect(escapeTruncated('&&&&', 8)).toBe('&amp;…');
    expect(escapeTruncated('hi <@U02BOB>', 10)).toBe('hi …');
    expect(cutMrkdwn('short', 10)).toBe('short');
    for (let max = 2; max < 40; max++) {
      const cut = escapeTruncated('a&b<c>d <@U02BOB> e & f', max);
      expect(cut.length).toBeLessThanOrEqual(max);
      expect(cut).not.toMatch(/&[a-z]*…$|<[^>]*…$/);
    }
  });
});

describe('heldSince', () => {
  const spec = (raw: Record<string, unknown>): StepSpec => stepSchema.parse(raw);
  const http = { type: 'http', url: 'https://a/maintenance' };
  const specs = new Map<string, StepSpec>([
    ['maintenance-on', spec({ id: 'maintenance-on', kind: 'maintenance', action: 'on', provider: http })],
    [
      'pause',
      spec({
        id: 'pause',
        kind: 'jobs',
        action: 'pause',
        provider: { type: 'heroku-formation', app: 'a', process_types: ['worker'] },
      }),
    ],
    ['maintenance-off', spec({ id: 'maintenance-off', kind: 'maintenance', action: 'off', provider: http })],
  ]);
  const run = (statuses: Record<string, { status: string; finishedAt: number | null }>) =>
    ({
      steps: [...specs.keys()].map((id) => ({
        id,
        ...(statuses[id] ?? { status: 'pending', finishedAt: null }),
      })),
    }) as unknown as RunState;

  it('says since when maintenance has been on and jobs paused, until they are switched back', () => {
    const during = run({
      'maintenance-on': { status: 'succeeded', finishedAt: 0 },
      pause: { status: 'succeeded', finishedAt: 30_000 },
    });
    expect(heldSince(during, specs)).toEqual([
      { label: 'maintenance on', since: 0 },
      { label: 'jobs paused', since: 30_000 },
    ]);
    const after = run({
      'maintenance-on': { status: 'succeeded', finishedAt: 0 },
      pause: { status: 'rolled_back', finishedAt: 40_000 },
      'maintenance-off': { status: 'succeeded', finishedAt: 60_000 },
    });
    expect(heldSince(after, specs)).toEqual([]);
  });
});

describe('renderStatusMessage, readable under pressure', () => {
  const sandbox = 'http://127.0.0.1:41595';

  /** The example plan's production run, with each step's title as the dry run writes it. */
  async function examplePlanRun(): Promise<{ s: Scenario; specs: Map<string, StepSpec> }> {
    const loaded = await loadPlanFile(path.resolve(import.meta.dirname, '../../examples/plans/billing.yml'));
    if (!loaded.ok) throw new Error(loaded.problems.map((p) => p.message).join('\n'));
    const env = loaded.plan.environments.production!;
    const specs = env.steps.map(
      (spec) =>
        JSON.parse(
          JSON.stringify(spec)
            .replaceAll('${SANDBOX_URL}', sandbox)
            .replaceAll('${SANDBOX_REDIS_URL}', 'redis://:secret@127.0.0.1:6379/15')
            .replaceAll('${SANDBOX_MAINTENANCE_TOKEN}', 'token'),
        ) as StepSpec,
    );
    const state = newRunState({
      id: 'r12',
      service: 'billing',
      environment: 'production',
      startedBy: 'U01ALICE',
      startedAt: T0,
      policy: { ...defaultPolicy('production'), starters: ['U01ALICE'] },
      steps: specs.map((spec) => ({ spec, title: stepTitle(spec) })),
    });
    return { s: new Scenario(state), specs: new Map(specs.map((spec) => [spec.id, spec])) };
  }

  /** What a person sees: date tokens as times, mentions as names, entities decoded, no code marks. */
  function onScreen(view: { blocks: readonly KnownBlock[] }): string[] {
    return readable(view.blocks)
      .replace(/<@(U\w+)>/g, '@$1')
      .replace(/<!subteam\^(S\w+)>/g, '@$1')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&')
      .replace(/`/g, '')
      .split('\n');
  }

  // Summaries as the adapters write them for this plan: full URLs, several lines, many figures.
  const summaries: Record<string, string> = {
    'maintenance-on': `${sandbox}/fake/maintenance/billing-production: on (was off)`,
    'pause-webhooks': 'billing-production:webhooks:paused = 1 (was unset)',
    'disable-crons': 'disabled 6 of 7 sidekiq-cron jobs (1 was already disabled)',
    'smoke-new-platform': `✓ GET ${sandbox}/fake/new-platform/billing-production/healthz: 200 as expected, p50 1.38 ms, p95 2.17 ms over 5 samples\n✓ Redis redis://127.0.0.1:6379/15: p50 0.14 ms, p95 4.32 ms, max 4.32 ms over 10 PINGs, within the p95 bound of 50 ms`,
    cutover:
      'api.billing.example.com CNAME billing-production.herokudns.com -> billing-production.eu-central.example.net (TTL 60), INSYNC after 2.1s',
    'verify-cutover': `✓ GET ${sandbox}/fake/new-platform/billing-production/healthz: 200 as expected, p50 1.58 ms, p95 2.48 ms over 10 samples`,
    'drain-old-queues':
      'old Sidekiq queues drained: 0 enqueued, 0 busy, 0 scheduled, 0 retry for 2s (34 samples); 2 dead (not retried, informational)',
  };

  it('fits the example plan (13 steps) on one screen, one short line per step, while it waits', async () => {
    const { s, specs } = await examplePlanRun();
    s.start();
    for (const id of Object.keys(summaries)) {
      if (s.step(id).status === 'awaiting_approval') s.tick(30_000).approve(id, carol);
      s.tick(20_000).succeed(id, summaries[id]);
    }
    expect(s.step('stop-old-workers').status).toBe('awaiting_approval');
    const view = renderStatusMessage(s.state, s.now + 7 * MIN, {
      specs,
      incidents: [
        { severity: 'sev2', summary: '502s on the admin panel', openedBy: 'U02BOB', openedAt: s.now },
      ],
    });
    expect(validateBlocks(view.blocks)).toEqual([]);
    const lines = onScreen(view);
    // Header, headline, the incident, the run's facts, 13 steps.
    expect(lines).toHaveLength(17);
    for (const line of lines) expect(line.length, line).toBeLessThanOrEqual(140);
    const stepLines = lines.slice(4);
    // Glyph, id, time, and a summary of about 80 characters (who approved it included).
    for (const line of stepLines) expect(line.length, line).toBeLessThanOrEqual(STEP_SUMMARY_MAX + 40);
    expect(lines.join('\n').length).toBeLessThan(1_800);
    // Host names, not URLs; one line even for a check of two systems.
    expect(lines.join('\n')).not.toMatch(/https?:\/\/|redis:\/\//);
    expect(lines.find((l) => l.includes('smoke-new-platform'))).toContain('GET 127.0.0.1: 200 as expected');
    // Who waits on whom, since when; the incident right under the headline; what is down since when.
    expect(lines[1]).toBe(
      '✋ Step 8 of 13, *stop-old-workers*: waiting for approval from @U02BOB or @S0PLATFORM since 02:02 UTC.',
    );
    expect(lines[2]).toBe('🔴 *sev2 open*: 502s on the admin panel (@U02BOB, since 02:02 UTC)');
    expect(lines[3]).toBe(
      'Started by @U01ALICE at 02:00 UTC · waiting · maintenance on since 02:00 UTC · crons off since 02:01 UTC',
    );
  });

  it('shows a finished run with its final totals: duration and downtime, nothing counting up', async () => {
    const { s, specs } = await examplePlanRun();
    const decisions = [s.start()];
    const timeline: TimelineEvent[] = [];
    const record = (d: { effects: readonly { type: string }[] }) => {
      for (const e of d.effects as Array<{ type: string; entry?: TimelineEvent }>)
        if (e.type === 'timeline' && e.entry)
          timeline.push({
            ...e.entry,
            id: timeline.length + 1,
            runId: 'r12',
            seq: timeline.length + 1,
            at: new Date(s.now),
          });
    };
    record(decisions[0]!);
    for (const step of s.state.steps) {
      if (s.step(step.id).status === 'awaiting_approval') record(s.tick(30_000).approve(step.id, carol));
      if (step.kind === 'manual') record(s.tick(60_000).done(step.id));
      else record(s.tick(20_000).succeed(step.id, summaries[step.id] ?? `${step.id} done`));
    }
    expect(s.state.status).toBe('succeeded');
    const later = renderStatusMessage(s.state, s.now + 3_600_000, { specs, timeline });
    const now = renderStatusMessage(s.state, s.now, { specs, timeline });
    // An hour later it says the same: totals, not durations that count up.
    expect(later).toEqual(now);
    const lines = onScreen(now);
    const took = formatDuration(s.state.finishedAt! - T0);
    const down = formatDuration(s.step('maintenance-off').finishedAt! - s.step('maintenance-on').finishedAt!);
    expect(lines[1]).toBe(`✅ All 13 steps done in ${took}.`);
    expect(lines[2]).toBe(
      `Started by @U01ALICE at 02:00 UTC · succeeded at 02:06 UTC · took ${took} · downtime ${down} · left in place: jobs paused`,
    );
    // No duration of a state that counts up ("paused for 29s"); an adapter's own final figures
    // ("stayed empty for 2s") are facts of the past and stay.
    expect(lines.join('\n')).not.toMatch(/(paused|on|off|disabled|waiting) for \d/);
  });

  it("shows a running step's live figures in place of its title, whose figures were read at start", () => {
    const s = Scenario.of({ steps: ['drain'] });
    s.state = { ...s.state, steps: s.state.steps.map((st) => ({ ...st, title: 'drain: now 196 enqueued' })) };
    s.start();
    const view = render(s.state, s.now, [
      { stepId: 'drain', text: '0 jobs left, making sure it stays empty', fraction: 1 },
    ]);
    expect(view.read).toContain('⏳ `drain`  0 jobs left, making sure it stays empty');
    expect(view.read).not.toContain('196 enqueued');
  });
});
