import type { SectionBlock } from '@slack/types';
import { describe, expect, it } from 'vitest';
import type { TimelineType } from '../../src/engine/types.ts';
import { validateBlocks } from '../../src/sandbox/fake-slack.ts';
import type { TimelineEvent } from '../../src/store/runs.ts';
import { progressBar, renderProgress } from '../../src/slack/views/progress-message.ts';
import { renderTimelineReply, timelineLine } from '../../src/slack/views/timeline-reply.ts';
import { T0 } from '../support/engine-fixtures.ts';

let seq = 0;
function event(type: TimelineType, fields: Partial<TimelineEvent> = {}): TimelineEvent {
  seq += 1;
  return { id: seq, runId: 'r12', seq, at: new Date(T0 + 3_000), type, ...fields };
}

const sectionTexts = (blocks: readonly unknown[]): string[] =>
  (blocks as SectionBlock[]).map((b) => b.text?.text ?? '');

describe('timelineLine', () => {
  // A Record over TimelineType: adding a type without a line here fails to compile.
  const expected: Record<TimelineType, [Partial<TimelineEvent>, string]> = {
    incident_opened: [
      { actor: 'U02BOB', detail: 'sev2: random nginx 502s on the admin panel' },
      '🔴 02:00:03 incident opened by <@U02BOB>: sev2: random nginx 502s on the admin panel',
    ],
    incident_resolved: [
      { actor: 'U02BOB', detail: 'sev2: random nginx 502s on the admin panel' },
      '🟢 02:00:03 incident resolved by <@U02BOB>: sev2: random nginx 502s on the admin panel',
    ],
    run_started: [{ actor: 'U01ALICE' }, '🚀 02:00:03 run started by <@U01ALICE>'],
    approval_requested: [{ stepId: 'cutover' }, '✋ 02:00:03 `cutover` waits for approval'],
    approved: [{ stepId: 'cutover', actor: 'U02BOB' }, '✅ 02:00:03 `cutover` approved by <@U02BOB>'],
    rejected: [
      { stepId: 'cutover', actor: 'U02BOB', detail: 'not during peak' },
      '🛑 02:00:03 `cutover` rejected by <@U02BOB>: not during peak',
    ],
    refused: [
      { stepId: 'cutover', actor: 'U09MALLORY', detail: 'approve: You are not an approver' },
      '🚫 02:00:03 `cutover` refused by <@U09MALLORY>: approve: You are not an approver',
    ],
    step_started: [{ stepId: 'flag' }, '▶️ 02:00:03 `flag` started'],
    step_retrying: [
      { stepId: 'flag', detail: 'ECONNRESET (attempt 2 of 5 in 2 s)' },
      '🔁 02:00:03 `flag` will retry: ECONNRESET (attempt 2 of 5 in 2 s)',
    ],
    step_succeeded: [
      { stepId: 'crons', detail: '7 of 9 jobs disabled', figures: { disabled: 7, already: 2 } },
      '✅ 02:00:03 `crons` succeeded: 7 of 9 jobs disabled (disabled 7, already 2)',
    ],
    step_failed: [{ stepId: 'flag', detail: 'NOAUTH' }, '❌ 02:00:03 `flag` failed: NOAUTH'],
    step_skipped: [{ stepId: 'flag', actor: 'U01ALICE' }, '⏭️ 02:00:03 `flag` skipped by <@U01ALICE>'],
    step_retried: [{ stepId: 'flag', actor: 'U01ALICE' }, '🔁 02:00:03 `flag` retried by <@U01ALICE>'],
    waiting_for_person: [{ stepId: 'watch' }, '👤 02:00:03 `watch` waits for a person to press Done'],
    step_done: [{ stepId: 'watch', actor: 'U01ALICE' }, '✅ 02:00:03 `watch` marked done by <@U01ALICE>'],
    rollback_started: [{ actor: 'U01ALICE' }, '↩️ 02:00:03 rollback started by <@U01ALICE>'],
    undo_started: [{ stepId: 'dns' }, '↩️ 02:00:03 `dns` undo started'],
    undo_succeeded: [{ stepId: 'dns', detail: 'restored' }, '↩️ 02:00:03 `dns` undone: restored'],
    undo_failed: [{ stepId: 'dns', detail: 'Throttling' }, '❌ 02:00:03 `dns` undo failed: Throttling'],
    undo_skipped: [{ stepId: 'dns', actor: 'U01ALICE' }, '⏭️ 02:00:03 `dns` undo skipped by <@U01ALICE>'],
    run_succeeded: [{}, '🏁 02:00:03 run succeeded'],
    run_rolled_back: [{}, '🏁 02:00:03 run rolled back'],
    run_aborted: [{ actor: 'U01ALICE' }, '⛔ 02:00:03 run aborted by <@U01ALICE>'],
    note: [{ actor: 'U02BOB', detail: 'DNS looks good' }, '📝 02:00:03 note by <@U02BOB>: DNS looks good'],
  };

  it.each(Object.entries(expected))('writes a %s event as one line', (type, [fields, line]) => {
    expect(timelineLine(event(type as TimelineType, fields))).toBe(line);
  });

  it('escapes details and figures from outside, keeping mentions', () => {
    const line = timelineLine(
      event('note', {
        actor: 'U02BOB',
        detail: 'ask <@U03CAROL> about <script> & friends',
        figures: { 'queue<x>': 'a&b' },
      }),
    );
    expect(line).toContain('ask <@U03CAROL> about &lt;script&gt; &amp; friends');
    expect(line).toContain('(queue&lt;x&gt; a&amp;b)');
    expect(line).not.toContain('<script>');
  });

  it('keeps a very long detail to a bounded line', () => {
    const line = timelineLine(event('step_failed', { stepId: 'flag', detail: '&'.repeat(10_000) }));
    expect(line.length).toBeLessThan(700);
    expect(line).not.toMatch(/&[a-z]*…/);
  });
});

describe('renderTimelineReply', () => {
  it('puts a few events in one section, one line each, in order', () => {
    const events = [event('run_started', { actor: 'U01ALICE' }), event('step_started', { stepId: 'flag' })];
    const view = renderTimelineReply(events);
    expect(validateBlocks(view.blocks)).toEqual([]);
    expect(sectionTexts(view.blocks)).toEqual([
      '🚀 02:00:03 run started by <@U01ALICE>\n▶️ 02:00:03 `flag` started',
    ]);
    expect(view.text).toBe(sectionTexts(view.blocks)[0]);
  });

  it('spreads a large coalesced batch over several sections without dropping an event', () => {
    const events = Array.from({ length: 200 }, (_, i) =>
      event('note', { actor: 'U02BOB', detail: `note number ${i} ${'& '.repeat(100)}` }),
    );
    const view = renderTimelineReply(events);
    expect(validateBlocks(view.blocks)).toEqual([]);
    expect(view.blocks.length).toBeGreaterThan(1);
    const all = sectionTexts(view.blocks).join('\n');
    for (let i = 0; i < 200; i++) expect(all).toContain(`note number ${i} `);
    expect(view.text.length).toBeLessThanOrEqual(3000);
  });
});

describe('renderProgress', () => {
  it('shows a bar, the percentage and the text', () => {
    const view = renderProgress('drain', '120 jobs left in default', 0.4, 'running');
    expect(validateBlocks(view.blocks)).toEqual([]);
    expect(sectionTexts(view.blocks)).toEqual([
      `⏳ *drain*\n${'▓'.repeat(8)}${'░'.repeat(12)} 40%\n120 jobs left in default`,
    ]);
  });

  it('marks a finished step and omits the bar when the fraction is unknown', () => {
    const view = renderProgress('dns', 'INSYNC', null, 'succeeded');
    expect(sectionTexts(view.blocks)).toEqual(['✅ *dns*\nINSYNC']);
  });

  it('marks the last progress of a failed step as a failure, not a success', () => {
    const view = renderProgress('drain', '12 jobs left after 30m', 0.6, 'failed');
    expect(sectionTexts(view.blocks)[0]).toMatch(/^❌ \*drain\*/);
  });

  it('clamps the bar to 0..1', () => {
    expect(progressBar(-1, 4)).toBe('░░░░');
    expect(progressBar(2, 4)).toBe('▓▓▓▓');
  });

  it('escapes and bounds hostile progress text in the blocks and the notification text', () => {
    const view = renderProgress('drain', `<!here> ${'&'.repeat(5_000)}`, 0.1, 'running');
    expect(validateBlocks(view.blocks)).toEqual([]);
    expect(view.text).not.toContain('<!here>');
    expect(sectionTexts(view.blocks)[0]).not.toContain('<!here>');
  });
});
