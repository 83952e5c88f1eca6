import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzzRequests, startFuzzTarget, stillAnswers, type FuzzTarget } from '../../drills/fuzz.ts';

// The fuzz drill's signed requests, fewer of them, against Ferry started in-process on a Postgres
// schema of its own with a fake Slack (drills/fuzz.ts): slash commands with any text, clicks with
// any value from any user in any channel, events of every type Slack sends. Each must get a 2xx or
// 4xx within 5 s, leave no unhandled rejection and no error in Ferry's log, and Ferry must still
// answer afterwards. Only the shapes Slack itself sends: the drill adds shapes it never does.

const PG_URL = 'postgres://root@127.0.0.1:5432/test';

describe('fuzzing signed Slack requests to a running Ferry', () => {
  let target: FuzzTarget;

  beforeAll(async () => {
    target = await startFuzzTarget(PG_URL);
  });
  afterAll(() => target?.stop());

  it('answers every command, click and event Slack could send with a 2xx or 4xx, in time, and keeps answering', async () => {
    const outcome = await fuzzRequests(target, {
      numRuns: 20,
      timeLimitMs: 20_000,
      shapes: 'slack',
      batch: 16,
    });
    expect(outcome.findings).toEqual([]);
    // 30 batches of 1 to 16 requests: about 150 in all, a few seconds.
    expect(outcome.cases).toBeGreaterThanOrEqual(30);
    expect(await stillAnswers(target)).toEqual([]);
  });
});
