import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, CHANNEL, readable, startHarness, type Harness } from '../support/ferry-harness.ts';
import { readTimeline } from '../../src/store/runs.ts';
import { listRuns } from '../../src/runs/lookup.ts';

const steps = Array.from(
  { length: 6 },
  (_, i) =>
    `      - { id: flag-${i + 1}, kind: flag, action: on, provider: { type: http, url: "\${MAINT_URL}-${i + 1}", token: "\${MAINT_TOKEN}" } }`,
).join('\n');

const plan = `
service: billing
environments:
  staging:
    steps:
${steps}
`;

describe('the timeline under Slack rate limits', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ plan, rateLimits: true });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('posts every event in order, coalescing replies when Slack answers 429, and drops none', async () => {
    // Slack's limits answer 429 only when posts come faster than about one a second, which a loaded
    // machine may not reach: the first post is answered 429 for sure, and the run's events pile up
    // behind its Retry-After.
    h.slack.failNext('chat.postMessage', { retryAfter: 2 });
    await h.command(ALICE, 'start billing staging');
    await h.waitFor(
      () => h.thread().some((m) => readable(m).includes('run succeeded')),
      'the last event in the thread',
      30_000,
    );

    const [run] = await listRuns(h.ferry.runs);
    const events = await readTimeline(h.ferry.db, run!.id);
    expect(events).toHaveLength(14); // started, 6 × (started, succeeded), succeeded
    const thread = h.thread();
    const lines = thread.map((m) => m.text ?? '').join('\n');
    const expected = [
      'run started',
      ...Array.from({ length: 6 }, (_, i) => [
        `\`flag-${i + 1}\` started`,
        `\`flag-${i + 1}\` succeeded`,
      ]).flat(),
      'run succeeded',
    ];
    const positions = expected.map((line) => lines.indexOf(line));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    // Slack said 429 at least once, and Ferry answered by putting several events in one reply.
    expect(h.slack.calls.some((c) => c.method === 'chat.postMessage' && c.status === 429)).toBe(true);
    expect(thread.length).toBeLessThan(events.length);
    expect(h.slack.messages(CHANNEL).filter((m) => !m.thread_ts || m.thread_ts === m.ts)).toHaveLength(1);
  });
});
