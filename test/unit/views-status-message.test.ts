import type { ActionsBlock, Button, KnownBlock } from '@slack/types';
import { describe, expect, it } from 'vitest';
import type { RunState } from '../../src/engine/types.ts';
import { validateBlocks } from '../../src/sandbox/fake-slack.ts';
import { ActionId } from '../../src/slack/action-ids.ts';
import { cutMrkdwn, escapeMrkdwn, escapeTruncated } from '../../src/slack/views/format.ts';
import { heldChanges, renderStatusMessage, type StepProgress } from '../../src/slack/views/status-message.ts';
import { stepSchema, type StepSpec } from '../../src/plan/schema.ts';
import { alice, bob, runUntil, Scenario, T0 } from '../support/engine-fixtures.ts';

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
    .join('\n');
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
    expect(view.read).toContain('Started by <@U01ALICE> at 02:00:00 UTC · running');
    expect(view.read).toContain('Step 2 of 3, *flag*: running.');
    expect(view.read).toContain('✅ `maintenance`  02:00:00  Heroku billing-production maintenance on');
    expect(view.read).toContain('⏳ `flag`');
    expect(view.read).toContain('▫️ `dns`');
    expect(view.labels).toEqual(['Roll back', 'Abort']);
    expect(view.text).toBe('billing production r12: running');
  });

  it('says which attempt a retrying step is on', () => {
    const s = Scenario.of({ steps: ['flag'] });
    s.start();
    s.flake('flag');
    expect(render(s.state, T0).read).toContain('Step 1 of 1, *flag*: running (attempt 2).');
  });

  it('shows a step waiting for approval: the approvers by name and how long ago it was asked', () => {
    const s = Scenario.of({ steps: ['flag', { id: 'cutover', kind: 'dns', approval: true }] });
    runUntil(s, 'cutover');
    const askedAt = s.now;
    const view = render(s.state, askedAt + 3 * MIN);
    expect(view.read).toContain(
      'Step 2 of 2, *cutover*: waiting for approval from <@U02BOB> or <!subteam^S0PLATFORM> (asked 3m ago)',
    );
    expect(view.read).toContain('✋ `cutover`');
    // Approve and Reject live on the approval request in the thread, not here.
    expect(view.labels).toEqual(['Roll back', 'Abort']);
  });

  it('leaves the person who started a four-eyes run out of the approvers it waits for', () => {
    const s = Scenario.of({
      steps: [{ id: 'cutover', kind: 'dns', approval: true }],
      policy: { approverUsers: [alice.user, bob.user], approverGroups: [] },
    });
    s.start();
    expect(render(s.state, s.now).read).toContain('waiting for approval from <@U02BOB> (asked just now)');
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
    expect(view.read).toContain('Step 2 of 2, *watch*: waiting for a person to press Done.');
    expect(view.read).toContain('👤 *watch*: manual watch');
    const done = view.buttons.find((b) => b.action_id === ActionId.done);
    // The button names the wait it was shown for: `w` and when the step started, in base 36.
    expect(done).toMatchObject({
      text: { text: 'Done' },
      value: `r12:watch:w${s.step('watch').startedAt!.toString(36)}`,
      style: 'primary',
    });
    expect(view.labels).toEqual(['Done', 'Roll back', 'Abort']);
  });

  it('shows a failed step with its error and Retry, Skip, Roll back (and Abort)', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag'] });
    s.start();
    s.succeed('maintenance');
    s.fail('flag', 'Redis said NOAUTH <Authentication required> & closed the connection');
    const view = render(s.state, s.now);
    expect(view.read).toContain('❌ Step 2 of 2, *flag*, failed.');
    expect(view.read).toContain(
      '❌ *flag* failed: Redis said NOAUTH &lt;Authentication required&gt; &amp; closed the connection',
    );
    expect(view.read).toContain('Press *Retry* to run it again, *Skip* to go on without it, or *Roll back*');
    expect(view.labels).toEqual(['Retry', 'Skip', 'Roll back', 'Abort']);
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
    expect(view.labels).toEqual(['Retry', 'Skip', 'Roll back', 'Abort']);
  });

  it('shows a failed undo with Retry and Skip for the undo, and no Roll back', () => {
    const s = Scenario.of({ steps: ['maintenance', 'dns'] });
    runUntil(s, null);
    s.rollback();
    s.fail('dns', 'Route 53 said InvalidChangeBatch');
    expect(s.state.status).toBe('failed');
    const view = render(s.state, s.now);
    expect(view.read).toContain('Rolling back stopped: the undo of step 2 of 2, *dns*, failed.');
    expect(view.read).toContain('❌ *dns* could not be undone: Route 53 said InvalidChangeBatch');
    expect(view.read).toContain('↩️❌ `dns`');
    expect(view.labels).toEqual(['Retry', 'Skip', 'Abort']);
    expect(view.buttons.find((b) => b.action_id === ActionId.retry)?.value).toBe('r12:dns:u1');
  });

  it('shows a run rolling back, the step being undone, and only Abort', () => {
    const s = Scenario.of({ steps: ['maintenance', 'dns'] });
    runUntil(s, null);
    s.rollback();
    const view = render(s.state, s.now);
    expect(view.read).toContain('↩️ Rolling back: undoing *dns*.');
    expect(view.read).toContain('↩️⏳ `dns`');
    expect(view.labels).toEqual(['Abort']);
  });

  it('shows a rolled-back run with what each undo did, and no buttons', () => {
    const s = Scenario.of({ steps: ['maintenance', 'dns'] });
    runUntil(s, null);
    s.rollback();
    s.succeed('dns', 'restored the old CNAME');
    s.succeed('maintenance', 'maintenance off again');
    expect(s.state.status).toBe('rolled_back');
    const view = render(s.state, s.now);
    expect(view.read).toContain('↩️ Rolled back: every change that went through was undone.');
    expect(view.read).toContain('↩️ `dns`  02:00:00  restored the old CNAME');
    expect(view.labels).toEqual([]);
  });

  it('shows a succeeded run with its duration and only Roll back', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag'] });
    s.start();
    s.tick(65_000).succeed('maintenance');
    s.tick(10_000).succeed('flag');
    const view = render(s.state, s.now + 10 * MIN);
    expect(view.read).toContain('✅ All 2 steps done in 1m 15s.');
    expect(view.read).toContain('succeeded · 1m 15s');
    expect(view.labels).toEqual(['Roll back']);
  });

  it('shows an aborted run, where it stopped, and no buttons', () => {
    const s = Scenario.of({ steps: ['maintenance', 'flag', 'dns'] });
    s.start();
    s.succeed('maintenance');
    s.abort();
    const view = render(s.state, s.now);
    expect(view.read).toContain(
      '⛔ Aborted at step 2 of 3. Nothing more will run; changes made so far stay in place.',
    );
    expect(view.labels).toEqual([]);
  });

  it('shows live progress under the running step', () => {
    const s = Scenario.of({ steps: ['drain'] });
    s.start();
    const view = render(s.state, s.now, [{ stepId: 'drain', text: '42 jobs left <default>', fraction: 0.4 }]);
    expect(view.read).toContain('⏳ `drain`');
    expect(view.read).toContain('42 jobs left &lt;default&gt;');
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
    expect(view.labels).toEqual(['Retry', 'Skip', 'Roll back', 'Abort']);
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

describe('heldChanges', () => {
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

  it('says how long maintenance has been on and jobs paused, until they are switched back', () => {
    const during = run({
      'maintenance-on': { status: 'succeeded', finishedAt: 0 },
      pause: { status: 'succeeded', finishedAt: 30_000 },
    });
    expect(heldChanges(during, specs, 372_000)).toEqual([
      'maintenance on for 6m 12s',
      'jobs paused for 5m 42s',
    ]);
    const after = run({
      'maintenance-on': { status: 'succeeded', finishedAt: 0 },
      pause: { status: 'rolled_back', finishedAt: 40_000 },
      'maintenance-off': { status: 'succeeded', finishedAt: 60_000 },
    });
    expect(heldChanges(after, specs, 372_000)).toEqual([]);
  });
});
