import type { ActionsBlock, Button, KnownBlock } from '@slack/types';
import { describe, expect, it } from 'vitest';
import { shownFor } from '../../src/engine/policy.ts';
import { validateBlocks } from '../../src/sandbox/fake-slack.ts';
import { ActionId, buttonValue } from '../../src/slack/action-ids.ts';
import { renderStatusMessage, type StepProgress } from '../../src/slack/views/status-message.ts';
import { runUntil, Scenario, stepSpec } from '../support/engine-fixtures.ts';

// A watch on the status message: its live line while it samples, Looks good to end it early, and,
// once it failed, Roll back first under the one line that says why.

function buttons(blocks: readonly KnownBlock[]): Button[] {
  return blocks
    .filter((b): b is ActionsBlock => b.type === 'actions')
    .flatMap((b) => b.elements)
    .filter((e): e is Button => e.type === 'button');
}

function sections(blocks: readonly KnownBlock[]): string {
  return blocks
    .flatMap((b) => (b.type === 'section' ? [b.text?.text ?? ''] : []))
    .join('\n')
    .replace(/<!date\^\d+\^\{time\}\|([^>]*)>/g, '$1');
}

function watchRun() {
  return Scenario.of({ steps: ['dns', { kind: 'watch', id: 'watch' }, 'flag'], environment: 'staging' });
}

const specs = new Map([['watch', stepSpec('watch', 'watch')]]);

function render(s: Scenario, progress: StepProgress[] = []) {
  const view = renderStatusMessage(s.state, s.now, { progress, specs });
  expect(validateBlocks(view.blocks)).toEqual([]);
  return { read: sections(view.blocks), buttons: buttons(view.blocks) };
}

describe('a running watch on the status message', () => {
  it('shows its live figures on its line, until when it watches, and Looks good bound to this watch', () => {
    const s = runUntil(watchRun(), 'watch');
    const view = render(s, [
      {
        stepId: 'watch',
        text: '12 samples, error rate 0%, p95 85ms, no breaches, 7m left',
        fraction: 0.3,
      },
    ]);
    expect(view.read).toContain('⏳ `watch`  12 samples, error rate 0%, p95 85ms, no breaches, 7m left');
    // The plan's watch observes for 10 minutes from its start (02:00 UTC).
    expect(view.read).toContain(
      '👀 *watch* watches until 02:10 UTC; press *Looks good* to end it early and go on.',
    );
    const looksGood = view.buttons.find((b) => b.action_id === ActionId.looksGood);
    expect(looksGood).toMatchObject({
      text: { text: 'Looks good' },
      style: 'primary',
      value: buttonValue('r12', 'watch', shownFor(s.step('watch'), 'done')),
    });
    expect(view.buttons.map((b) => b.text.text)).toEqual(['Looks good', 'Roll back', 'Abort', 'Add note']);
  });

  it('offers no Looks good once the watch has ended', () => {
    const s = runUntil(watchRun(), 'watch');
    s.succeed('watch', '41 samples over 10m: error rate 0%; no breaches');
    const view = render(s);
    expect(view.buttons.map((b) => b.action_id)).not.toContain(ActionId.looksGood);
    expect(view.read).toContain('✅ `watch`');
    expect(view.read).toContain('41 samples over 10m: error rate 0%; no breaches');
  });
});

describe('a watch that failed', () => {
  const error =
    'error rate 4.2% > 1% in 3 of the last 4 samples (latest: GET https://billing.new.example.com/healthz: answered 503, expected 200)\n' +
    '12 samples over 3m: error rate 4.2%, p95 85ms; 4 breaches (3 tolerated)';

  it('puts Roll back first, under the one line that says why', () => {
    const s = runUntil(watchRun(), 'watch');
    s.tick(180_000).fail('watch', error);
    const view = render(s);
    const failed = view.buttons.slice(0, 4).map((b) => b.text.text);
    expect(failed).toEqual(['Roll back', 'Retry', 'Skip', 'Abort']);
    expect(view.buttons[0]).toMatchObject({ action_id: ActionId.rollback, style: 'danger' });
    // Retry is not the suggested answer to a watch that saw trouble.
    expect(view.buttons[1]!.style).toBeUndefined();
    expect(view.read).toContain(
      '❌ *watch* failed: error rate 4.2% &gt; 1% in 3 of the last 4 samples (latest: GET billing.new.example.com',
    );
    expect(view.read).toContain('Press *Roll back* to undo what went through, *Retry* to watch again');
    // The figures are in the thread; the status message keeps to the one line.
    expect(view.read).not.toContain('4 breaches (3 tolerated)');
  });

  it('leaves the order of other failures as it was: Retry first', () => {
    const s = runUntil(watchRun(), 'dns');
    s.fail('dns', 'Route 53 said no');
    const view = render(s);
    expect(view.buttons.slice(0, 4).map((b) => b.text.text)).toEqual(['Retry', 'Skip', 'Roll back', 'Abort']);
    expect(view.read).not.toContain('watch again');
  });
});
