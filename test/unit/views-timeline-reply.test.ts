import type { SectionBlock } from '@slack/types';
import { describe, expect, it } from 'vitest';
import type { TimelineType } from '../../src/engine/types.ts';
import { validateBlocks } from '../../src/sandbox/fake-slack.ts';
import type { TimelineEvent } from '../../src/store/runs.ts';
import { progressBar, renderProgress } from '../../src/slack/views/progress-message.ts';
import {
  renderTimelineReply,
  timelineLine,
  withEarlierEvents,
} from '../../src/slack/views/timeline-reply.ts';
import { T0 } from '../support/engine-fixtures.ts';

let seq = 0;
function event(type: TimelineType, fields: Partial<TimelineEvent> = {}): TimelineEvent {
  seq += 1;
  return { id: seq, runId: 'r12', seq, at: new Date(T0 + 3_000), type, ...fields };
}

const sectionTexts = (blocks: readonly unknown[]): string[] =>
  (blocks as SectionBlock[]).map((b) => b.text?.text ?? '');

/** As a reader in UTC sees it: Slack shows a date token's time in the reader's zone (the fallback is UTC). */
const shown = (text: string): string => text.replace(/<!date\^\d+\^\{time\}\|([^>]*)>/g, '$1');

describe('timelineLine', () => {
  // A Record over TimelineType: adding a type without a line here fails to compile.
  const expected: Record<TimelineType, [Partial<TimelineEvent>, string]> = {
    incident_opened: [
      { actor: 'U02BOB', detail: 'sev2: random nginx 502s on the admin panel' },
      '🔴 02:00 UTC incident opened by <@U02BOB>: sev2: random nginx 502s on the admin panel',
    ],
    incident_resolved: [
      { actor: 'U02BOB', detail: 'sev2: random nginx 502s on the admin panel' },
      '🟢 02:00 UTC incident resolved by <@U02BOB>: sev2: random nginx 502s on the admin panel',
    ],
    run_held: [
      { detail: 'sev2: random nginx 502s on the admin panel' },
      '⏸️ 02:00 UTC run held until the incident is resolved: sev2: random nginx 502s on the admin panel',
    ],
    incident_overridden: [
      { actor: 'U01ALICE', stepId: 'cutover', detail: 'went on despite sev2: random nginx 502s' },
      '⚠️ 02:00 UTC `cutover` went on despite sev2: random nginx 502s by <@U01ALICE>',
    ],
    reminder: [
      { stepId: 'cutover', detail: 'approval' },
      '⏰ 02:00 UTC `cutover` still waits for approval: reminded the approvers',
    ],
    step_progress: [
      { stepId: 'watch', detail: '4 samples, no breach, 8 min left' },
      '👀 02:00 UTC `watch` 4 samples, no breach, 8 min left',
    ],
    watch_ended: [
      { stepId: 'watch', actor: 'U01ALICE' },
      '✅ 02:00 UTC `watch` watch ended early by <@U01ALICE>: looks good',
    ],
    window_overridden: [
      {
        actor: 'U02BOB',
        detail:
          'billing is down, the fix cannot wait (started outside its change windows (Sat 01:00-05:00 Europe/Berlin))',
      },
      '⚠️ 02:00 UTC change window overridden by <@U02BOB>: billing is down, the fix cannot wait (started outside its change windows (Sat 01:00-05:00 Europe/Berlin))',
    ],
    run_started: [{ actor: 'U01ALICE' }, '🚀 02:00 UTC run started by <@U01ALICE>'],
    approval_requested: [{ stepId: 'cutover' }, '✋ 02:00 UTC `cutover` waits for approval'],
    approved: [{ stepId: 'cutover', actor: 'U02BOB' }, '✅ 02:00 UTC `cutover` approved by <@U02BOB>'],
    rejected: [
      { stepId: 'cutover', actor: 'U02BOB', detail: 'not during peak' },
      '🛑 02:00 UTC `cutover` rejected by <@U02BOB>: not during peak',
    ],
    refused: [
      { stepId: 'cutover', actor: 'U09MALLORY', detail: 'approve: You are not an approver' },
      '🚫 02:00 UTC `cutover` refused by <@U09MALLORY>: approve: You are not an approver',
    ],
    step_started: [{ stepId: 'flag' }, '▶️ 02:00 UTC `flag` started'],
    step_retrying: [
      { stepId: 'flag', detail: 'ECONNRESET (attempt 2 of 5 in 2 s)' },
      '🔁 02:00 UTC `flag` will retry: ECONNRESET (attempt 2 of 5 in 2 s)',
    ],
    step_succeeded: [
      { stepId: 'dns', detail: 'CNAME set, INSYNC after 2.1s', figures: { insync_seconds: 2.1, polls: 33 } },
      '✅ 02:00 UTC `dns` succeeded: CNAME set, INSYNC after 2.1s (33 polls)',
    ],
    step_failed: [{ stepId: 'flag', detail: 'NOAUTH' }, '❌ 02:00 UTC `flag` failed: NOAUTH'],
    step_skipped: [{ stepId: 'flag', actor: 'U01ALICE' }, '⏭️ 02:00 UTC `flag` skipped by <@U01ALICE>'],
    step_retried: [{ stepId: 'flag', actor: 'U01ALICE' }, '🔁 02:00 UTC `flag` retried by <@U01ALICE>'],
    waiting_for_person: [{ stepId: 'watch' }, '👤 02:00 UTC `watch` waits for a person to press Done'],
    step_done: [{ stepId: 'watch', actor: 'U01ALICE' }, '✅ 02:00 UTC `watch` marked done by <@U01ALICE>'],
    rollback_started: [{ actor: 'U01ALICE' }, '↩️ 02:00 UTC rollback started by <@U01ALICE>'],
    undo_started: [{ stepId: 'dns' }, '↩️ 02:00 UTC `dns` undo started'],
    undo_succeeded: [{ stepId: 'dns', detail: 'restored' }, '↩️ 02:00 UTC `dns` undone: restored'],
    undo_failed: [{ stepId: 'dns', detail: 'Throttling' }, '❌ 02:00 UTC `dns` undo failed: Throttling'],
    undo_skipped: [{ stepId: 'dns', actor: 'U01ALICE' }, '⏭️ 02:00 UTC `dns` undo skipped by <@U01ALICE>'],
    run_succeeded: [{}, '🏁 02:00 UTC run succeeded'],
    run_rolled_back: [{}, '🏁 02:00 UTC run rolled back'],
    run_aborted: [{ actor: 'U01ALICE' }, '⛔ 02:00 UTC run aborted by <@U01ALICE>'],
    note: [{ actor: 'U02BOB', detail: 'DNS looks good' }, '📝 02:00 UTC note by <@U02BOB>: DNS looks good'],
  };

  it.each(Object.entries(expected))('writes a %s event as one line', (type, [fields, line]) => {
    expect(shown(timelineLine(event(type as TimelineType, fields)))).toBe(line);
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

  it('writes times as Slack date tokens, so each reader sees their own time zone', () => {
    const line = timelineLine(event('run_succeeded'));
    expect(line).toBe(`🏁 <!date^${(T0 + 3_000) / 1000}^{time}|02:00 UTC> run succeeded`);
  });

  it('writes figures as sentences a person reads, not key-value dumps', () => {
    const line = shown(
      timelineLine(
        event('step_succeeded', {
          stepId: 'smoke',
          detail: 'GET api.example.com: 200 as expected',
          figures: {
            'http.latency.p50_ms': 1.1,
            'http.latency.p95_ms': 1.3,
            'http.samples': 3,
            'checks.total': 1,
            'checks.failed': 0,
            'dynos.worker.before': 2,
            'dynos.worker.after': 0,
            peakJobs: 67,
            waitedMs: 18_082,
          },
        }),
      ),
    );
    expect(line).toBe(
      '✅ 02:00 UTC `smoke` succeeded: GET api.example.com: 200 as expected ' +
        '(HTTP p50 1.1 ms, p95 1.3 ms over 3 samples; worker dynos 2 → 0; 1 check, none failed; 67 peak jobs; waited 18s)',
    );
    expect(line).not.toMatch(/latency\.|_ms|samples 3/);
  });

  it('leaves out figures the summary already states', () => {
    const line = shown(
      timelineLine(
        event('step_succeeded', {
          stepId: 'crons',
          detail: 'disabled 6 of 7 sidekiq-cron jobs (1 was already disabled)',
          figures: { total: 7, changed: 6, missing: 0, unchanged: 1 },
        }),
      ),
    );
    expect(line).toBe(
      '✅ 02:00 UTC `crons` succeeded: disabled 6 of 7 sidekiq-cron jobs (1 was already disabled)',
    );
  });

  it('writes a note from a message with its author and time, who added it, and a link to it', () => {
    const written = T0 - 60_000;
    const line = timelineLine(
      event('note', {
        actor: 'U02BOB',
        detail: 'p95 doubled right after the cutover',
        source: { author: 'U01ALICE', at: written, link: 'https://ferry.slack.com/archives/C1/p1' },
      }),
    );
    expect(shown(line)).toBe(
      '📝 02:00 UTC note by <@U01ALICE> (written 01:59 UTC, added by <@U02BOB>): p95 doubled right after the cutover <https://ferry.slack.com/archives/C1/p1|(the message)>',
    );
    // A link that is not an http(s) URL is not made a link.
    const odd = timelineLine(
      event('note', {
        actor: 'U01ALICE',
        detail: 'x',
        source: { author: 'U01ALICE', at: written, link: 'javascript:alert(1)' },
      }),
    );
    expect(shown(odd)).toBe('📝 02:00 UTC note by <@U01ALICE> (written 01:59 UTC): x');
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
    expect(sectionTexts(view.blocks).map(shown)).toEqual([
      '🚀 02:00 UTC run started by <@U01ALICE>\n▶️ 02:00 UTC `flag` started',
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

describe('withEarlierEvents', () => {
  const request = {
    text: 'r12 cutover needs approval: move DNS',
    blocks: [
      { type: 'section' as const, text: { type: 'mrkdwn' as const, text: '✋ *cutover* needs approval' } },
      { type: 'context' as const, elements: [{ type: 'mrkdwn' as const, text: 'Valid until 02:30' }] },
    ],
  };

  it('puts the events before the message, in order, and keeps its notification text', () => {
    const view = withEarlierEvents([event('step_succeeded', { stepId: 'flag' })], request);
    expect(validateBlocks(view.blocks)).toEqual([]);
    expect(view.text).toBe(request.text);
    expect(view.blocks.slice(1)).toEqual(request.blocks);
    expect(shown(sectionTexts(view.blocks)[0]!)).toContain('`flag` succeeded');
    expect(withEarlierEvents([], request)).toBe(request);
  });

  it('stays within Slack’s blocks with a full batch of long lines, dropping none', () => {
    const events = Array.from({ length: 39 }, (_, i) =>
      event('note', { actor: 'U02BOB', detail: `note number ${i} ${'x'.repeat(2_900)}` }),
    );
    const view = withEarlierEvents(events, request);
    expect(validateBlocks(view.blocks)).toEqual([]);
    expect(view.blocks.length).toBeLessThanOrEqual(50);
    const all = sectionTexts(view.blocks).join('\n');
    for (let i = 0; i < 39; i++) expect(all).toContain(`note number ${i} `);
    expect(view.blocks.at(-1)).toEqual(request.blocks.at(-1));
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
