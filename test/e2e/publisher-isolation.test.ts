import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, CHANNEL, readable, startHarness, type Harness } from '../support/ferry-harness.ts';
import { listRuns } from '../../src/runs/lookup.ts';

// A run whose channel Slack refuses must not hold up the runs of other services.
const gone = `
service: billing
channel: C0GONE
environments:
  staging:
    steps:
      - { id: watch, kind: manual, instructions: "Press Done." }
`;
const fine = `
service: payments
environments:
  staging:
    steps:
      - { id: watch, kind: manual, instructions: "Press Done." }
`;

describe('publishing when Slack refuses one run', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ plan: [gone, fine], channels: [CHANNEL] });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('keeps posting other runs while one channel answers channel_not_found', async () => {
    await h.command(ALICE, 'start billing staging');
    await h.waitFor(
      () =>
        h.slack.calls.some(
          (c) =>
            c.method === 'chat.postMessage' &&
            (c.response as { error?: string }).error === 'channel_not_found',
        ),
      'Slack to refuse the billing channel',
    );
    await h.command(ALICE, 'start payments staging');
    const status = await h.waitFor(() => h.statusMessage(), 'the payments status message');
    expect(readable(status)).toContain('payments · staging');
    const runs = await listRuns(h.ferry.runs);
    expect(runs.map((r) => [r.service, r.channel]).sort()).toEqual([
      ['billing', 'C0GONE'],
      ['payments', CHANNEL],
    ]);
  });
});
